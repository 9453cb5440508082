"""The booking service's daily retention job (services/booking/retention.py): health answers are deleted once past
their retention date (worked out again each day from the customer's last visit and date of birth at that clinic;
frozen for a restricted one), and nothing else; staff sessions and set-password links go 30 days after they
ended. One run a day whichever replica gets there first; a run that fails claims no day; a dry run changes
nothing; the app runs it in the background, and operators by hand."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from services.booking import privacy_store, retention, waitlist_rules
from services.booking.app import create_app as create_booking_app
from services.booking.retention import run_retention
from services.booking.seed import stable_id
from tests.support.accounts import make_account
from tests.support.retention import by_hand, todays_run_finished

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
URBAN, SPINECARE = "urban-therapy", "spinecare"


def at(day: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), timezone.utc).replace(hour=hour)


async def _clinic_ids(conn, slug: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    clinic_id = stable_id(slug)
    treatment_id = await conn.fetchval(
        "SELECT id FROM treatments WHERE clinic_id = $1 ORDER BY slug LIMIT 1", clinic_id
    )
    therapist_id = await conn.fetchval(
        "SELECT id FROM therapists WHERE clinic_id = $1 ORDER BY slug LIMIT 1", clinic_id
    )
    return clinic_id, treatment_id, therapist_id


async def _booking(
    conn,
    email: str | None,
    start: datetime,
    *,
    status: str = "completed",
    clinic: str = URBAN,
    born: date | None = None,
    answered: datetime | None = None,
    restricted_until: date | None = None,
) -> uuid.UUID:
    """A booking as the use cases leave it (with a screening answered at `answered`, if given); `email` None and
    `restricted_until`: an erased customer's, its screening restricted until then."""
    clinic_id, treatment_id, therapist_id = await _clinic_ids(conn, clinic)
    booking_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO bookings (id, clinic_id, treatment_id, therapist_id, starts_at, ends_at, blocked, status,
                                 customer_name, customer_email, customer_birth_date, price_amount, currency, erased_at)
           VALUES ($1, $2, $3, $4, $5::timestamptz, $5::timestamptz + interval '1 hour',
                   tstzrange($5::timestamptz, $5::timestamptz + interval '1 hour'), $6, $7, $8, $9, 6000, 'GBP', $10)""",
        booking_id,
        clinic_id,
        treatment_id,
        therapist_id,
        start,
        status,
        "Someone" if email else None,
        email,
        born,
        None if email else NOW - timedelta(days=400),
    )
    if answered is not None:
        await conn.execute(
            """INSERT INTO screenings (booking_id, clinic_id, questionnaire_version, answers_sealed, outcome, created_at,
                                       restricted_at, retain_until, subject_key)
               VALUES ($1, $2, 1, 'sealed', 'clear', $3, $4, $5, $6)""",
            booking_id,
            clinic_id,
            answered,
            NOW - timedelta(days=400) if restricted_until else None,
            restricted_until,
            os.urandom(32) if restricted_until else None,
        )
    return booking_id


@pytest.fixture
async def world(booking_pool) -> dict[str, uuid.UUID]:
    """Customers whose health answers are, and are not, past their retention date on TODAY."""
    async with booking_pool.acquire() as conn:
        made = {
            # An adult whose last visit was 2018-01-10: kept until 2026-01-10, so past.
            "adult_past": await _booking(conn, "a@example.com", at("2018-01-10"), answered=at("2018-01-02")),
            # An adult who came back in 2020 (and cancelled a booking since): kept until 2028-06-01.
            "adult_returned": await _booking(conn, "B@Example.com", at("2018-01-10"), answered=at("2018-01-02")),
            "adult_returned_visit": await _booking(conn, "b@example.com", at("2020-06-01")),
            "adult_cancelled_later": await _booking(conn, "b@example.com", at("2024-02-01"), status="cancelled"),
            # Six at the last visit (born 2010-05-01, given on the booking): kept to the 25th birthday, 2035-05-01.
            "child": await _booking(
                conn, "c@example.com", at("2017-01-10"), born=date(2010, 5, 1), answered=at("2017-01-02")
            ),
            # Answers given for a booking cancelled before the visit: kept 8 years from the day given.
            "no_visit": await _booking(
                conn, "g@example.com", at("2026-11-20"), status="cancelled", answered=at("2026-11-01")
            ),
            # Erased customers: restricted, with their date frozen (their visits in 2010 would make it long past).
            "restricted_kept": await _booking(
                conn, None, at("2010-01-01"), answered=at("2010-01-01"), restricted_until=date(2030, 1, 1)
            ),
            "restricted_today": await _booking(
                conn, None, at("2010-01-02"), answered=at("2010-01-02"), restricted_until=TODAY
            ),
            "restricted_past": await _booking(
                conn, None, at("2010-01-03"), answered=at("2010-01-03"), restricted_until=TODAY - timedelta(days=1)
            ),
            # The same email at another clinic, seen there in 2024: kept there, and no reason to keep urban's.
            "other_clinic": await _booking(
                conn, "a@example.com", at("2024-01-10"), clinic=SPINECARE, answered=at("2024-01-02")
            ),
        }
    return made


async def _screenings(pool) -> dict[uuid.UUID, date | None]:
    async with pool.acquire() as conn:
        return {
            r["booking_id"]: r["retain_until"]
            for r in await conn.fetch("SELECT booking_id, retain_until FROM screenings")
        }


async def _count(pool, sql: str, *args) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


def _kept_after_the_first_run(world) -> dict[uuid.UUID, date]:
    """The screenings the world's first run (on TODAY) keeps, with their dates."""
    return {
        world["adult_returned"]: date(2028, 6, 1),
        world["child"]: date(2035, 5, 1),
        world["no_visit"]: date(2034, 11, 1),
        world["restricted_kept"]: date(2030, 1, 1),  # frozen: not worked out again
        world["restricted_today"]: TODAY,  # its last day: kept today
        world["other_clinic"]: date(2032, 1, 10),
    }


