"""How the pages say money and time (pure). Always the clinic's wall time with its zone named, since a
customer may be reading in another zone; money from minor units."""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from shared.clinic_time import zone_name
from shared.money import deposit_paid, money, voucher_paid  # noqa: F401  (the pages' money words are the emails')

# "00:00" .. "23:59" by minute of the day: strftime costs ~1.7 us a call, and a week's page says a hundred-odd.
CLOCKS = tuple(f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in range(60))
NOON = time(12)


def zone_label(instant: datetime, zone: ZoneInfo) -> str:
    """'UK time, GMT' (or BST in summer); another zone: its name and abbreviation."""
    return f"{zone_name(zone)}, {instant.astimezone(zone).tzname()}"


def clock(instant: datetime, zone: ZoneInfo) -> str:
    """'10:30' in the clinic's zone."""
    return wall_clock(instant.astimezone(zone))


def wall_clock(local: datetime) -> str:
    """'10:30' of a time already in the clinic's zone."""
    return CLOCKS[local.hour * 60 + local.minute]


def day_label(day: date) -> str:
    """'Tuesday 15 December 2026'."""
    return f"{day:%A} {day.day} {day:%B %Y}"


@functools.lru_cache(maxsize=1024)
def day_heading(day: date, zone: ZoneInfo) -> str:
    """'Sunday 28 March 2027 (UK time, BST)': named by the zone's time at noon, since a day may start in GMT
    and end in BST. Kept: every week page has seven (~5 us each)."""
    return f"{day_label(day)} ({zone_label(datetime.combine(day, NOON, zone), zone)})"


def when(instant: datetime, zone: ZoneInfo) -> str:
    """'Tuesday 15 December 2026, 10:30 (UK time, GMT)'."""
    local = instant.astimezone(zone)
    return f"{day_label(local.date())}, {wall_clock(local)} ({zone_label(local, zone)})"


def minutes(total: int) -> str:
    """'60 minutes': how clinics state a treatment's length."""
    return f"{total} minutes"


def google_calendar_url(title: str, start: datetime, end: datetime, location: str, details: str) -> str:
    """An "add to Google Calendar" link for one appointment (Google's documented event template URL)."""

    def stamp(moment: datetime) -> str:
        return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    query = urlencode(
        {
            "action": "TEMPLATE",
            "text": title,
            "dates": f"{stamp(start)}/{stamp(end)}",
            "location": location,
            "details": details,
        }
    )
    return f"https://calendar.google.com/calendar/render?{query}"


def wait(seconds: int | None) -> str:
    """How long until a limited client may try again, in words: 'in 15 minutes'."""
    if seconds is None:
        return "in a few minutes"
    if seconds < 60:
        return "in less than a minute" if seconds <= 1 else f"in {seconds} seconds"
    minutes_left = -(-seconds // 60)
    return "in 1 minute" if minutes_left == 1 else f"in {minutes_left} minutes"
