"""All SQL of the waitlist (migration 0017; services/booking/waitlist.py): entries, offers, the matcher's reads and
locks, and what a hold made for an offer does to its offer when it is booked or lapses (store.py calls those in
the transaction of the change).

Row locks are taken in one order by every writer: the offer's hold (bookings), then the offer, then the entry, so
that a customer leaving, the clinic removing, the customer booking the held time and the sweeper expiring it never
wait for each other in a circle. The matcher locks the entries it offers to with SKIP LOCKED (an entry being left
or removed is skipped, and waits for the next run)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.booking import waitlist_rules

# The matcher's lock of one (clinic, treatment) pair, in the caller's transaction: of two matchers, one offers the
# pair's times and the other waits, then finds them held (the first key keeps these apart from other advisory locks).
PAIR_LOCK_SPACE = 0x7761_6974  # "wait"
# A person's joining at one clinic (the limit per email, an identical entry): one at a time.
JOIN_LOCK_SPACE = 0x6A6F_696E  # "join"

ENTRY_COLUMNS = """e.id, e.clinic_id, e.treatment_id, e.therapist_id, e.weekdays, e.times_of_day, e.customer_name,
    e.customer_email, e.status, e.created_at, e.updated_at"""
LIVE = "e.status IN ('waiting', 'offered')"
# Entries that ended (waitlist_rules.ENDED_STATUSES), written out so that the planner can use the partial index
# waitlist_entries_ended (migration 0020), whose predicate says the same.
ENDED = "status IN (" + ", ".join(f"'{status}'" for status in waitlist_rules.ENDED_STATUSES) + ")"


# --- joining ---------------------------------------------------------------------------------------


async def lock_joining(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> None:
    """In the caller's transaction: this person's joins at this clinic, one at a time."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2::uuid::text || lower($3)))", JOIN_LOCK_SPACE, clinic_id, email
    )


async def identical_live_entry(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    treatment_id: uuid.UUID,
    therapist_id: uuid.UUID | None,
    weekdays: list[int],
    times_of_day: list[str],
    email: str,
) -> asyncpg.Record | None:
    """The person's live entry asking for exactly this (weekdays and times as kept: in order), if any."""
    return await conn.fetchrow(
        f"""SELECT {ENTRY_COLUMNS} FROM waitlist_entries e
            WHERE e.clinic_id = $1 AND lower(e.customer_email) = lower($6) AND e.treatment_id = $2
              AND e.therapist_id IS NOT DISTINCT FROM $3 AND e.weekdays = $4::smallint[]
              AND e.times_of_day = $5::text[] AND {LIVE}
            ORDER BY e.created_at LIMIT 1""",
        clinic_id,
        treatment_id,
        therapist_id,
        weekdays,
        times_of_day,
        email,
    )