async def test_the_job_deletes_exactly_the_health_answers_past_their_date_and_nothing_else(booking_pool, world):
    bookings_before = await _count(booking_pool, "SELECT count(*) FROM bookings")
    counts = await run_retention(booking_pool, today=TODAY, now=NOW)
    assert counts is not None
    assert counts["screenings_deleted"] == 2 and counts["restricted_screenings_deleted"] == 1
    assert counts["screenings_dated"] == 5, "every unrestricted screening got its date"

    assert await _screenings(booking_pool) == _kept_after_the_first_run(world)
    assert await _count(booking_pool, "SELECT count(*) FROM bookings") == bookings_before, "no booking goes"
    assert (
        await _count(
            booking_pool,
            "SELECT count(*) FROM bookings WHERE id = $1 AND customer_email = 'a@example.com'",
            world["adult_past"],
        )
        == 1
    ), "the booking of deleted answers is untouched"

    # The next day's run finds nothing more to do (and yesterday's date stays as it was).
    again = await run_retention(booking_pool, today=TODAY + timedelta(days=1), now=NOW + timedelta(days=1))
    assert again["screenings_deleted"] == 1 and again["restricted_screenings_deleted"] == 1  # restricted_today
    assert again["screenings_dated"] == 0


async def test_the_date_moves_on_with_a_new_visit(booking_pool, world):
    await run_retention(booking_pool, today=TODAY, now=NOW)
    async with booking_pool.acquire() as conn:
        await _booking(conn, "C@example.com", at("2026-12-01"))  # the child came back, now 16
    await run_retention(booking_pool, today=TODAY + timedelta(days=1), now=NOW + timedelta(days=1))
    assert (await _screenings(booking_pool))[world["child"]] == date(2035, 5, 1), "16 at the visit: still the 25th"
    async with booking_pool.acquire() as conn:
        await _booking(conn, "c@example.com", at("2027-05-10"))  # and at 17
    later = NOW.replace(year=2027, month=6)
    await run_retention(booking_pool, today=later.date(), now=later)
    assert (await _screenings(booking_pool))[world["child"]] == date(2036, 5, 1), "17 at the last visit: the 26th"


async def test_in_batches_the_job_deletes_and_dates_the_same_screenings(booking_pool, world, monkeypatch):
    monkeypatch.setattr(retention, "RETENTION_BATCH", 2)  # 5 unrestricted screenings: batches of 2, 2 and 1
    counts = await run_retention(booking_pool, today=TODAY, now=NOW)
    assert (counts["screenings_examined"], counts["screenings_dated"], counts["screenings_deleted"]) == (5, 5, 2)
    assert await _screenings(booking_pool) == _kept_after_the_first_run(world)


