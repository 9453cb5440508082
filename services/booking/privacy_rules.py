"""Data-protection rules with no I/O (docs/privacy.md): who a request is about, how that person is named where
their email may not be kept, how long their health answers are kept, and what stops an erasure.

- A customer is their email at one clinic, trimmed and case-insensitive.
- The audit log and a restricted health record name them by a SUBJECT KEY: HMAC-SHA256 of
  `"<clinic id>:<email>"` under a key derived from the booking service's health data key, with a purpose of its
  own (as shared/sealing.py derives each Fernet key), so neither the database nor a dump can turn it back into an
  address, and one clinic's key for a person says nothing at another.
- People see a MASKED email: `j***@example.com`.
- Health answers are clinical records: the NHS Records Management Code keeps an adult's for 8 years after the
  last visit, and a child's until their 25th birthday, or their 26th if they were 17 at the last visit. A birth
  date not given counts as an adult's (the customer is asked for it, optionally, when booking)."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import uuid
from datetime import date, datetime
from typing import Any

from services.booking.domain import BookingError

SUBJECT_KEY_PURPOSE = "privacy-subject"
ADULT_RETENTION_YEARS = 8
ADULT_AGE = 18
# A child's answers are kept until this birthday, or the next if they were LATE_CHILD_AGE at the last visit.
CHILD_KEPT_TO_AGE = 25
LATE_CHILD_AGE = 17
# The oldest date of birth taken: nobody booking is older.
MAX_AGE_YEARS = 120
MAX_EMAIL_LENGTH = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# What an erasure refuses while in progress (the other services name theirs the same way).
UPCOMING_BOOKINGS = "customer_has_upcoming_bookings"
VOUCHERS_IN_PROGRESS = "customer_has_vouchers_in_progress"


# --- who -----------------------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def valid_email(email: str) -> str:
    """The email a request names, normalised; 422 `invalid_email` for anything that is not one."""
    normal = normalise_email(email)
    if len(normal) > MAX_EMAIL_LENGTH or _EMAIL.fullmatch(normal) is None:
        raise BookingError(422, "invalid_email", "Give the customer's email address, like jo@example.com")
    return normal


def mask_email(email: str) -> str:
    """`jo.bloggs@example.com` → `j***@example.com`: enough for the clinic to recognise, not to write to."""
    local, at, domain = normalise_email(email).partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def subject_key(secret: str, clinic_id: uuid.UUID, email: str) -> bytes:
    """The customer's keyed hash at this clinic (32 bytes): the same for any spelling of the same address."""
    key = hashlib.sha256(f"{SUBJECT_KEY_PURPOSE}:{secret}".encode()).digest()
    return hmac.new(key, f"{clinic_id}:{normalise_email(email)}".encode(), hashlib.sha256).digest()


# --- dates of birth ------------------------------------------------------------------------------


def anniversary(day: date, years: int) -> date:
    """`day` moved on by whole years. 29 February becomes 1 March in a year without one: in UK law a person
    born on 29 February comes of an age on 1 March in common years; and a period counted from it ends no earlier."""
    year = day.year + years
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return day.replace(year=year)


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on `day` (birthdays on 29 February counted as `anniversary` counts them)."""
    years = day.year - birth_date.year
    return years if anniversary(birth_date, years) <= day else years - 1


def date_of_birth(text: str, today: date) -> date:
    """A customer's date of birth as sent ("YYYY-MM-DD"): a real day, in the past, at most MAX_AGE_YEARS ago;
    else 422 `invalid_date_of_birth`."""
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) is None:
            raise ValueError(text)
        born = date.fromisoformat(text)
    except ValueError:
        raise _invalid_birth_date("must be a date like 1990-04-23") from None
    if born >= today:
        raise _invalid_birth_date("must be in the past")
    if born < anniversary(today, -MAX_AGE_YEARS):
        raise _invalid_birth_date(f"must be less than {MAX_AGE_YEARS} years ago")
    return born


def _invalid_birth_date(problem: str) -> BookingError:
    return BookingError(
        422,
        "invalid_date_of_birth",
        f"The date of birth {problem}",
        {"field": "customer.date_of_birth", "message": problem, "type": "invalid_date_of_birth"},
    )


# --- how long health answers are kept ------------------------------------------------------------


def health_retain_until(anchor: date, birth_date: date | None) -> date:
    """The last day a customer's health answers are kept, from `anchor` (their last visit at the clinic, or the
    day they answered if they never came): 8 years for an adult (or a birth date not given); for a child (under
    18 at the anchor) until their 25th birthday, or their 26th if they were 17 then."""
    if birth_date is None or birth_date > anchor or age_on(birth_date, anchor) >= ADULT_AGE:
        return anniversary(anchor, ADULT_RETENTION_YEARS)
    late = age_on(birth_date, anchor) == LATE_CHILD_AGE
    return anniversary(birth_date, CHILD_KEPT_TO_AGE + (1 if late else 0))


def retention_anchor(answered_on: date, last_visit: date | None) -> date:
    """What the retention date counts from: the last visit, or the day the answers were given if later (answers
    given for a visit that never happened are still a clinical record of that day) or if there was no visit."""
    return answered_on if last_visit is None else max(last_visit, answered_on)


# --- what stops an erasure -----------------------------------------------------------------------


def upcoming_bookings_blocker(upcoming: list[tuple[uuid.UUID, datetime]]) -> dict[str, Any] | None:
    """The blocker for bookings still to come (held, awaiting payment or confirmed, ending in the future), if any:
    the visit needs the customer's details. `upcoming`: each booking's id and start."""
    if not upcoming:
        return None
    count = len(upcoming)
    them = "them" if count != 1 else "it"
    return {
        "code": UPCOMING_BOOKINGS,
        "message": (
            f"This customer has {count} booking{'s' if count != 1 else ''} still to come. Cancel {them}, or wait "
            f"until after the visit{'s' if count != 1 else ''}, before erasing their data."
        ),
        "details": {
            "bookings": [
                {"id": str(booking_id), "start": start.isoformat()}
                for booking_id, start in sorted(upcoming, key=lambda b: b[1])
            ]
        },
    }


def merge_counts(*parts: dict[str, int]) -> dict[str, int]:
    """Counts by kind from several services, added up where two name the same kind."""
    merged: dict[str, int] = {}
    for part in parts:
        for kind, count in part.items():
            merged[kind] = merged.get(kind, 0) + int(count)
    return merged
