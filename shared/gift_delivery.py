"""When a gift voucher's email goes, and how we say so (pure). It goes on its delivery day at the clinic's
delivery hour, in the clinic's zone; a gift for today bought after that hour goes at once. The voucher pages
and the buyer's receipt both say it with these words, so they never disagree with what is sent."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from shared.clinic_time import zone_name

DELIVERY_LOCAL_TIME = time(8, 0)


def due_at(deliver_on: date, zone: ZoneInfo) -> datetime:
    """The moment the gift email is due: the delivery day's morning in the clinic's zone."""
    return datetime.combine(deliver_on, DELIVERY_LOCAL_TIME, tzinfo=zone)


def goes_at_once(deliver_on: date, zone: ZoneInfo, bought_at: datetime) -> bool:
    return due_at(deliver_on, zone) <= bought_at


def in_words(recipient: str, deliver_on: date, zone: ZoneInfo, bought_at: datetime) -> str:
    """'will be emailed to Sam at 08:00 on Friday 4 December (UK time)', or 'straight away' once that
    hour has passed on the day it was bought for."""
    if goes_at_once(deliver_on, zone, bought_at):
        return f"will be emailed to {recipient} straight away"
    day = f"{deliver_on:%A} {deliver_on.day} {deliver_on:%B}"
    if deliver_on.year != bought_at.astimezone(zone).year:
        day += f" {deliver_on.year}"
    return f"will be emailed to {recipient} at {DELIVERY_LOCAL_TIME:%H:%M} on {day} ({zone_name(zone)})"