async def test_a_run_reads_only_the_screenings_whose_facts_moved_on(booking_pool, world):
    first = await run_retention(booking_pool, today=TODAY, now=NOW)
    assert first["screenings_examined"] == 5, "never dated: every unrestricted one"
    day = timedelta(days=1)
    again = await run_retention(booking_pool, today=TODAY + day, now=NOW + day)
    assert (again["screenings_examined"], again["screenings_dated"]) == (0, 0), "nothing moved on: nothing read"
    assert again["screenings_deleted"] == 1, "the date still deletes in SQL (restricted_today)"

    # A booking still to come is not a visit yet; once it has started it is, and only its customer's screening is
    # read again.
    async with booking_pool.acquire() as conn:
        await _booking(conn, "g@example.com", NOW + 3 * day, status="confirmed")
    before_the_visit = await run_retention(booking_pool, today=TODAY + 2 * day, now=NOW + 2 * day)
    assert before_the_visit["screenings_examined"] == 0
    after_the_visit = await run_retention(booking_pool, today=TODAY + 4 * day, now=NOW + 4 * day)
    assert (after_the_visit["screenings_examined"], after_the_visit["screenings_dated"]) == (1, 1)
    assert (await _screenings(booking_pool))[world["no_visit"]] == date(2034, 12, 8), "8 years from the visit"

    # A visit that stops being one (cancelled after the fact) moves the date back: read, and past, deleted.
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE bookings SET status = 'cancelled' WHERE id = $1", world["adult_returned_visit"])
    later = await run_retention(booking_pool, today=TODAY + 5 * day, now=NOW + 5 * day)
    assert (later["screenings_examined"], later["screenings_dated"], later["screenings_deleted"]) == (1, 1, 1)
    assert world["adult_returned"] not in await _screenings(booking_pool), "kept until 2026-01-10: past"


async def _waitlist_entry(conn, status: str, ended_days_ago: int, *, offered: bool = False) -> uuid.UUID:
    """An entry of that status, last changed (for an ended one: ended) that many days before NOW; `offered`: with
    an offer taken (the booking made from it)."""
    clinic_id, treatment_id, therapist_id = await _clinic_ids(conn, URBAN)
    entry_id = uuid.uuid4()
    changed = NOW - timedelta(days=ended_days_ago)
    await conn.execute(
        """INSERT INTO waitlist_entries (id, clinic_id, treatment_id, customer_name, customer_email, status,
                                         created_at, updated_at)
           VALUES ($1, $2, $3, 'Waiting Person', 'wait@example.com', $4, $5, $6)""",
        entry_id,
        clinic_id,
        treatment_id,
        status,
        changed - timedelta(days=10),
        changed,
    )
    if offered:
        booked = await _booking(conn, "wait@example.com", changed + timedelta(days=2), status="confirmed")
        await conn.execute(
            """INSERT INTO waitlist_offers (id, entry_id, booking_id, therapist_id, starts_at, expires_at, status)
               VALUES ($1, $2, $3, $4, $5, $5, 'taken')""",
            uuid.uuid4(),
            entry_id,
            booked,
            therapist_id,
            changed + timedelta(days=2),
        )
    return entry_id


async def test_waitlist_entries_that_ended_over_30_days_ago_are_deleted_and_no_others(booking_pool, monkeypatch):
    kept_days = waitlist_rules.ENDED_ENTRY_KEPT.days
    assert kept_days == 30
    async with booking_pool.acquire() as conn:
        gone = {
            await _waitlist_entry(conn, "left", kept_days + 1),
            await _waitlist_entry(conn, "removed", kept_days + 1),
            await _waitlist_entry(conn, "booked", kept_days + 1, offered=True),
            await _waitlist_entry(conn, "left", 400),
        }
        kept = {
            await _waitlist_entry(conn, "left", kept_days - 1),
            await _waitlist_entry(conn, "booked", kept_days - 1),
            # Still in the queue: never deleted, however long ago they last changed.
            await _waitlist_entry(conn, "waiting", 400),
            await _waitlist_entry(conn, "offered", 400),
        }
        bookings_before = await conn.fetchval("SELECT count(*) FROM bookings")

    monkeypatch.setattr(retention, "RETENTION_BATCH", 3)  # 4 due: a full batch, then a short one
    counts = await run_retention(booking_pool, today=TODAY, now=NOW)
    assert counts["waitlist_entries_deleted"] == len(gone)
    async with booking_pool.acquire() as conn:
        assert {r["id"] for r in await conn.fetch("SELECT id FROM waitlist_entries")} == kept
        assert await conn.fetchval("SELECT count(*) FROM waitlist_offers") == 0, "the offer went with its entry"
        assert await conn.fetchval("SELECT count(*) FROM bookings") == bookings_before, "its booking stays"

    again = await run_retention(booking_pool, today=TODAY, now=NOW, claim=False)
    assert again["waitlist_entries_deleted"] == 0, "idempotent"


