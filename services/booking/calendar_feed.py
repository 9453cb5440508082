"""A therapist's calendar feed (pure: no I/O, no clock): a secret `.ics` subscription URL that calendar apps poll.

The URL's token is its only credential: 256 random bits, shown once when made, kept only as a SHA-256 digest
(a random token needs no salt or slow hash), and looked up by that digest, so a wrong, revoked or malformed
token costs the same one indexed lookup and gets the same 404. Making a new one replaces, and so revokes, the
therapist's earlier one.

What the feed shows: the therapist's appointments from 30 days back to the clinic's booking horizon ahead (whole
days in the clinic's zone, so the window moves once a day). Confirmed bookings, and those whose visit happened
(completed) or was missed (no-show): the time was the customer's. Left out:
- bookings awaiting payment: paid within minutes (then shown at the next poll) or lapsed; a tentative entry
  would come and go in the therapist's calendar;
- cancelled bookings: simply gone. A subscribed calendar mirrors the feed, so the entry disappears at the next
  poll; an entry kept with STATUS:CANCELLED is shown as a normal appointment by some apps (Google Calendar).
Each entry: the treatment and the customer's initials ("Deep tissue massage (60 min) — A. L."), never their
name, email, phone, notes or screening. One entry per booking for its whole life (a stable UID); a move makes a
new revision (a higher SEQUENCE, a later DTSTAMP and LAST-MODIFIED), so apps update the entry they have."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Sequence
from zoneinfo import ZoneInfo

from shared import ics

# 32 bytes: 256 bits of randomness (at least 128 are needed against guessing), 43 URL-safe characters.
TOKEN_BYTES = 32
# The feed's window: this many days back; ahead, the clinic's booking horizon (nothing is booked beyond it).
DAYS_BACK = 30
# Shown statuses: the booking took the therapist's time (see the module's docstring for what is left out).
SHOWN_STATUSES = ("confirmed", "completed", "no_show")
# How often calendar apps are asked to poll (RFC 7986 REFRESH-INTERVAL); most poll on their own schedule.
REFRESH_INTERVAL = timedelta(minutes=15)
# How long a client may reuse an answer without asking again (Cache-Control max-age, seconds).
MAX_AGE_SECONDS = 300
# last_polled_at is written at most this often: a busy feed costs no write per poll.
POLL_STAMP_EVERY = timedelta(minutes=1)
# What separates the treatment from the initials in an entry's summary.
DASH = "\u2014"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> bytes:
    """What is stored and looked up. Any text has one (a malformed token is simply one nobody has); a token
    with lone surrogates (undecodable path bytes) is digested as its escaped form."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def initials(name: str | None) -> str:
    """'Ada Lovelace' → 'A. L.': the first letter of the first and of the last word that has one, upper case
    (middle names left out: two letters say enough). '' when the name has no letter at all."""
    letters = [next(c for c in word if c.isalpha()) for word in (name or "").split() if any(c.isalpha() for c in word)]
    if not letters:
        return ""
    kept = letters if len(letters) == 1 else [letters[0], letters[-1]]
    return " ".join(f"{letter.upper()}." for letter in kept)


def summary(treatment_name: str, customer_name: str | None) -> str:
    who = initials(customer_name)
    return f"{treatment_name} {DASH} {who}" if who else treatment_name


def uid_for(booking_id: uuid.UUID) -> str:
    """Not the customer's invite's UID (ics.uid_for): a calendar holding both, say a therapist booked as a
    customer, keeps the two views apart."""
    return f"therapist-booking-{booking_id}@{ics.UID_DOMAIN}"


@dataclass(frozen=True)
class Window:
    """The feed's days in the clinic's zone (`first` to `last`, both included) and the instants they span."""

    first: date
    last: date
    start: datetime
    end: datetime


def window(now: datetime, zone: ZoneInfo, horizon_days: int) -> Window:
    today = now.astimezone(zone).date()
    first, last = today - timedelta(days=DAYS_BACK), today + timedelta(days=horizon_days)
    return Window(
        first,
        last,
        datetime.combine(first, time(0), tzinfo=zone),
        datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone),
    )


@dataclass(frozen=True)
class FeedBooking:
    """A shown booking as the store reads it: what the entry needs and nothing more (no contact details)."""

    id: uuid.UUID
    start: datetime
    end: datetime
    treatment_name: str
    customer_name: str | None
    changed_at: datetime  # its last revision: made, confirmed, moved, or its status changed
    moves: int  # how often it was rescheduled: its entry's SEQUENCE (one a move, however close together)


def entry(booking: FeedBooking) -> ics.FeedEntry:
    return ics.FeedEntry(
        uid=uid_for(booking.id),
        start=booking.start,
        end=booking.end,
        changed_at=booking.changed_at,
        sequence=booking.moves,
        summary=summary(booking.treatment_name, booking.customer_name),
    )


def calendar(
    therapist_name: str, clinic_name: str, zone: ZoneInfo, days: Window, bookings: Sequence[FeedBooking]
) -> bytes:
    """The feed's body: the same bookings give the same bytes (so the same ETag)."""
    ordered = sorted(bookings, key=lambda b: (b.start, str(b.id)))
    return ics.subscription(
        f"{therapist_name} {DASH} {clinic_name}",
        zone,
        days.first,
        days.last,
        [entry(b) for b in ordered],
        REFRESH_INTERVAL,
    ).encode()


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def not_modified(if_none_match: str | None, current: str) -> bool:
    """Does the client's If-None-Match name the current ETag? Weak comparison, as RFC 9110 §13.1.2 says."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return current in (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))


def should_stamp(last_polled_at: datetime | None, now: datetime) -> bool:
    return last_polled_at is None or now - last_polled_at >= POLL_STAMP_EVERY
