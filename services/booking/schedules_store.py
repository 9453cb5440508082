"""The SQL of therapists' schedules as the clinic edits them: the week's hours and breaks, time off, and the
live reservations a change could leave outside working time. services/booking/schedule_changes.py runs the
writes in its transactions; every query is scoped by the clinic, so another clinic's therapist is not found."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg import Range

from services.booking import store
from services.booking.availability import Interval, WeeklyTime
from services.booking.schedules import Reserved
from shared.db import Connection

# The therapist's clinic's zone and their week, in one round trip; no row if the therapist is not the clinic's.
WEEK_SQL = """
SELECT c.timezone,
       ARRAY(SELECT ROW(h.weekday, h.starts, h.ends) FROM working_hours h
             WHERE h.therapist_id = t.id ORDER BY h.weekday, h.starts, h.ends) AS hours,
       ARRAY(SELECT ROW(b.weekday, b.starts, b.ends) FROM breaks b
             WHERE b.therapist_id = t.id ORDER BY b.weekday, b.starts, b.ends) AS breaks
FROM therapists t JOIN clinics c ON c.id = t.clinic_id
WHERE t.clinic_id = $1 AND t.id = $2"""


@dataclass(frozen=True)
class Week:
    timezone: str  # the clinic's: the wall times are its
    hours: list[WeeklyTime]
    breaks: list[WeeklyTime]


async def week(conn: Connection, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> Week | None:
    row = await conn.fetchrow(WEEK_SQL, clinic_id, therapist_id)
    if row is None:
        return None
    return Week(row["timezone"], [WeeklyTime(*r) for r in row["hours"]], [WeeklyTime(*r) for r in row["breaks"]])


async def lock_for_change(conn: Connection, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> str | None:
    """In the caller's transaction, first: take the therapist's row and bump their schedule version (migration
    0013), so that no reservation is made or moved into their time until the transaction ends, and one judged
    by the schedule before is refused (store.lock_schedule, store.INSERT_HOLD_ANNOUNCED_SQL). The clinic's
    zone; None if the therapist is not the clinic's."""
    return await conn.fetchval(
        """UPDATE therapists t SET schedule_version = t.schedule_version + 1
           WHERE t.clinic_id = $1 AND t.id = $2
           RETURNING (SELECT c.timezone FROM clinics c WHERE c.id = t.clinic_id)""",
        clinic_id,
        therapist_id,
    )


# The therapist's live reservations (store.LIVE: confirmed, or held or awaiting payment and not run out) whose
# blocked time overlaps $2 and which start after $3, with what the clinic recognises them by. Served by the
# exclusion constraint's GiST index on (therapist_id, blocked).
RESERVED_SQL = f"""
SELECT b.id, b.status, b.starts_at, b.ends_at, lower(b.blocked) AS blocked_from, upper(b.blocked) AS blocked_to,
       t.name AS treatment, b.customer_name, b.series_id
FROM bookings b JOIN treatments t ON t.id = b.treatment_id
WHERE b.therapist_id = $1 AND b.blocked && $2 AND b.starts_at > $3 AND {store.LIVE}
ORDER BY b.starts_at, b.id"""


async def future_reservations(
    conn: Connection, therapist_id: uuid.UUID, now: datetime, within: Interval | None = None
) -> list[Reserved]:
    """Live reservations starting after `now` (and overlapping `within`, if given)."""
    span = Range(now, None) if within is None else Range(within.start, within.end, lower_inc=True, upper_inc=False)
    return [
        Reserved(
            id=r["id"],
            status=r["status"],
            start=r["starts_at"],
            end=r["ends_at"],
            blocked=Interval(r["blocked_from"], r["blocked_to"]),
            treatment=r["treatment"],
            customer_name=r["customer_name"],
            series_id=r["series_id"],
        )
        for r in await conn.fetch(RESERVED_SQL, therapist_id, span, now)
    ]


async def replace_week(
    conn: Connection, therapist_id: uuid.UUID, hours: list[WeeklyTime], breaks: list[WeeklyTime]
) -> None:
    """The therapist's hours and breaks become these (in the caller's transaction)."""
    for table, items in (("working_hours", hours), ("breaks", breaks)):
        await conn.execute(f"DELETE FROM {table} WHERE therapist_id = $1", therapist_id)
        await conn.execute(
            f"""INSERT INTO {table} (therapist_id, weekday, starts, ends)
                SELECT $1, * FROM unnest($2::smallint[], $3::time[], $4::time[])""",
            therapist_id,
            [i.weekday for i in items],
            [i.start for i in items],
            [i.end for i in items],
        )


@dataclass(frozen=True)
class TimeOff:
    id: int
    start: datetime
    end: datetime
    reason: str


TIME_OFF_COLUMNS = "o.id, lower(o.period) AS starts, upper(o.period) AS ends, o.reason"


def _time_off(row: asyncpg.Record) -> TimeOff:
    return TimeOff(row["id"], row["starts"], row["ends"], row["reason"])


async def add_time_off(conn: Connection, therapist_id: uuid.UUID, period: Interval, reason: str) -> TimeOff:
    return _time_off(
        await conn.fetchrow(
            f"""INSERT INTO time_off AS o (therapist_id, period, reason) VALUES ($1, tstzrange($2, $3), $4)
                RETURNING {TIME_OFF_COLUMNS}""",
            therapist_id,
            period.start,
            period.end,
            reason,
        )
    )


async def time_off(
    conn: Connection, clinic_id: uuid.UUID, therapist_id: uuid.UUID, now: datetime
) -> tuple[str, list[TimeOff]] | None:
    """The clinic's zone and the therapist's time off that has not ended by `now`, by start; None if the
    therapist is not the clinic's. (One row with no time off if they have none.)"""
    rows = await conn.fetch(
        f"""SELECT c.timezone, {TIME_OFF_COLUMNS}
            FROM therapists t JOIN clinics c ON c.id = t.clinic_id
            LEFT JOIN time_off o ON o.therapist_id = t.id AND upper(o.period) > $3
            WHERE t.clinic_id = $1 AND t.id = $2
            ORDER BY lower(o.period), o.id""",
        clinic_id,
        therapist_id,
        now,
    )
    if not rows:
        return None
    return rows[0]["timezone"], [_time_off(r) for r in rows if r["id"] is not None]


async def delete_time_off(conn: Connection, clinic_id: uuid.UUID, therapist_id: uuid.UUID, time_off_id: int) -> bool:
    """Whether there was such time off (of this therapist of this clinic) to delete."""
    deleted = await conn.fetchval(
        """DELETE FROM time_off o USING therapists t
           WHERE o.id = $3 AND o.therapist_id = $2 AND t.id = o.therapist_id AND t.clinic_id = $1
           RETURNING o.id""",
        clinic_id,
        therapist_id,
        time_off_id,
    )
    return deleted is not None
