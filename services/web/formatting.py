"""How the pages say money and time (pure). Always the clinic's wall time with its zone named, since a
customer may be reading in another zone; money from minor units."""
from __future__ import annotations

from datetime import date, datetime, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from shared.clinic_time import zone_name
from shared.money import money, voucher_paid  # noqa: F401  (the pages' money words are the emails')

# "00:00" .. "23:59" by minute of the day: strftime costs ~1.7 us a call, and a week's page says each of its
# hundred-odd times twice (the button and its label).
CLOCKS = tuple(f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in range(60))


def zone_label(instant: datetime, zone: ZoneInfo) -> str:
    """'UK time, GMT' (or BST in summer); another zone: its name and abbreviation."""
    return f"{zone_name(zone)}, {instant.astimezone(zone).tzname()}"


def clock(instant: datetime, zone: ZoneInfo) -> str:
    """'10:30' in the clinic's zone."""
    local = instant.astimezone(zone)
    return CLOCKS[local.hour * 60 + local.minute]


def day_label(day: date) -> str:
    """'Tuesday 15 December 2026'."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def when(instant: datetime, zone: ZoneInfo, day: str | None = None) -> str:
    """'Tuesday 15 December 2026, 10:30 (UK time, GMT)'; `day`: that day's label, if the caller has it
    (a week of times says each day's once)."""
    local = instant.astimezone(zone)
    return f"{day or day_label(local.date())}, {clock(local, zone)} ({zone_label(local, zone)})"


def minutes(total: int) -> str:
    """'60 minutes': how clinics state a treatment's length."""
    return f"{total} minutes"


def google_calendar_url(title: str, start: datetime, end: datetime, location: str, details: str) -> str:
    """An "add to Google Calendar" link for one appointment (Google's documented event template URL)."""
    def stamp(moment: datetime) -> str:
        return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    query = urlencode({"action": "TEMPLATE", "text": title, "dates": f"{stamp(start)}/{stamp(end)}",
                       "location": location, "details": details})
    return f"https://calendar.google.com/calendar/render?{query}"


def wait(seconds: int | None) -> str:
    """How long until a limited client may try again, in words: 'in 15 minutes'."""
    if seconds is None:
        return "in a few minutes"
    if seconds < 60:
        return "in less than a minute" if seconds <= 1 else f"in {seconds} seconds"
    minutes_left = -(-seconds // 60)
    return "in 1 minute" if minutes_left == 1 else f"in {minutes_left} minutes"