async def test_staff_sessions_and_set_password_links_go_30_days_after_they_ended(booking_pool):
    staff_id = await make_account(booking_pool, "reception@urban.example", role="staff")
    clinic_id = stable_id(URBAN)

    def days(n: int) -> datetime:
        return NOW + timedelta(days=n)

    async with booking_pool.acquire() as conn:
        sessions = {}
        for name, expires, revoked in (
            ("expired_31", days(-31), None),
            ("expired_29", days(-29), None),
            ("signed_out_40", days(1), days(-40)),
            ("live", days(1), None),
        ):
            sessions[name] = await conn.fetchval(
                "INSERT INTO staff_sessions (id, token_hash, staff_id, clinic_id, expires_at, revoked_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                uuid.uuid4(),
                os.urandom(32),
                staff_id,
                clinic_id,
                expires,
                revoked,
            )
        links = {}
        for name, expires, used in (
            ("used_31", days(-20), days(-31)),
            ("expired_31", days(-31), None),
            ("expired_10", days(-10), None),
            ("open", days(2), None),
        ):
            links[name] = await conn.fetchval(
                "INSERT INTO staff_password_links (id, token_hash, staff_id, expires_at, used_at) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                uuid.uuid4(),
                os.urandom(32),
                staff_id,
                expires,
                used,
            )
    counts = await run_retention(booking_pool, today=TODAY, now=NOW)
    assert counts["staff_sessions_deleted"] == 2 and counts["password_links_deleted"] == 2
    async with booking_pool.acquire() as conn:
        left = {r["id"] for r in await conn.fetch("SELECT id FROM staff_sessions")}
        assert left == {sessions["expired_29"], sessions["live"]}
        left = {r["id"] for r in await conn.fetch("SELECT id FROM staff_password_links")}
        assert left == {links["expired_10"], links["open"]}


async def test_two_replicas_at_once_run_the_day_once(booking_pool, world):
    first, second = await asyncio.gather(
        run_retention(booking_pool, today=TODAY, now=NOW), run_retention(booking_pool, today=TODAY, now=NOW)
    )
    assert sorted([first is None, second is None]) == [False, True], (first, second)
    ran = first or second
    async with booking_pool.acquire() as conn:
        [row] = await conn.fetch("SELECT run_on, finished_at, counts FROM retention_runs")
    assert row["run_on"] == TODAY and row["finished_at"] is not None and row["counts"] == ran
    assert await run_retention(booking_pool, today=TODAY, now=NOW + timedelta(hours=1)) is None, "an hour later"


async def test_a_run_that_fails_claims_no_day_and_a_dry_run_changes_nothing(booking_pool, world, monkeypatch):
    before = await _screenings(booking_pool)

    async def broken(conn, before):
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as patch:
        patch.setattr(privacy_store, "delete_ended_password_links", broken)
        with pytest.raises(RuntimeError):
            await run_retention(booking_pool, today=TODAY, now=NOW)
    assert await _screenings(booking_pool) == before, "rolled back"

    dry = await run_retention(booking_pool, today=TODAY, now=NOW, dry_run=True)
    assert dry["screenings_deleted"] == 2 and dry["screenings_dated"] == 5
    assert await _screenings(booking_pool) == before, "a dry run changes nothing"
    assert await _count(booking_pool, "SELECT count(*) FROM retention_runs") == 0

    assert await run_retention(booking_pool, today=TODAY, now=NOW) == dry, "the day is still to run"


async def test_the_booking_app_runs_todays_job_in_the_background(settings, aiohttp_client, booking_pool):
    await aiohttp_client(create_booking_app(settings))
    await todays_run_finished(booking_pool)
    assert retention.RETENTION_CHECK_INTERVAL == 3600.0


async def test_operators_run_it_by_hand_or_as_a_dry_run(settings, booking_pool, world):
    printed = by_hand("booking", settings.database_url, "--dry-run")
    assert printed["dry_run"] is True and printed["screenings_dated"] == 5
    assert await _count(booking_pool, "SELECT count(*) FROM screenings WHERE retain_until IS NOT NULL") == 3, (
        "only the restricted ones have a date: the dry run set none"
    )
