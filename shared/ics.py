"""Calendar invites (iTIP, RFC 5546) for bookings, built with icalendar. Pure: no I/O. The emails carry
REQUEST and CANCEL invites (notifications); the confirmation page offers the same entry as a file (web).

One booking is one calendar entry for its whole life: the UID is derived from the booking id alone, and
every later message about it (moved: REQUEST, cancelled: CANCEL) carries a higher SEQUENCE, so the
customer's calendar updates or removes the entry it already has instead of adding another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Sequence
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress, vDuration, vText

PRODID = "-//Clinic booking//Notifications//EN"
# Not derived from MAIL_FROM: a UID must not change when the sender address does.
UID_DOMAIN = "clinic-booking"
# SEQUENCE starts from the number of seconds from this moment to the change the message announces, so it
# grows with every change whatever order the messages are handled in (the booking projection bumps it
# further for two changes in one second); it fits RFC 5545's 32-bit INTEGER until 2092.
SEQUENCE_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Invite:
    booking_id: str
    start: datetime
    end: datetime
    changed_at: datetime  # when the booking was confirmed, moved or cancelled (the event's time)
    sequence: int  # higher than that of any earlier invite for the booking
    summary: str
    location: str
    description: str
    organizer_name: str
    organizer_email: str
    attendee_name: str
    attendee_email: str
    url: str | None = None


def uid_for(booking_id: str) -> str:
    return f"booking-{booking_id}@{UID_DOMAIN}"


def sequence_for(changed_at: datetime) -> int:
    return max(0, int((changed_at - SEQUENCE_EPOCH).total_seconds()))


def _address(email: str, name: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["cn"] = vText(name)
    for key, value in params.items():
        address.params[key.replace("_", "-")] = value
    return address


def _calendar(method: str, invite: Invite, status: str) -> str:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    event = Event()
    event.add("uid", uid_for(invite.booking_id))
    event.add("sequence", invite.sequence)
    event.add("dtstamp", invite.changed_at.astimezone(timezone.utc))
    # UTC: unambiguous on DST days, and no VTIMEZONE to ship; calendars show it in the reader's zone.
    event.add("dtstart", invite.start.astimezone(timezone.utc))
    event.add("dtend", invite.end.astimezone(timezone.utc))
    event.add("summary", invite.summary)
    event.add("location", invite.location)
    event.add("description", invite.description)
    event.add("status", status)
    event.add("transp", "OPAQUE")
    if invite.url:
        event.add("url", invite.url)
    if invite.organizer_email:  # a clinic may publish no email address
        event.add("organizer", _address(invite.organizer_email, invite.organizer_name))
    event.add(
        "attendee",
        _address(
            invite.attendee_email, invite.attendee_name, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp="FALSE"
        ),
    )
    cal.add_component(event)
    ical: bytes = cal.to_ical()  # icalendar leaves to_ical unannotated
    return ical.decode()


def request(invite: Invite) -> str:
    """A new or updated entry (confirmation, reschedule)."""
    return _calendar("REQUEST", invite, "CONFIRMED")


def publish(invite: Invite) -> str:
    """The entry as a file to download and open (no reply expected): the same UID as the emails' invites,
    so a later invite by email updates the entry this file made."""
    return _calendar("PUBLISH", invite, "CONFIRMED")


def cancel(invite: Invite) -> str:
    """Removes the entry: same UID, higher SEQUENCE."""
    return _calendar("CANCEL", invite, "CANCELLED")


# --- a subscription calendar (a therapist's feed, services/booking/calendar_feed.py) ---------------

FEED_PRODID = "-//Clinic booking//Calendar feed//EN"


@dataclass(frozen=True)
class FeedEntry:
    uid: str
    start: datetime
    end: datetime
    changed_at: datetime  # the entry's last revision: its DTSTAMP and LAST-MODIFIED
    sequence: int  # grows with every change of its time (a move), the "significant" changes of RFC 5545 §3.8.7.4
    summary: str


def subscription(
    name: str, zone: ZoneInfo, first_day: date, last_day: date, entries: Sequence[FeedEntry], refresh: timedelta
) -> str:
    """A calendar that apps subscribe to and poll (RFC 5545, with RFC 7986's NAME and REFRESH-INTERVAL).

    No METHOD: it is not a message (iTIP) but the calendar itself, and then DTSTAMP is when the entry was last
    revised (RFC 5545 §3.8.7.2), not when the file was made, so the same entries give the same bytes (and
    ETag) at every poll. Times in UTC as in the invites; the clinic's zone is named (X-WR-TIMEZONE) and
    described for the days covered (VTIMEZONE), which also keeps a calendar without entries valid: RFC 5545
    wants at least one component."""
    cal = Calendar()
    cal.add("prodid", FEED_PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", zone.key)
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))  # the older name Outlook and Apple read
    until = last_day + timedelta(days=1)  # to the end of the last day
    cal.add_component(Timezone.from_tzinfo(zone, zone.key, first_date=first_day, last_date=until))
    for item in entries:
        event = Event()
        changed = item.changed_at.astimezone(timezone.utc)
        event.add("uid", item.uid)
        event.add("sequence", item.sequence)
        event.add("dtstamp", changed)
        event.add("last-modified", changed)
        event.add("dtstart", item.start.astimezone(timezone.utc))
        event.add("dtend", item.end.astimezone(timezone.utc))
        event.add("summary", item.summary)
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        event.add("class", "PRIVATE")  # a calendar shared with others shows them "busy", not the entry
        cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical.decode()