async def count_live_entries(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> int:
    return await conn.fetchval(
        f"SELECT count(*) FROM waitlist_entries e WHERE e.clinic_id = $1 AND lower(e.customer_email) = lower($2) "
        f"AND {LIVE}",
        clinic_id,
        email,
    )


async def insert_entry(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    treatment_id: uuid.UUID,
    therapist_id: uuid.UUID | None,
    weekdays: list[int],
    times_of_day: list[str],
    name: str,
    email: str,
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""INSERT INTO waitlist_entries AS e (id, clinic_id, treatment_id, therapist_id, weekdays, times_of_day,
                                              customer_name, customer_email)
            VALUES ($1, $2, $3, $4, $5::smallint[], $6::text[], $7, $8) RETURNING {ENTRY_COLUMNS}""",
        uuid.uuid4(),
        clinic_id,
        treatment_id,
        therapist_id,
        weekdays,
        times_of_day,
        name,
        email,
    )


# --- reading -----------------------------------------------------------------------------------------

# An entry with the names of its treatment and therapist, and its latest offer (if any).
ENTRY_VIEW = f"""SELECT {ENTRY_COLUMNS}, t.name AS treatment_name, th.name AS therapist_name,
        o.id AS offer_id, o.starts_at AS offer_starts_at, o.expires_at AS offer_expires_at, o.status AS offer_status
    FROM waitlist_entries e JOIN treatments t ON t.id = e.treatment_id
    LEFT JOIN therapists th ON th.id = e.therapist_id
    LEFT JOIN LATERAL (SELECT o.id, o.starts_at, o.expires_at, o.status FROM waitlist_offers o
                       WHERE o.entry_id = e.id ORDER BY o.created_at DESC, o.id LIMIT 1) o ON true"""


async def clinic_entries(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, status: str | None, limit: int
) -> list[asyncpg.Record]:
    """The clinic's entries (of one status, or all), oldest first."""
    return await conn.fetch(
        f"""{ENTRY_VIEW} WHERE e.clinic_id = $1 AND ($2::text IS NULL OR e.status = $2)
            ORDER BY e.created_at, e.id LIMIT $3""",
        clinic_id,
        status,
        limit,
    )


async def entry(
    conn: asyncpg.Connection, entry_id: uuid.UUID, clinic_id: uuid.UUID | None = None
) -> asyncpg.Record | None:
    """The entry (as the clinic's list shows it); with `clinic_id`, only if that clinic's."""
    return await conn.fetchrow(
        f"{ENTRY_VIEW} WHERE e.id = $1 AND ($2::uuid IS NULL OR e.clinic_id = $2)", entry_id, clinic_id
    )


async def offer(conn: asyncpg.Connection, offer_id: uuid.UUID) -> asyncpg.Record | None:
    """An offer with what its link's page shows: the hold, the treatment, therapist and clinic."""
    return await conn.fetchrow(
        """SELECT o.id, o.entry_id, o.booking_id, o.status, o.starts_at, o.expires_at,
                  b.ends_at, b.expires_at AS hold_expires_at,
                  t.id AS treatment_id, t.name AS treatment_name, th.id AS therapist_id, th.name AS therapist_name,
                  c.slug AS clinic_slug, c.name AS clinic_name, c.timezone AS clinic_timezone
           FROM waitlist_offers o JOIN waitlist_entries e ON e.id = o.entry_id
           JOIN bookings b ON b.id = o.booking_id JOIN treatments t ON t.id = e.treatment_id
           JOIN therapists th ON th.id = o.therapist_id JOIN clinics c ON c.id = e.clinic_id
           WHERE o.id = $1""",
        offer_id,
    )


# --- leaving and removing ----------------------------------------------------------------------------


async def open_offer_hold(conn: asyncpg.Connection, entry_id: uuid.UUID) -> uuid.UUID | None:
    """The hold of the entry's open offer, if it has one (not locked: the caller locks the hold first)."""
    return await conn.fetchval(
        "SELECT booking_id FROM waitlist_offers WHERE entry_id = $1 AND status = 'open'", entry_id
    )


async def lock_hold(conn: asyncpg.Connection, booking_id: uuid.UUID) -> None:
    await conn.execute("SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE", booking_id)


async def withdraw_offer(conn: asyncpg.Connection, entry_id: uuid.UUID, booking_id: uuid.UUID) -> bool:
    """The entry's open offer of this hold is withdrawn; False if it is not open any more (booked, lapsed)."""
    status = await conn.execute(
        "UPDATE waitlist_offers SET status = 'withdrawn' WHERE entry_id = $1 AND booking_id = $2 AND status = 'open'",
        entry_id,
        booking_id,
    )
    return status != "UPDATE 0"


async def end_entry(
    conn: asyncpg.Connection, entry_id: uuid.UUID, status: str, clinic_id: uuid.UUID | None = None
) -> str | None:
    """A live entry (waiting, offered) becomes `status` (left, removed); the entry's status after (unchanged if it
    had ended already), or None if there is no such entry (of that clinic, with `clinic_id`)."""
    changed = await conn.fetchval(
        f"""UPDATE waitlist_entries e SET status = $2, updated_at = clock_timestamp()
            WHERE e.id = $1 AND ($3::uuid IS NULL OR e.clinic_id = $3) AND {LIVE} RETURNING e.status""",
        entry_id,
        status,
        clinic_id,
    )
    if changed is not None:
        return changed
    return await conn.fetchval(
        "SELECT status FROM waitlist_entries WHERE id = $1 AND ($2::uuid IS NULL OR clinic_id = $2)",
        entry_id,
        clinic_id,
    )


# --- the matcher -------------------------------------------------------------------------------------


async def pairs_waiting(conn: asyncpg.Connection, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(clinic, treatment) pairs with waiting entries: all of them up to `limit`; beyond it, `limit` of them drawn
    at random, so that no pair waits for ever behind others that keep finding nothing free (the order of offers
    within a pair is the matcher's, whichever run makes them)."""
    rows = await conn.fetch(
        """SELECT clinic_id, treatment_id FROM waitlist_entries WHERE status = 'waiting'
           GROUP BY clinic_id, treatment_id ORDER BY random() LIMIT $1""",
        limit,
    )
    return [(r["clinic_id"], r["treatment_id"]) for r in rows]


async def lock_pair(conn: asyncpg.Connection, clinic_id: uuid.UUID, treatment_id: uuid.UUID) -> None:
    """In the caller's transaction: wait for, then hold, the right to offer this pair's times."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2::uuid::text || $3::uuid::text))",
        PAIR_LOCK_SPACE,
        clinic_id,
        treatment_id,
    )


async def waiting_entries(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, treatment_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """The pair's waiting entries, oldest first, locked (one being left or removed is skipped), each with the
    times it was offered before (`offered`: rows of therapist and start)."""
    return await conn.fetch(
        """SELECT e.id, e.created_at, e.therapist_id, e.weekdays, e.times_of_day, e.customer_name, e.customer_email,
                  ARRAY(SELECT ROW(o.therapist_id, o.starts_at) FROM waitlist_offers o WHERE o.entry_id = e.id)
                      AS offered
           FROM waitlist_entries e WHERE e.clinic_id = $1 AND e.treatment_id = $2 AND e.status = 'waiting'
           ORDER BY e.created_at, e.id LIMIT $3 FOR UPDATE OF e SKIP LOCKED""",
        clinic_id,
        treatment_id,
        limit,
    )


async def considered_therapists(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, treatment_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The therapists customers may book the treatment with (not archived), locked FOR SHARE: their schedules
    stay as read until the caller's transaction ends (store.lock_schedule's promise, for all of them)."""
    return await conn.fetch(
        """SELECT t.id, t.name FROM therapists t JOIN therapist_treatments tt ON tt.therapist_id = t.id
           JOIN treatments tr ON tr.id = tt.treatment_id AND tr.archived_at IS NULL AND tr.bookable
           WHERE t.clinic_id = $1 AND tt.treatment_id = $2 AND t.archived_at IS NULL
           ORDER BY t.id FOR SHARE OF t""",
        clinic_id,
        treatment_id,
    )


async def insert_offer(
    conn: asyncpg.Connection,
    offer_id: uuid.UUID,
    entry_id: uuid.UUID,
    booking_id: uuid.UUID,
    therapist_id: uuid.UUID,
    starts_at: datetime,
    expires_at: datetime,
) -> None:
    """The offer of a hold just made, and its entry offered."""
    await conn.execute(
        """INSERT INTO waitlist_offers (id, entry_id, booking_id, therapist_id, starts_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        offer_id,
        entry_id,
        booking_id,
        therapist_id,
        starts_at,
        expires_at,
    )
    await conn.execute(
        "UPDATE waitlist_entries SET status = 'offered', updated_at = clock_timestamp() WHERE id = $1", entry_id
    )


# --- what the offer's hold does to the offer (store.py calls these in the change's transaction) --------------

# What a change to an offer's hold does to the offer ($2 → $3) and to its entry ($4 → $5).
OFFER_HOLD_CHANGED = """
WITH moved AS (
    UPDATE waitlist_offers SET status = $3 WHERE booking_id = ANY($1::uuid[]) AND status = ANY($2::text[])
    RETURNING entry_id
)
UPDATE waitlist_entries SET status = $5, updated_at = clock_timestamp()
WHERE id IN (SELECT entry_id FROM moved) AND status = ANY($4::text[])"""


async def _offer_holds_changed(
    conn: asyncpg.Connection,
    booking_ids: list[uuid.UUID],
    offers: tuple[list[str], str],
    entries: tuple[list[str], str],
) -> None:
    if booking_ids:
        await conn.execute(OFFER_HOLD_CHANGED, booking_ids, *offers, *entries)


async def holds_lapsed(conn: asyncpg.Connection, booking_ids: list[uuid.UUID]) -> None:
    """Holds that lapsed (expired, released): their open offers (or taken ones, whose booking was never paid) lapse,
    and their entries wait again (unless left or removed meanwhile)."""
    await _offer_holds_changed(conn, booking_ids, (["open", "taken"], "lapsed"), (["offered", "booked"], "waiting"))


async def holds_booked(conn: asyncpg.Connection, booking_ids: list[uuid.UUID]) -> None:
    """Holds the customer made their booking of: their open offers are taken, their entries booked."""
    await _offer_holds_changed(conn, booking_ids, (["open"], "taken"), (["offered"], "booked"))


async def holds_back(conn: asyncpg.Connection, booking_ids: list[uuid.UUID]) -> None:
    """Bookings undone to their holds (payments refused): their offers are open again, their entries offered."""
    await _offer_holds_changed(conn, booking_ids, (["taken"], "open"), (["booked"], "offered"))


# --- a customer's data (privacy.py) ----------------------------------------------------------------------


async def subject_entries(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> list[asyncpg.Record]:
    """The customer's entries at the clinic (any status), oldest first, with their offers."""
    return await conn.fetch(
        f"""SELECT {ENTRY_COLUMNS}, t.name AS treatment_name, th.name AS therapist_name,
                   ARRAY(SELECT ROW(o.id, o.starts_at, o.expires_at, o.status, o.created_at)
                         FROM waitlist_offers o WHERE o.entry_id = e.id ORDER BY o.created_at) AS offers
            FROM waitlist_entries e JOIN treatments t ON t.id = e.treatment_id
            LEFT JOIN therapists th ON th.id = e.therapist_id
            WHERE e.clinic_id = $1 AND lower(e.customer_email) = lower($2) ORDER BY e.created_at, e.id""",
        clinic_id,
        email,
    )


async def subject_open_offer_holds(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> list[tuple]:
    """(entry, hold) of the customer's open offers at the clinic."""
    rows = await conn.fetch(
        """SELECT o.entry_id, o.booking_id FROM waitlist_offers o JOIN waitlist_entries e ON e.id = o.entry_id
           WHERE e.clinic_id = $1 AND lower(e.customer_email) = lower($2) AND o.status = 'open'""",
        clinic_id,
        email,
    )
    return [(r["entry_id"], r["booking_id"]) for r in rows]


async def delete_subject_entries(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> int:
    """Delete the customer's entries at the clinic (their offers with them); how many."""
    status = await conn.execute(
        "DELETE FROM waitlist_entries WHERE clinic_id = $1 AND lower(customer_email) = lower($2)", clinic_id, email
    )
    return int(status.split()[-1])


# --- the daily retention job (retention.py) ---------------------------------------------------------------


async def delete_ended_entries(conn: asyncpg.Connection, ended_before: datetime, limit: int) -> int:
    """One batch: up to `limit` entries that ended (booked, left, removed) before `ended_before` deleted, their
    offers with them (the bookings made from those stay); how many. An entry being changed right now (a booked
    one whose hold lapses) holds its lock: skipped, left to the next run."""
    return await conn.fetchval(
        f"""WITH batch AS (
                SELECT id FROM waitlist_entries WHERE {ENDED} AND updated_at < $1
                ORDER BY updated_at, id LIMIT $2 FOR UPDATE SKIP LOCKED),
            gone AS (DELETE FROM waitlist_entries e USING batch WHERE e.id = batch.id RETURNING 1)
            SELECT count(*) FROM gone""",
        ended_before,
        limit,
    )
