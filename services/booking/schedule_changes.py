"""Use cases of therapists' schedules as the clinic edits them: read and replace the week's hours and breaks,
read, add and remove time off. Each change is one transaction on a pool connection of its own: take the
therapist's row (schedules_store.lock_for_change), find the live reservations it would leave outside working
time, refuse (InTheWay) unless the caller confirms they will move them, and write.

Why the row lock: the exclusion constraint keeps reservations apart from each other, not from a schedule. A
hold judges the therapist's hours and time off, then writes; a change committed in between would leave it in
time the therapist no longer works. So every write that makes or moves a reservation takes the same row FOR
SHARE before judging (service.hold_course, service.reschedule, service._place_holds), or, the one-statement
hold, writes only if the row still has the version it judged by (store.INSERT_HOLD_ANNOUNCED_SQL): whichever
comes second sees the other's work.

Holds: a live hold in the way is not a booking to move (nobody has given their details; it lasts minutes), so it
does not block the change: it is released in the change's transaction, announced `booking.released` as when
its customer lets it go (payments treats that as an expiry), and its customer is told to choose again when
they go on. A hold that became a booking meanwhile is judged as a booking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Sequence

import asyncpg

from services.booking import schedules_store, store
from services.booking.availability import Interval, WeeklyTime
from services.booking.domain import BookingError
from services.booking.schedules import Reserved, inside, outside_hours
from services.booking.schedules_store import TimeOff, Week
from shared.db import Connection, retry_conflicts
from shared.outbox import add_event


class InTheWay(Exception):
    """Bookings the change would leave outside the therapist's working time, and the clinic's zone."""

    def __init__(self, timezone: str, bookings: list[Reserved]):
        super().__init__(f"{len(bookings)} bookings in the way")
        self.timezone = timezone
        self.bookings = bookings


def therapist_not_found() -> BookingError:
    return BookingError(404, "therapist_not_found", "This clinic has no such therapist")


def _found(found: str | None) -> str:
    if found is None:
        raise therapist_not_found()
    return found


async def _clear_the_way(
    conn: Connection,
    therapist_id: uuid.UUID,
    timezone: str,
    judge: Callable[[Sequence[Reserved]], list[Reserved]],
    now: datetime,
    within: Interval | None,
    *,
    confirm: bool,
) -> None:
    """Under the therapist's row lock: refuse the change if `judge` finds bookings in its way (unless
    `confirm`); release the holds it finds."""
    in_the_way = judge(await schedules_store.future_reservations(conn, therapist_id, now, within))
    bookings = [r for r in in_the_way if not r.is_hold]
    if bookings and not confirm:
        raise InTheWay(timezone, bookings)
    holds = [r for r in in_the_way if r.is_hold]
    if not holds:
        return
    for hold_or_series in dict.fromkeys(r.series_id or r.id for r in holds):  # a course's sessions go together
        for lapsed in await store.release_holds(conn, hold_or_series):
            await add_event(conn, lapsed.event)
    # A hold whose customer gave their details between the read and the release is a booking now (the release
    # waited for that transaction, and this statement sees it): judged as one.
    again = judge(await schedules_store.future_reservations(conn, therapist_id, now, within))
    bookings = [r for r in again if not r.is_hold]
    if bookings and not confirm:
        raise InTheWay(timezone, bookings)


# --- the week ------------------------------------------------------------------------------------


async def week(pool: asyncpg.Pool, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> Week:
    async with pool.acquire() as conn:
        found = await schedules_store.week(conn, clinic_id, therapist_id)
    if found is None:
        raise therapist_not_found()
    return found


def _in_order(items: list[WeeklyTime]) -> list[WeeklyTime]:
    return sorted(items, key=lambda i: (i.weekday, i.start, i.end))


@retry_conflicts
async def replace_week(
    pool: asyncpg.Pool,
    clinic_id: uuid.UUID,
    therapist_id: uuid.UUID,
    hours: list[WeeklyTime],
    breaks: list[WeeklyTime],
    now: datetime,
    *,
    confirm: bool,
) -> Week:
    """The therapist's week becomes these hours and breaks (checked by schedules.week_problems), unless that
    leaves bookings that have not started outside their working time (InTheWay), or the caller confirms."""
    async with pool.acquire() as conn, conn.transaction():
        timezone = _found(await schedules_store.lock_for_change(conn, clinic_id, therapist_id))

        def judge(reserved: Sequence[Reserved]) -> list[Reserved]:
            return outside_hours(reserved, therapist_id, hours, breaks, timezone)

        await _clear_the_way(conn, therapist_id, timezone, judge, now, None, confirm=confirm)
        await schedules_store.replace_week(conn, therapist_id, hours, breaks)
    return Week(timezone, _in_order(hours), _in_order(breaks))


# --- time off ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeOffList:
    timezone: str
    time_off: list[TimeOff]


async def time_off(pool: asyncpg.Pool, clinic_id: uuid.UUID, therapist_id: uuid.UUID, now: datetime) -> TimeOffList:
    async with pool.acquire() as conn:
        found = await schedules_store.time_off(conn, clinic_id, therapist_id, now)
    if found is None:
        raise therapist_not_found()
    return TimeOffList(*found)


@retry_conflicts
async def add_time_off(
    pool: asyncpg.Pool,
    clinic_id: uuid.UUID,
    therapist_id: uuid.UUID,
    period: Interval,
    reason: str,
    now: datetime,
    *,
    confirm: bool,
) -> tuple[str, TimeOff]:
    """Time off (checked by schedules.time_off_problems), unless bookings that have not started are in it
    (InTheWay), or the caller confirms. The clinic's zone, and the time off added."""
    async with pool.acquire() as conn, conn.transaction():
        timezone = _found(await schedules_store.lock_for_change(conn, clinic_id, therapist_id))

        def judge(reserved: Sequence[Reserved]) -> list[Reserved]:
            return inside(reserved, period)

        await _clear_the_way(conn, therapist_id, timezone, judge, now, period, confirm=confirm)
        return timezone, await schedules_store.add_time_off(conn, therapist_id, period, reason)


async def remove_time_off(pool: asyncpg.Pool, clinic_id: uuid.UUID, therapist_id: uuid.UUID, time_off_id: int) -> None:
    """Time off taken back gives time back: nothing can be in its way, and no reservation needs to wait."""
    async with pool.acquire() as conn:
        if not await schedules_store.delete_time_off(conn, clinic_id, therapist_id, time_off_id):
            raise BookingError(404, "time_off_not_found", "This therapist has no such time off")
