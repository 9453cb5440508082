"""All SQL of the booking service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg
from asyncpg import Range

from services.booking import clinic_settings, waitlist_store
from services.booking.availability import Interval, Schedule, WeeklyTime
from services.booking.domain import (
    LIVE_STATUSES,
    UNLISTED_STATUSES,
    Clinic,
    Course,
    Customer,
    Hold,
    Therapist,
    Treatment,
    statuses_before,
)
from services.booking.reservation import Lapsed, Reservation
from shared.events import Event
from shared.outbox import OUTBOX_COLUMNS, outbox_row


def _sql_list(statuses: tuple[str, ...]) -> str:
    return ", ".join(f"'{status}'" for status in statuses)


# A reservation blocks time while it is confirmed, pending payment, or a hold that has not expired.
# Written with the exclusion constraint's own predicate first, so that one scan of its GiST index
# serves it (an OR of two statuses made the planner combine two scans of it, and re-plan the statement
# on every execution instead of using a prepared generic plan).
LIVE = f"(status IN ({_sql_list(LIVE_STATUSES)}) AND (status = 'confirmed' OR expires_at > now()))"
# Those a reservation may leave for 'expired' (once its time has run out) and for 'released'.
EXPIRING = f"status IN ({_sql_list(statuses_before('expired'))})"
RELEASABLE = f"status IN ({_sql_list(statuses_before('released'))})"

CLINIC_COLUMNS = """id, slug, name, timezone, booking_horizon_days, min_notice_minutes, slot_step_minutes,
    hold_minutes, change_window_hours, reminder_offsets_minutes, voucher_validity_months, policy_message, email,
    phone, address, embed_origins, voucher_min_amount, voucher_max_amount, waitlist_offer_minutes"""
TREATMENT_COLUMNS = """id, name, duration_minutes, price_amount, currency, buffer_before_minutes,
    buffer_after_minutes, requires_screening"""
TREATMENT_FIELDS = tuple(column.strip() for column in TREATMENT_COLUMNS.split(","))


def _clinic(row) -> Clinic:
    return Clinic(
        **{
            **dict(row),
            "reminder_offsets_minutes": tuple(row["reminder_offsets_minutes"]),
            "embed_origins": tuple(row["embed_origins"]),
        }
    )


def _treatment(row) -> Treatment:
    return Treatment(**{k: row[k] for k in Treatment.__dataclass_fields__})


def _range(interval: Interval) -> Range:
    return Range(interval.start, interval.end, lower_inc=True, upper_inc=False)


# --- catalogue ----------------------------------------------------------------------------------


async def list_clinics(conn: asyncpg.Connection) -> list[Clinic]:
    return [_clinic(r) for r in await conn.fetch(f"SELECT {CLINIC_COLUMNS} FROM clinics ORDER BY name")]


async def get_clinic(conn: asyncpg.Connection, slug: str) -> Clinic | None:
    row = await conn.fetchrow(f"SELECT {CLINIC_COLUMNS} FROM clinics WHERE slug = $1", slug)
    return _clinic(row) if row else None


async def get_clinic_by_id(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> Clinic:
    return _clinic(await conn.fetchrow(f"SELECT {CLINIC_COLUMNS} FROM clinics WHERE id = $1", clinic_id))


async def set_embed_origins(conn: asyncpg.Connection, clinic_id: uuid.UUID, origins: list[str]) -> Clinic:
    return _clinic(
        await conn.fetchrow(
            f"UPDATE clinics SET embed_origins = $2 WHERE id = $1 RETURNING {CLINIC_COLUMNS}", clinic_id, origins
        )
    )


# The settings a clinic's owner may change, each a column of its own: the only columns a change may name.
CLINIC_SETTINGS_COLUMNS = frozenset(clinic_settings.FIELDS)


async def get_clinic_by_id_or_none(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> Clinic | None:
    row = await conn.fetchrow(f"SELECT {CLINIC_COLUMNS} FROM clinics WHERE id = $1", clinic_id)
    return _clinic(row) if row else None


async def lock_clinic(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> Clinic:
    """The clinic, locked for the caller's transaction (a change judged on what it changes)."""
    return _clinic(await conn.fetchrow(f"SELECT {CLINIC_COLUMNS} FROM clinics WHERE id = $1 FOR UPDATE", clinic_id))


async def change_clinic_settings(conn: asyncpg.Connection, clinic_id: uuid.UUID, changes: dict) -> Clinic:
    """Write the settings given (column → value) in one statement: all of them, or none."""
    names = sorted(changes)
    if not set(names) <= CLINIC_SETTINGS_COLUMNS:
        raise ValueError(f"not a clinic setting: {sorted(set(names) - CLINIC_SETTINGS_COLUMNS)}")
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    return _clinic(
        await conn.fetchrow(
            f"UPDATE clinics SET {assignments} WHERE id = $1 RETURNING {CLINIC_COLUMNS}",
            clinic_id,
            *(changes[name] for name in names),
        )
    )


# --- payment policies (issue 20; migration 0018, services/booking/payment_policy.py) -------------------------


