"""The diary's read (the SQL of GET /api/v1/clinic/diary): everything one answer needs in one round trip, on a
pool connection of its own, outside any unit of work (a read: no lock, no transaction, no events). The days
become a diary in services/booking/diary.py."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import asyncpg

from services.booking.diary import (
    SHOWN_STATUSES,
    SHOWN_UNTIL_EXPIRY,
    AppointmentRow,
    DiaryJson,
    DiaryRows,
    TherapistRow,
    TimeOffRow,
    WeeklyRow,
    assemble,
    days_asked,
    today,
)
from services.booking.domain import BookingError


def _sql_list(statuses: tuple[str, ...]) -> str:
    return ", ".join(f"'{status}'" for status in statuses)


# Clinic $1's days $2..$3 (its dates; the window is their first and last instant in its zone), its therapists
# (or only $4, if it is theirs; archived ones too: diary.assemble decides), their weekly hours and breaks, the
# time off overlapping the days, and the reservations starting in them that diary.shown shows at $5 (now), with
# their treatment's name. One row, or none if there is no such clinic. The reservations are read through
# bookings_clinic_start, (clinic_id, starts_at): one range scan over the clinic's days, whatever else the table
# holds (EXPLAIN in tests/perf/section_diary.py; an index on the therapist saved nothing measurable).
DIARY_SQL = f"""
WITH clinic AS (
    SELECT id, timezone,
           tstzrange($2::date::timestamp AT TIME ZONE timezone, ($3::date + 1)::timestamp AT TIME ZONE timezone) AS days
    FROM clinics WHERE id = $1
), considered AS (
    SELECT t.id, t.name, t.archived_at IS NOT NULL AS archived FROM therapists t
    WHERE t.clinic_id = $1 AND ($4::uuid IS NULL OR t.id = $4)
)
SELECT c.timezone,
       ARRAY(SELECT ROW(id, name, archived) FROM considered ORDER BY name, id) AS therapists,
       ARRAY(SELECT ROW(h.therapist_id, h.weekday, h.starts, h.ends) FROM working_hours h
             WHERE h.therapist_id IN (SELECT id FROM considered)) AS hours,
       ARRAY(SELECT ROW(p.therapist_id, p.weekday, p.starts, p.ends) FROM breaks p
             WHERE p.therapist_id IN (SELECT id FROM considered)) AS breaks,
       ARRAY(SELECT ROW(o.therapist_id, lower(o.period), upper(o.period), o.reason) FROM time_off o
             WHERE o.therapist_id IN (SELECT id FROM considered) AND o.period && c.days) AS time_off,
       ARRAY(SELECT ROW(b.id, b.therapist_id, b.status, b.starts_at, b.ends_at, b.treatment_id, t.name,
                        b.customer_name, b.expires_at, b.series_id, b.series_index)
             FROM bookings b JOIN treatments t ON t.id = b.treatment_id
             WHERE b.clinic_id = $1 AND b.starts_at >= lower(c.days) AND b.starts_at < upper(c.days)
               AND ($4::uuid IS NULL OR b.therapist_id = $4)
               AND (b.status IN ({_sql_list(SHOWN_STATUSES)})
                    OR (b.status IN ({_sql_list(SHOWN_UNTIL_EXPIRY)}) AND b.expires_at > $5))
             ORDER BY b.starts_at, b.id) AS appointments
FROM clinic c"""


async def diary_rows(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    first: date,
    last: date,
    therapist_id: uuid.UUID | None,
    now: datetime,
) -> DiaryRows | None:
    """None if there is no such clinic."""
    row = await conn.fetchrow(DIARY_SQL, clinic_id, first, last, therapist_id, now)
    if row is None:
        return None
    # _make: straight from each record's fields, in the ROW(...) order above (a week is hundreds of them).
    return DiaryRows(
        row["timezone"],
        [TherapistRow._make(r) for r in row["therapists"]],
        [WeeklyRow._make(r) for r in row["hours"]],
        [WeeklyRow._make(r) for r in row["breaks"]],
        [TimeOffRow._make(r) for r in row["time_off"]],
        [AppointmentRow._make(r) for r in row["appointments"]],
    )


def _no_clinic() -> BookingError:
    return BookingError(404, "clinic_not_found", "No such clinic")


async def diary(
    pool: asyncpg.Pool,
    clinic_id: uuid.UUID,
    first: date | None,
    last: date | None,
    therapist_id: uuid.UUID | None,
    now: datetime,
) -> DiaryJson:
    """The clinic's diary from `first` (by default its today) to `last` (by default `first`: a day view), checked
    by diary.days_asked before anything else is read; 404 for a therapist who is not the clinic's."""
    async with pool.acquire() as conn:
        if first is None:  # one more round trip, for the zone that says which day is today
            zone = await conn.fetchval("SELECT timezone FROM clinics WHERE id = $1", clinic_id)
            if zone is None:
                raise _no_clinic()
            first = today(zone, now)
        first, last = days_asked(first, last)
        rows = await diary_rows(conn, clinic_id, first, last, therapist_id, now)
    if rows is None:
        raise _no_clinic()
    return assemble(rows, first, last, now, therapist_id)
