"""The SQL of the therapists' calendar feeds (services/booking/calendar_feed.py decides what they show): the
clinic API's management of a therapist's feed, scoped to the clinic, and the public feed's reads, on pool
connections of their own (no unit of work: a feed changes no booking and announces nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from services.booking import calendar_feed
from services.booking.calendar_feed import FeedBooking, Window
from services.booking.domain import BookingError


def _therapist_not_found() -> BookingError:
    return BookingError(404, "therapist_not_found", "No such therapist")


@dataclass(frozen=True)
class FeedState:
    active: bool
    created_at: datetime | None
    last_polled_at: datetime | None


# The therapist's feed, made or replaced (a new digest, polled never), only if the therapist is clinic $2's;
# with the clinic's zone, to show the time in.
REPLACE_SQL = """
WITH made AS (
    INSERT INTO calendar_feeds (therapist_id, clinic_id, token_digest, created_at)
    SELECT id, clinic_id, $3, clock_timestamp() FROM therapists WHERE id = $1 AND clinic_id = $2
    ON CONFLICT (therapist_id) DO UPDATE
        SET token_digest = EXCLUDED.token_digest, created_at = EXCLUDED.created_at, last_polled_at = NULL
    RETURNING clinic_id, created_at
)
SELECT made.created_at, c.timezone FROM made JOIN clinics c ON c.id = made.clinic_id"""

# The therapist (if clinic $2's) and its feed, if any, with the clinic's zone.
STATE_SQL = """
SELECT f.therapist_id IS NOT NULL AS active, f.created_at, f.last_polled_at, c.timezone
FROM therapists t JOIN clinics c ON c.id = t.clinic_id LEFT JOIN calendar_feeds f ON f.therapist_id = t.id
WHERE t.id = $1 AND t.clinic_id = $2"""

# The therapist (if clinic $2's), and its feed deleted if it had one.
REVOKE_SQL = """
WITH gone AS (DELETE FROM calendar_feeds WHERE therapist_id = $1 AND clinic_id = $2 RETURNING therapist_id)
SELECT t.id FROM therapists t WHERE t.id = $1 AND t.clinic_id = $2"""


def _local(instant: datetime | None, timezone: str) -> datetime | None:
    return instant.astimezone(ZoneInfo(timezone)) if instant else None


async def replace(pool: asyncpg.Pool, clinic_id: uuid.UUID, therapist_id: uuid.UUID, token_digest: bytes) -> datetime:
    """When the new feed was made (clinic time); 404 for a therapist who is not the clinic's."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(REPLACE_SQL, therapist_id, clinic_id, token_digest)
    if row is None:
        raise _therapist_not_found()
    return row["created_at"].astimezone(ZoneInfo(row["timezone"]))


async def state(pool: asyncpg.Pool, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> FeedState:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(STATE_SQL, therapist_id, clinic_id)
    if row is None:
        raise _therapist_not_found()
    zone = row["timezone"]
    return FeedState(row["active"], _local(row["created_at"], zone), _local(row["last_polled_at"], zone))


async def revoke(pool: asyncpg.Pool, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> None:
    """Revoked at once (a repeat changes nothing); 404 for a therapist who is not the clinic's."""
    async with pool.acquire() as conn:
        if await conn.fetchval(REVOKE_SQL, therapist_id, clinic_id) is None:
            raise _therapist_not_found()


# --- the public feed -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    therapist_id: uuid.UUID
    clinic_id: uuid.UUID
    therapist_name: str
    clinic_name: str
    zone: ZoneInfo
    booking_horizon_days: int
    last_polled_at: datetime | None


# The live feed whose token has digest $1: one indexed lookup, the same for any token, right or wrong.
FEED_SQL = """
SELECT f.therapist_id, f.clinic_id, f.last_polled_at, t.name AS therapist_name, c.name AS clinic_name, c.timezone,
       c.booking_horizon_days
FROM calendar_feeds f JOIN therapists t ON t.id = f.therapist_id JOIN clinics c ON c.id = f.clinic_id
WHERE f.token_digest = $1"""

# The therapist's shown bookings starting in the window, with their treatment's name; no contact details.
# A booking from before changed_at was kept falls back to when it was confirmed or made.
BOOKINGS_SQL = f"""
SELECT b.id, b.starts_at, b.ends_at, t.name AS treatment_name, b.customer_name,
       coalesce(b.changed_at, b.cancelled_at, b.confirmed_at, b.created_at) AS changed_at, b.reschedule_count
FROM bookings b JOIN treatments t ON t.id = b.treatment_id
WHERE b.clinic_id = $1 AND b.therapist_id = $2 AND b.starts_at >= $3 AND b.starts_at < $4
  AND b.status IN ({", ".join(f"'{s}'" for s in calendar_feed.SHOWN_STATUSES)})
ORDER BY b.starts_at, b.id"""

STAMP_SQL = "UPDATE calendar_feeds SET last_polled_at = $2 WHERE therapist_id = $1"


async def feed(conn: asyncpg.Connection, token_digest: bytes) -> Feed | None:
    row = await conn.fetchrow(FEED_SQL, token_digest)
    if row is None:
        return None
    return Feed(
        row["therapist_id"],
        row["clinic_id"],
        row["therapist_name"],
        row["clinic_name"],
        ZoneInfo(row["timezone"]),
        row["booking_horizon_days"],
        row["last_polled_at"],
    )


async def bookings(conn: asyncpg.Connection, found: Feed, days: Window) -> list[FeedBooking]:
    rows = await conn.fetch(BOOKINGS_SQL, found.clinic_id, found.therapist_id, days.start, days.end)
    return [FeedBooking(*row) for row in rows]


async def poll(pool: asyncpg.Pool, token_digest: bytes, now: datetime) -> tuple[Feed, Window, list[FeedBooking]] | None:
    """The feed with this digest, its window and its bookings, the poll noted (at most once a
    POLL_STAMP_EVERY); None if there is no such feed."""
    async with pool.acquire() as conn:
        found = await feed(conn, token_digest)
        if found is None:
            return None
        days = calendar_feed.window(now, found.zone, found.booking_horizon_days)
        shown = await bookings(conn, found, days)
        if calendar_feed.should_stamp(found.last_polled_at, now):
            await conn.execute(STAMP_SQL, found.therapist_id, now)
    return found, days, shown