async def clinic_payment_policy(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> dict:
    return await conn.fetchval("SELECT payment_policy FROM clinics WHERE id = $1", clinic_id)


async def set_clinic_payment_policy(conn: asyncpg.Connection, clinic_id: uuid.UUID, policy: dict) -> None:
    await conn.execute("UPDATE clinics SET payment_policy = $2 WHERE id = $1", clinic_id, policy)


async def clinic_payment_policies(conn: asyncpg.Connection) -> dict[uuid.UUID, dict]:
    """Every clinic's payment policy, by its id."""
    return {r["id"]: r["payment_policy"] for r in await conn.fetch("SELECT id, payment_policy FROM clinics")}


async def payment_policies(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, treatment_id: uuid.UUID
) -> tuple[dict, dict | None]:
    """The clinic's policy and the treatment's own (None: the clinic's), archived or not."""
    row = await conn.fetchrow(
        """SELECT c.payment_policy AS clinic, t.payment_policy AS treatment
           FROM clinics c LEFT JOIN treatments t ON t.clinic_id = c.id AND t.id = $2 WHERE c.id = $1""",
        clinic_id,
        treatment_id,
    )
    return row["clinic"], row["treatment"]


# What customers see and may book (migration 0010): not archived, and (a treatment, a course) offered for
# booking; a course only while its treatment is too. Archived rows stay, for the bookings that name them.
def _offered(alias: str) -> str:
    return f"{alias}.archived_at IS NULL AND {alias}.bookable"


# A treatment's payment policy (t: the treatment; a course's is its treatment's) and its clinic's, for what customers
# see (serialise.treatment, serialise.course: payment_policy.effective of the two).
POLICIES = """t.payment_policy AS payment_policy,
    (SELECT cl.payment_policy FROM clinics cl WHERE cl.id = t.clinic_id) AS clinic_payment_policy,
    (SELECT cl.change_window_hours FROM clinics cl WHERE cl.id = t.clinic_id) AS clinic_change_window_hours"""


async def list_treatments(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    """The treatments customers may book, in the clinic's order."""
    return await conn.fetch(
        f"SELECT {TREATMENT_COLUMNS}, slug, description, {POLICIES} FROM treatments t "
        f"WHERE clinic_id = $1 AND {_offered('t')} ORDER BY position, name",
        clinic_id,
    )


async def get_treatment(conn: asyncpg.Connection, clinic_id: uuid.UUID, treatment_id: uuid.UUID) -> Treatment | None:
    row = await conn.fetchrow(
        f"SELECT {TREATMENT_COLUMNS} FROM treatments WHERE clinic_id = $1 AND id = $2", clinic_id, treatment_id
    )
    return _treatment(row) if row else None


OFFERED_COURSES = f"courses c JOIN treatments t ON t.id = c.treatment_id AND {_offered('t')}"


async def list_courses(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    """The courses customers may book, in the clinic's order."""
    return await conn.fetch(
        "SELECT c.id, c.slug, c.name, c.description, c.treatment_id, c.sessions, c.min_gap_days, c.max_gap_days, "
        f"c.price_amount, c.currency, {POLICIES} FROM {OFFERED_COURSES} WHERE c.clinic_id = $1 AND {_offered('c')} "
        "ORDER BY c.position, c.name",
        clinic_id,
    )


async def get_course(conn: asyncpg.Connection, clinic_id: uuid.UUID, course_id: uuid.UUID) -> Course | None:
    """A course customers may book (only holds read it)."""
    row = await conn.fetchrow(
        "SELECT c.id, c.name, c.treatment_id, c.sessions, c.min_gap_days, c.max_gap_days, c.price_amount, "
        f"c.currency FROM {OFFERED_COURSES} WHERE c.clinic_id = $1 AND c.id = $2 AND {_offered('c')}",
        clinic_id,
        course_id,
    )
    return Course(**row) if row else None


async def list_therapists(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    """The therapists the clinic lists (not archived), with the treatments customers may book with them and
    their photo's digest (its version)."""
    return await conn.fetch(
        f"""SELECT t.id, t.slug, t.name, t.bio, t.credentials,
                  ARRAY(SELECT tt.treatment_id FROM therapist_treatments tt JOIN treatments tr ON tr.id = tt.treatment_id
                        WHERE tt.therapist_id = t.id AND {_offered("tr")}) AS treatment_ids,
                  (SELECT p.digest FROM therapist_photos p WHERE p.therapist_id = t.id) AS photo_digest,
                  c.slug AS clinic_slug
           FROM therapists t JOIN clinics c ON c.id = t.clinic_id
           WHERE t.clinic_id = $1 AND t.archived_at IS NULL ORDER BY t.name""",
        clinic_id,
    )


async def get_therapist(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, therapist_id: uuid.UUID, *, offered_only: bool = False
) -> Therapist | None:
    """The clinic's therapist; with `offered_only`, only one customers may book (not archived)."""
    row = await conn.fetchrow(
        """SELECT t.id, t.name, coalesce(array_agg(tt.treatment_id) FILTER (WHERE tt.treatment_id IS NOT NULL), '{}') AS ids
           FROM therapists t LEFT JOIN therapist_treatments tt ON tt.therapist_id = t.id
           WHERE t.clinic_id = $1 AND t.id = $2 AND (NOT $3 OR t.archived_at IS NULL) GROUP BY t.id""",
        clinic_id,
        therapist_id,
        offered_only,
    )
    return Therapist(row["id"], row["name"], frozenset(row["ids"])) if row else None


# What a request names (clinic by slug $1, treatment $2, therapist $3), in one round trip. The treatment
# and the therapist are NULL unless they exist, are the clinic's and are offered (not archived; a treatment
# bookable); the therapist comes with the ids of the treatments they give.
NAMED_COLUMNS = f"""{", ".join(f"c.{column.strip()}" for column in CLINIC_COLUMNS.split(","))},
       (SELECT ROW({TREATMENT_COLUMNS}) FROM treatments t WHERE t.clinic_id = c.id AND t.id = $2 AND {_offered("t")}) AS treatment,
       th.id AS therapist_id, th.name AS therapist_name,
       ARRAY(SELECT tt.treatment_id FROM therapist_treatments tt WHERE tt.therapist_id = th.id) AS therapist_treatments"""
NAMED_FROM = """FROM clinics c LEFT JOIN therapists th ON th.clinic_id = c.id AND th.id = $3 AND th.archived_at IS NULL
WHERE c.slug = $1"""
# Everything a hold of one treatment reads, in one round trip: what the request names (NAMED_COLUMNS),
# and what the rules need to judge start $4 of that treatment with that therapist (their weekly hours and
# breaks, and the time off overlapping the treatment's blocked time, with the version of that schedule they
# are: see INSERT_HOLD_ANNOUNCED_SQL). Other reservations are the exclusion constraint's business.
HOLD_CONTEXT_SQL = f"""
WITH blocked AS (   -- the treatment's blocked time from $4: buffer before, treatment, buffer after
    SELECT tstzrange($4::timestamptz - make_interval(mins => buffer_before_minutes),
                     $4::timestamptz + make_interval(mins => duration_minutes + buffer_after_minutes)) AS span
    FROM treatments WHERE id = $2
)
SELECT {NAMED_COLUMNS}, th.schedule_version,
       ARRAY(SELECT ROW(h.weekday, h.starts, h.ends) FROM working_hours h WHERE h.therapist_id = $3) AS hours,
       ARRAY(SELECT ROW(b.weekday, b.starts, b.ends) FROM breaks b WHERE b.therapist_id = $3) AS breaks,
       ARRAY(SELECT ROW(lower(o.period), upper(o.period)) FROM time_off o, blocked
             WHERE o.therapist_id = $3 AND o.period && blocked.span) AS time_off
{NAMED_FROM}"""


@dataclass(frozen=True)
class Named:
    """The clinic a request names, and its treatment and therapist if they exist (and are the clinic's)."""

    clinic: Clinic
    treatment: Treatment | None
    therapist: Therapist | None


def _named(row) -> Named:
    clinic = _clinic({k: row[k] for k in Clinic.__dataclass_fields__})
    treatment = row["treatment"]
    if treatment is not None:
        treatment = _treatment(dict(zip(TREATMENT_FIELDS, treatment)))
    therapist = None
    if row["therapist_id"] is not None:
        therapist = Therapist(row["therapist_id"], row["therapist_name"], frozenset(row["therapist_treatments"]))
    return Named(clinic, treatment, therapist)


async def named(
    conn: asyncpg.Connection, slug: str, treatment_id: uuid.UUID, therapist_id: uuid.UUID | None
) -> Named | None:
    """What a request names (NAMED_COLUMNS: the treatment and therapist only if offered); None: no such clinic."""
    row = await conn.fetchrow(f"SELECT {NAMED_COLUMNS} {NAMED_FROM}", slug, treatment_id, therapist_id)
    return _named(row) if row else None


@dataclass(frozen=True)
class HoldContext:
    """What a hold of one treatment reads (HOLD_CONTEXT_SQL): what the request names, and the
    therapist's schedule around the start without other reservations."""

    named: Named
    schedule: Schedule
    schedule_version: int | None = None  # of the therapist's row (migration 0013), if there is a therapist


async def hold_context(
    conn: asyncpg.Connection, slug: str, treatment_id: uuid.UUID, therapist_id: uuid.UUID, start: datetime
) -> HoldContext | None:
    """None if there is no such clinic."""
    row = await conn.fetchrow(HOLD_CONTEXT_SQL, slug, treatment_id, therapist_id, start)
    if row is None:
        return None
    schedule = Schedule(
        therapist_id,
        tuple(WeeklyTime(*r) for r in row["hours"]),
        tuple(WeeklyTime(*r) for r in row["breaks"]),
        tuple(Interval(*r) for r in row["time_off"]),
    )
    return HoldContext(_named(row), schedule, row["schedule_version"])


async def therapists_giving(conn: asyncpg.Connection, clinic_id: uuid.UUID, treatment_id: uuid.UUID) -> list[Therapist]:
    rows = await conn.fetch(
        """SELECT t.id, t.name FROM therapists t JOIN therapist_treatments tt ON tt.therapist_id = t.id
           WHERE t.clinic_id = $1 AND tt.treatment_id = $2 ORDER BY t.name""",
        clinic_id,
        treatment_id,
    )
    return [Therapist(r["id"], r["name"], frozenset({treatment_id})) for r in rows]


# A therapist's weekly hours and breaks, time off overlapping a window, and (with busy) the blocked time
# of live reservations overlapping it, as rows of one query: `kind` says which. Ranges come as their
# bounds (cheaper to decode than range objects). The busy part is served by the exclusion constraint's
# GiST index on (therapist_id, blocked).
def _schedule_sql(ids: str, window: str, *, with_busy: bool) -> str:
    """`ids`: an SQL expression of the therapists' uuid[]; `window`: of the tstzrange."""
    sql = f"""
SELECT therapist_id, 'hours' AS kind, weekday, starts, ends, NULL::timestamptz AS lower, NULL::timestamptz AS upper
FROM working_hours WHERE therapist_id = ANY({ids})
UNION ALL
SELECT therapist_id, 'break', weekday, starts, ends, NULL, NULL FROM breaks WHERE therapist_id = ANY({ids})
UNION ALL
SELECT therapist_id, 'off', NULL, NULL, NULL, lower(period), upper(period)
FROM time_off WHERE therapist_id = ANY({ids}) AND period && {window}"""
    if with_busy:
        # Joined per therapist, so that the index is searched by therapist and time together whether the
        # ids are a parameter or computed in the same statement.
        sql += f"""
UNION ALL
SELECT therapist_id, 'busy', NULL, NULL, NULL, lower(blocked), upper(blocked)
FROM unnest({ids}) AS considered_id JOIN bookings ON therapist_id = considered_id
WHERE blocked && {window} AND {LIVE}"""
    return sql


SCHEDULE_SQL = _schedule_sql("$1::uuid[]", "$2", with_busy=False)
SCHEDULE_BUSY_SQL = _schedule_sql("$1::uuid[]", "$2", with_busy=True)


def _schedules(therapist_ids: list[uuid.UUID], rows) -> list[Schedule]:
    found: dict[uuid.UUID, dict[str, list]] = {
        tid: {"hours": [], "break": [], "off": [], "busy": []} for tid in therapist_ids
    }
    for therapist_id, kind, weekday, starts, ends, lower, upper in rows:
        found[therapist_id][kind].append(
            WeeklyTime(weekday, starts, ends) if kind in ("hours", "break") else Interval(lower, upper)
        )
    return [
        Schedule(tid, tuple(f["hours"]), tuple(f["break"]), tuple(f["off"]), tuple(f["busy"]))
        for tid, f in found.items()
    ]


async def load_schedules(
    conn: asyncpg.Connection, therapist_ids: list[uuid.UUID], window: Interval, *, with_busy: bool = True
) -> list[Schedule]:
    """Hours, breaks, and the time off and (unless not needed) live reservations that overlap `window`,
    per therapist."""
    rows = await conn.fetch(SCHEDULE_BUSY_SQL if with_busy else SCHEDULE_SQL, therapist_ids, _range(window))
    return _schedules(therapist_ids, rows)


# Everything an availability answer reads, in one round trip: what the request names (NAMED_COLUMNS);
# the days asked for ($4..$5 in the clinic's zone; $4 defaults to the clinic's today at $7, $5 to
# $8 days later); the therapists it considers (`considered`); and their schedules over those days
# padded by $6 either side, unless the days are not a range of 1 to $9 days (then the caller refuses
# them, having read nothing). Two statements, not one with a CASE on $3, so that PostgreSQL's generic
# plan of each is as good as a fresh one and it stops re-planning them on every call.
def _availability_sql(considered: str) -> str:
    return f"""
WITH considered AS ({considered}
), days AS (
    SELECT timezone, first, coalesce($5::date, first + $8::integer) AS last
    FROM clinics, LATERAL (SELECT coalesce($4::date, ($7::timestamptz AT TIME ZONE timezone)::date) AS first) f
    WHERE slug = $1
), span AS (
    SELECT first, last, CASE WHEN last >= first AND last - first < $9::integer THEN
               tstzrange((first::timestamp AT TIME ZONE timezone) - $6::interval,
                         ((last + 1)::timestamp AT TIME ZONE timezone) + $6::interval) END AS days_range
    FROM days
), schedule AS ({_schedule_sql("ARRAY(SELECT id FROM considered)", "(SELECT days_range FROM span)", with_busy=True)}
)
SELECT {NAMED_COLUMNS}, (SELECT first FROM span) AS first, (SELECT last FROM span) AS last,
       ARRAY(SELECT ROW(id, name) FROM considered ORDER BY name) AS considered,
       ARRAY(SELECT ROW(therapist_id, kind, weekday, starts, ends, lower, upper) FROM schedule) AS schedule
{NAMED_FROM}"""


# Therapist $3, if the clinic's (whether they give treatment $2 is the caller's check).
AVAILABILITY_ONE_SQL = _availability_sql("""
    SELECT t.id, t.name FROM therapists t JOIN clinics ON clinics.id = t.clinic_id AND clinics.slug = $1
    WHERE t.id = $3 AND t.archived_at IS NULL""")
# Every therapist of the clinic giving treatment $2 ($3 is NULL).
AVAILABILITY_ANY_SQL = _availability_sql("""
    SELECT t.id, t.name FROM therapist_treatments tt JOIN therapists t ON t.id = tt.therapist_id
    JOIN clinics ON clinics.id = t.clinic_id AND clinics.slug = $1
    WHERE tt.treatment_id = $2 AND $3::uuid IS NULL AND t.archived_at IS NULL""")


@dataclass(frozen=True)
class AvailabilityContext:
    named: Named
    first: date
    last: date
    considered: list[Therapist]  # as they give the treatment (a named therapist: whatever they give)
    schedules: list[Schedule]  # of the considered therapists, in their order


@dataclass(frozen=True)
class DaysAsked:
    first: date | None  # None: the clinic's today
    last: date | None  # None: `default_days` after first
    default_days: int
    max_days: int
    padding: timedelta  # read this much more either side (offsets, buffers)


async def availability_context(
    conn: asyncpg.Connection,
    slug: str,
    treatment_id: uuid.UUID,
    therapist_id: uuid.UUID | None,
    days: DaysAsked,
    now: datetime,
) -> AvailabilityContext | None:
    """None if there is no such clinic."""
    sql = AVAILABILITY_ANY_SQL if therapist_id is None else AVAILABILITY_ONE_SQL
    row = await conn.fetchrow(
        sql,
        slug,
        treatment_id,
        therapist_id,
        days.first,
        days.last,
        days.padding,
        now,
        days.default_days - 1,
        days.max_days,
    )
    if row is None:
        return None
    named = _named(row)
    considered = (
        [named.therapist]
        if therapist_id is not None and named.therapist
        else [Therapist(tid, name, frozenset({treatment_id})) for tid, name in row["considered"]]
    )
    return AvailabilityContext(
        named, row["first"], row["last"], considered, _schedules([t.id for t in considered], row["schedule"])
    )


# --- holds and bookings --------------------------------------------------------------------------

# Every write that makes a reservation live or moves one takes its therapist's lock first, for the rest
# of its transaction. Writers of one therapist's time then queue up instead of meeting each other's
# uncommitted rows inside the exclusion constraint, where two concurrent inserts each wait for the
# other: a deadlock that PostgreSQL breaks only after deadlock_timeout, a second per loser in a rush.
# The constraint still decides who wins; it only ever meets committed rows. (A hash collision of two
# therapists costs a little queueing, never correctness.) The first key keeps these locks apart from
# any other advisory lock.
THERAPIST_LOCK_SPACE = 0x74686572  # "ther"
THERAPIST_LOCK = f"pg_advisory_xact_lock({THERAPIST_LOCK_SPACE}, hashtext({{therapist}}::text))"


async def lock_therapist_time(conn: asyncpg.Connection, therapist_id: uuid.UUID) -> None:
    """In the caller's transaction: wait for, then hold, the right to change this therapist's reservations."""
    await conn.execute(f"SELECT {THERAPIST_LOCK.format(therapist='$1::uuid')}", therapist_id)


# A reservation must also stay inside its therapist's schedule, which the clinic changes in transactions of
# their own (services/booking/schedule_changes.py). Such a change first updates the therapist's row (bumping
# its schedule_version, migration 0013); a write that makes or moves a reservation takes that row FOR SHARE
# before it judges the schedule (lock_schedule), or, if it judged it already, only while the row still has
# the version it read (schedule_unchanged, INSERT_HOLD_ANNOUNCED_SQL). Either way one waits for the other,
# and the second sees the first's work. Always the share lock before THERAPIST_LOCK, in every writer: a
# change holds the row and waits for nothing else, so no cycle of waits can form.
async def lock_schedule(conn: asyncpg.Connection, therapist_id: uuid.UUID) -> None:
    """In the caller's transaction, before reading the schedule to judge by: no change to this therapist's
    schedule until it ends (and one under way is waited for)."""
    await conn.execute("SELECT 1 FROM therapists WHERE id = $1 FOR SHARE", therapist_id)


async def schedule_unchanged(conn: asyncpg.Connection, therapist_id: uuid.UUID, version: int) -> bool:
    """lock_schedule, if the schedule is still the one of `version` (waiting for a change under way: its
    committed row is the one compared)."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM therapists WHERE id = $1 AND schedule_version = $2 FOR SHARE", therapist_id, version
        )
    )


# What an expiry marks and announces (reservation.Lapsed): whether the booking had been written
# (payment_id), so that payments can cancel a card payment asked for a booking whose own write then failed.
LAPSED_COLUMNS = "id, clinic_id, series_id, payment_id, status"


async def expire_overlapping_holds(
    conn: asyncpg.Connection, therapist_id: uuid.UUID, blocked: Interval
) -> list[Lapsed]:
    """Mark expired holds in the way of `blocked` as expired, in the caller's transaction, so they stop
    blocking now rather than when the sweeper next runs; those marked, to announce like the sweeper's."""
    return await _lapsed(
        conn,
        await conn.fetch(
            f"UPDATE bookings SET status = 'expired' WHERE therapist_id = $1 AND {EXPIRING} "
            f"AND expires_at <= now() AND blocked && $2 RETURNING {LAPSED_COLUMNS}",
            therapist_id,
            _range(blocked),
        ),
    )


async def _lapsed(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Lapsed]:
    """Holds (or unpaid bookings) just marked expired or released, in the caller's transaction: a waitlist offer
    made of one lapses with it, its entry waiting again (waitlist_store.holds_lapsed)."""
    lapsed = [Lapsed(*row) for row in rows]
    await waitlist_store.holds_lapsed(conn, [one.id for one in lapsed])
    return lapsed


async def release_holds(conn: asyncpg.Connection, hold_or_series_id: uuid.UUID) -> list[Lapsed]:
    """The customer let the hold (or every session of the series) go before booking it: released at once."""
    return await _lapsed(
        conn,
        await conn.fetch(
            f"UPDATE bookings SET status = 'released' WHERE (id = $1 OR series_id = $1) AND {RELEASABLE} "
            f"RETURNING {LAPSED_COLUMNS}",
            hold_or_series_id,
        ),
    )


INSERT_HOLD_COLUMNS = """bookings (id, clinic_id, treatment_id, therapist_id, course_id, series_id, series_index,
                                 starts_at, ends_at, blocked, status, expires_at, price_amount, currency, hold_key)"""
INSERT_HOLD_SQL = f"""INSERT INTO {INSERT_HOLD_COLUMNS}
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'held', $11, $12, $13, $14)"""
# The hold and its event in one statement, so one round trip and its own transaction: both or neither.
# The row to insert is produced only if the therapist's row still has the schedule version $18 that the
# hold was judged by, taken FOR SHARE (see lock_schedule: a schedule change committed meanwhile, or under
# way, leaves nothing to insert, as PostgreSQL compares the row as that change left it); then by the SELECT
# that takes the therapist's lock (see THERAPIST_LOCK; LATERAL: after the share lock), so the insert, and
# its constraint check, wait for the lock. Casts: a SELECT's parameters have no types of their own.
INSERT_HOLD_ANNOUNCED_SQL = f"""
WITH hold AS (
    INSERT INTO {INSERT_HOLD_COLUMNS}
    SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::uuid, $6::uuid, $7::smallint, $8::timestamptz,
           $9::timestamptz, $10::tstzrange, 'held', $11::timestamptz, $12::integer, $13::text, $14::text
    FROM (SELECT id FROM therapists WHERE id = $4::uuid AND schedule_version = $18::bigint FOR SHARE) AS same_schedule,
         LATERAL (SELECT {THERAPIST_LOCK.format(therapist="same_schedule.id")}) AS therapist_lock
    RETURNING id
)
INSERT INTO {OUTBOX_COLUMNS} SELECT $15::uuid, $16::text, $17::jsonb FROM hold"""


def _hold_values(hold: Hold, hold_key: str | None) -> tuple:
    return (
        hold.id,
        hold.clinic_id,
        hold.treatment.id,
        hold.therapist_id,
        hold.course_id,
        hold.series_id,
        hold.series_index,
        hold.start,
        hold.end,
        _range(hold.blocked),
        hold.expires_at,
        hold.price_amount,
        hold.currency,
        hold_key,
    )


async def insert_hold(conn: asyncpg.Connection, hold: Hold, hold_key: str | None) -> None:
    await conn.execute(INSERT_HOLD_SQL, *_hold_values(hold, hold_key))


async def insert_hold_announced(
    conn: asyncpg.Connection, hold: Hold, hold_key: str | None, event: Event, schedule_version: int
) -> bool:
    """The hold and its outbox event, atomically without an explicit transaction; False (neither written) if
    the therapist's schedule is no longer the one of `schedule_version`."""
    status = await conn.execute(
        INSERT_HOLD_ANNOUNCED_SQL, *_hold_values(hold, hold_key), *outbox_row(event), schedule_version
    )
    return status != "INSERT 0 0"


async def holds_for_key(conn: asyncpg.Connection, clinic_id: uuid.UUID, hold_key: str) -> list[Reservation]:
    return [
        _reservation(row)
        for row in await conn.fetch(
            f"SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.clinic_id = $1 AND "
            "(b.hold_key = $2 OR b.series_id = (SELECT series_id FROM bookings WHERE clinic_id = $1 AND hold_key = $2)) "
            "ORDER BY b.series_index NULLS FIRST",
            clinic_id,
            hold_key,
        )
    ]


# What a Reservation is read from (_reservation).
BOOKING_COLUMNS = """b.id, b.clinic_id, b.treatment_id, b.therapist_id, b.course_id, b.series_id, b.series_index,
    b.starts_at, b.ends_at, b.status, b.expires_at, b.customer_name, b.customer_email, b.customer_phone,
    b.price_amount, b.currency, b.confirm_key, b.payment_id, b.voucher, b.created_at, b.booked_by, b.payment_mode,
    b.due_at_clinic, b.payment_policy_words, b.no_show_fee, b.late_cancellation_fee, b.save_card"""


def _reservation(row) -> Reservation:
    customer = None
    if row["customer_email"] is not None:
        customer = Customer(row["customer_name"], row["customer_email"], row["customer_phone"])
    return Reservation(
        id=row["id"],
        clinic_id=row["clinic_id"],
        treatment_id=row["treatment_id"],
        therapist_id=row["therapist_id"],
        start=row["starts_at"],
        end=row["ends_at"],
        status=row["status"],
        expires_at=row["expires_at"],
        price_amount=row["price_amount"],
        currency=row["currency"],
        customer=customer,
        course_id=row["course_id"],
        series_id=row["series_id"],
        series_index=row["series_index"],
        confirm_key=row["confirm_key"],
        payment_id=row["payment_id"],
        voucher=row["voucher"],
        created_at=row["created_at"],
        booked_by=row["booked_by"],
        payment_mode=row["payment_mode"],
        due_at_clinic=row["due_at_clinic"],
        payment_policy_words=row["payment_policy_words"],
        no_show_fee=row["no_show_fee"],
        late_cancellation_fee=row["late_cancellation_fee"],
        save_card=row["save_card"],
    )


async def lock_reservations(conn: asyncpg.Connection, hold_or_series_id: uuid.UUID) -> list[Reservation]:
    """The hold (or every session of the series) with this id, locked for the transaction."""
    return [
        _reservation(row)
        for row in await conn.fetch(
            f"SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.id = $1 OR b.series_id = $1 "
            "ORDER BY b.series_index NULLS FIRST FOR UPDATE",
            hold_or_series_id,
        )
    ]


async def _one(conn: asyncpg.Connection, sql: str, *args) -> Reservation | None:
    row = await conn.fetchrow(sql, *args)
    return _reservation(row) if row else None


async def lock_booking(conn: asyncpg.Connection, booking_id: uuid.UUID) -> Reservation | None:
    return await _one(conn, f"SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.id = $1 FOR UPDATE", booking_id)


async def lock_clinic_booking(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, booking_id: uuid.UUID
) -> Reservation | None:
    return await _one(
        conn,
        f"SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.id = $1 AND b.clinic_id = $2 FOR UPDATE",
        booking_id,
        clinic_id,
    )


async def get_booking(conn: asyncpg.Connection, booking_id: uuid.UUID) -> Reservation | None:
    return await _one(conn, f"SELECT {BOOKING_COLUMNS} FROM bookings b WHERE b.id = $1", booking_id)


async def await_payment(
    conn: asyncpg.Connection, ids: list[uuid.UUID], customer: Customer, confirm_key: str | None, expires_at: datetime
) -> None:
    """The customer's booking, holding the time a little longer while they pay (it confirms on the payment
    event); its payment is attached by attach_payment."""
    await conn.execute(
        """UPDATE bookings SET status = 'pending_payment', expires_at = $5,
                  customer_name = $2, customer_email = $3, customer_phone = $4, confirm_key = $6,
                  customer_birth_date = $7
           WHERE id = ANY($1::uuid[])""",
        ids,
        customer.name,
        customer.email,
        customer.phone,
        expires_at,
        confirm_key,
        customer.date_of_birth,
    )
    await waitlist_store.holds_booked(conn, ids)  # a hold offered from the waitlist: the offer is taken


async def back_to_hold(conn: asyncpg.Connection, ids: list[uuid.UUID], expires_at: datetime) -> None:
    await conn.execute(
        """UPDATE bookings SET status = 'held', expires_at = $2, customer_name = NULL, customer_email = NULL,
                  customer_phone = NULL, customer_birth_date = NULL, confirm_key = NULL WHERE id = ANY($1::uuid[])""",
        ids,
        expires_at,
    )
    await waitlist_store.holds_back(conn, ids)  # an offer's hold again: the offer is open again


async def attach_payment(conn: asyncpg.Connection, ids: list[uuid.UUID], payment_id: uuid.UUID) -> None:
    await conn.execute("UPDATE bookings SET payment_id = $2 WHERE id = ANY($1::uuid[])", ids, payment_id)


async def note_due_at_clinic(conn: asyncpg.Connection, ids: list[uuid.UUID], due: int, words: str | None) -> None:
    """What payments left to pay at the clinic (of the whole booking), and the deposit policy's words."""
    await conn.execute(
        "UPDATE bookings SET due_at_clinic = $2, payment_policy_words = $3 WHERE id = ANY($1::uuid[])", ids, due, words
    )


async def note_fees(
    conn: asyncpg.Connection, ids: list[uuid.UUID], no_show: int | None, late_cancellation: int | None, save_card: bool
) -> None:
    """The fees its policy fixed when it was booked (issue 20; migration 0019), and whether the card was saved."""
    await conn.execute(
        "UPDATE bookings SET no_show_fee = $2, late_cancellation_fee = $3, save_card = $4 WHERE id = ANY($1::uuid[])",
        ids,
        no_show,
        late_cancellation,
        save_card,
    )


async def note_voucher(conn: asyncpg.Connection, ids: list[uuid.UUID], voucher: dict) -> None:
    await conn.execute("UPDATE bookings SET voucher = $2 WHERE id = ANY($1::uuid[])", ids, voucher)


async def confirm_paid(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> None:
    await conn.execute(
        "UPDATE bookings SET status = 'confirmed', confirmed_at = clock_timestamp(), expires_at = NULL "
        "WHERE id = ANY($1::uuid[])",
        ids,
    )


async def cancel_booking(
    conn: asyncpg.Connection, booking_id: uuid.UUID, cancelled_by: str = "customer", reason: str | None = None
) -> None:
    """`reason`: the clinic's, when it cancels on the customer's behalf (migration 0014)."""
    await conn.execute(
        "UPDATE bookings SET status = 'cancelled', cancelled_at = clock_timestamp(), cancelled_by = $2, "
        "cancel_reason = $3 WHERE id = $1",
        booking_id,
        cancelled_by,
        reason,
    )


async def set_outcome(conn: asyncpg.Connection, booking_id: uuid.UUID, status: str) -> None:
    await conn.execute("UPDATE bookings SET status = $2 WHERE id = $1", booking_id, status)


async def move_booking(
    conn: asyncpg.Connection,
    booking_id: uuid.UUID,
    therapist_id: uuid.UUID,
    start: datetime,
    end: datetime,
    blocked: Interval,
) -> None:
    """Reschedule in place (same id, so calendars update the same entry); the constraint guards overlap."""
    await conn.execute(
        """UPDATE bookings SET therapist_id = $2, starts_at = $3, ends_at = $4, blocked = $5,
                  reschedule_count = reschedule_count + 1 WHERE id = $1""",
        booking_id,
        therapist_id,
        start,
        end,
        _range(blocked),
    )


async def claim_expired_holds(conn: asyncpg.Connection, limit: int) -> list[Lapsed]:
    """Mark holds past their expiry as expired (SKIP LOCKED: several sweepers never collide)."""
    return await _lapsed(
        conn,
        await conn.fetch(
            f"""UPDATE bookings SET status = 'expired'
           WHERE id IN (SELECT id FROM bookings WHERE {EXPIRING} AND expires_at <= now()
                        ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING {LAPSED_COLUMNS}""",
            limit,
        ),
    )


# --- screening -----------------------------------------------------------------------------------


async def has_screening_on_file(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> bool:
    """Did this customer answer the screening at this clinic within the last year?"""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM screenings s JOIN bookings b ON b.id = s.booking_id
                          WHERE s.clinic_id = $1 AND lower(b.customer_email) = lower($2)
                            AND s.created_at > now() - interval '1 year')""",
            clinic_id,
            email,
        )
    )


async def insert_screening(
    conn: asyncpg.Connection, booking_id: uuid.UUID, clinic_id: uuid.UUID, version: int, sealed: str, outcome: str
) -> None:
    """`sealed`: the answers and the flags they raised, encrypted (service.seal_screening)."""
    await conn.execute(
        "INSERT INTO screenings (booking_id, clinic_id, questionnaire_version, answers_sealed, outcome) "
        "VALUES ($1, $2, $3, $4, $5)",
        booking_id,
        clinic_id,
        version,
        sealed,
        outcome,
    )


async def delete_screening(conn: asyncpg.Connection, booking_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM screenings WHERE booking_id = $1", booking_id)


async def plain_screenings(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Screenings written before answers were sealed (migration 0007), locked for sealing."""
    return await conn.fetch(
        "SELECT booking_id, answers, flags FROM screenings WHERE answers IS NOT NULL LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )


async def seal_screening(conn: asyncpg.Connection, booking_id: uuid.UUID, sealed: str) -> None:
    await conn.execute(
        "UPDATE screenings SET answers = NULL, flags = '{}', answers_sealed = $2 WHERE booking_id = $1",
        booking_id,
        sealed,
    )


# --- clinic API keys -----------------------------------------------------------------------------


async def insert_api_key(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, prefix: str, key_hash: bytes, name: str
) -> uuid.UUID | None:
    return await conn.fetchval(
        "INSERT INTO api_keys (id, clinic_id, prefix, key_hash, name) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT DO NOTHING RETURNING id",
        uuid.uuid4(),
        clinic_id,
        prefix,
        key_hash,
        name,
    )


# A key works while it is neither revoked nor past the end of its rotation grace period.
LIVE_KEY = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
API_KEY_COLUMNS = "id, name, prefix, created_at, last_used_at, expires_at, revoked_at, replaced_by"


async def clinic_for_key(conn: asyncpg.Connection, key_hash: bytes) -> asyncpg.Record | None:
    """The clinic of a live key (and stamp its use)."""
    return await conn.fetchrow(
        f"""UPDATE api_keys SET last_used_at = now() FROM clinics c
            WHERE api_keys.key_hash = $1 AND {LIVE_KEY} AND c.id = api_keys.clinic_id
            RETURNING api_keys.id AS key_id, api_keys.expires_at, c.id AS clinic_id, c.slug""",
        key_hash,
    )


async def list_api_keys(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE clinic_id = $1 ORDER BY created_at, id", clinic_id
    )


async def count_live_api_keys(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> int:
    return await conn.fetchval(f"SELECT count(*) FROM api_keys WHERE clinic_id = $1 AND {LIVE_KEY}", clinic_id)


async def get_api_key(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, key_id: uuid.UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE clinic_id = $1 AND id = $2{lock}", clinic_id, key_id
    )


async def revoke_api_key(conn: asyncpg.Connection, clinic_id: uuid.UUID, key_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE clinic_id = $1 AND id = $2",
        clinic_id,
        key_id,
    )


async def retire_api_key(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, key_id: uuid.UUID, replaced_by: uuid.UUID, expires_at: datetime
) -> None:
    await conn.execute(
        "UPDATE api_keys SET replaced_by = $3, expires_at = $4 WHERE clinic_id = $1 AND id = $2",
        clinic_id,
        key_id,
        replaced_by,
        expires_at,
    )


# --- clinic staff (dashboard sign-in) ------------------------------------------------------------


async def upsert_staff(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str, name: str, password_hash: str
) -> uuid.UUID:
    return await conn.fetchval(
        """INSERT INTO clinic_staff (id, clinic_id, email, name, password_hash) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (lower(email)) DO UPDATE SET password_hash = EXCLUDED.password_hash, name = EXCLUDED.name
           WHERE clinic_staff.clinic_id = EXCLUDED.clinic_id RETURNING id""",
        uuid.uuid4(),
        clinic_id,
        email,
        name,
        password_hash,
    )


async def stamp_sign_in(conn: asyncpg.Connection, staff_id: uuid.UUID) -> None:
    await conn.execute("UPDATE clinic_staff SET last_sign_in_at = now() WHERE id = $1", staff_id)


# --- the clinic's own view -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicBooking:
    """A booking as the clinic sees it: with the names of its treatment and therapist, and its screening."""

    reservation: Reservation
    treatment_name: str
    therapist_name: str
    screening_outcome: str | None
    screening_sealed: str | None  # the answers and flags, encrypted (service.seal_screening)


# A restricted screening (its customer erased: migration 0016) is as if there were none: only an export shows it.
CLINIC_VIEW = f"""SELECT {BOOKING_COLUMNS}, t.name AS treatment_name, th.name AS therapist_name,
        s.outcome AS screening_outcome, s.answers_sealed AS screening_sealed
    FROM bookings b JOIN treatments t ON t.id = b.treatment_id JOIN therapists th ON th.id = b.therapist_id
    LEFT JOIN screenings s ON s.restricted_at IS NULL AND s.booking_id = coalesce(
        (SELECT f.id FROM bookings f WHERE b.series_id IS NOT NULL AND f.series_id = b.series_id AND f.series_index = 0),
        b.id)"""


def _clinic_booking(row) -> ClinicBooking:
    return ClinicBooking(
        _reservation(row),
        row["treatment_name"],
        row["therapist_name"],
        row["screening_outcome"],
        row["screening_sealed"],
    )


async def clinic_bookings(conn: asyncpg.Connection, clinic_id: uuid.UUID, window: Interval) -> list[ClinicBooking]:
    """The clinic's bookings (not holds) starting in `window`."""
    return [
        _clinic_booking(row)
        for row in await conn.fetch(
            f"""{CLINIC_VIEW} WHERE b.clinic_id = $1 AND b.starts_at >= $2 AND b.starts_at < $3
            AND b.status NOT IN ({_sql_list(UNLISTED_STATUSES)}) ORDER BY b.starts_at""",
            clinic_id,
            window.start,
            window.end,
        )
    ]


async def clinic_booking(conn: asyncpg.Connection, clinic_id: uuid.UUID, booking_id: uuid.UUID) -> ClinicBooking | None:
    """One booking with its screening answers; scoped to the clinic, so another clinic's id is not found."""
    row = await conn.fetchrow(f"{CLINIC_VIEW} WHERE b.clinic_id = $1 AND b.id = $2", clinic_id, booking_id)
    return _clinic_booking(row) if row else None
