"""The SQL of a customer's data export and erasure, the privacy audit log, and the daily retention job
(migration 0016). A customer is `lower(customer_email)` at one clinic (callers pass the email normalised,
privacy_rules.normalise_email), or, once erased, the subject key of their restricted screenings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from shared.db import Connection

# The statuses of a booking still in progress, and those that are a visit (privacy_rules' retention anchor;
# screenings_to_date says the same in its SQL).
LIVE_STATUSES = ("held", "pending_payment", "confirmed")
VISIT_STATUSES = ("confirmed", "completed")

# The customer's bookings by their email. `customer_email IS NOT NULL` lets the planner use the partial index
# bookings_customer (clinic_id, lower(customer_email)).
_BY_EMAIL = "b.clinic_id = $1 AND b.customer_email IS NOT NULL AND lower(b.customer_email) = $2"


# --- export --------------------------------------------------------------------------------------


async def bookings_for_export(conn: Connection, clinic_id: uuid.UUID, email: str, subject_key: bytes) -> list:
    """Everything a booking holds about its customer, with its screening (sealed as stored): those booked with
    this email, and the erased ones that still keep a restricted screening of this subject. Oldest first."""
    return await conn.fetch(
        f"""SELECT b.id, b.starts_at, b.ends_at, b.status, b.price_amount, b.currency, b.booked_by, b.payment_mode,
                   b.cancelled_by, b.cancel_reason, b.voucher, b.created_at, b.confirmed_at, b.cancelled_at,
                   b.erased_at, b.customer_name, b.customer_email, b.customer_phone, b.customer_birth_date,
                   b.treatment_id, t.name AS treatment_name, b.therapist_id, th.name AS therapist_name,
                   b.course_id, c.name AS course_name, b.series_id, b.series_index,
                   s.booking_id AS screening_of, s.questionnaire_version, s.answers, s.answers_sealed, s.outcome,
                   s.flags, s.created_at AS answered_at, s.restricted_at, s.retain_until
            FROM bookings b
            JOIN treatments t ON t.id = b.treatment_id
            JOIN therapists th ON th.id = b.therapist_id
            LEFT JOIN courses c ON c.id = b.course_id
            LEFT JOIN screenings s ON s.booking_id = b.id
            WHERE ({_BY_EMAIL})
               OR (b.clinic_id = $1 AND b.id IN (
                       SELECT r.booking_id FROM screenings r
                       WHERE r.clinic_id = $1 AND r.subject_key = $3 AND r.restricted_at IS NOT NULL))
            ORDER BY b.starts_at, b.id""",
        clinic_id,
        email,
        subject_key,
    )


async def actions_of(conn: Connection, clinic_id: uuid.UUID, booking_ids: list[uuid.UUID]) -> list:
    return await conn.fetch(
        "SELECT booking_id, action, role, detail, at FROM booking_actions "
        "WHERE clinic_id = $1 AND booking_id = ANY($2::uuid[]) ORDER BY id",
        clinic_id,
        booking_ids,
    )


# --- erasure -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """What the bookings of one customer at one clinic say about them: what an erasure changes and what stops it,
    and what their health answers' retention date counts from."""

    bookings: list[uuid.UUID]  # booked with the email (none is erased yet: erasing takes the email away)
    upcoming: list[tuple[uuid.UUID, datetime]]  # those still in progress and ending after `now`: id, start
    screenings: list  # their unrestricted screenings: booking_id, answered_on (the clinic's date)
    last_visit: date | None  # the customer's last visit (the clinic's date), if any
    birth_date: date | None  # the latest date of birth they gave, if any
    restricted: int  # screenings of this subject restricted already (by an earlier erasure)
    names: list[str]  # the names they booked under


async def find_customer(
    conn: Connection, clinic_id: uuid.UUID, email: str, subject_key: bytes, now: datetime, *, lock: bool
) -> Found:
    """`lock`: for the erasure itself, in its transaction (the bookings and their screenings, FOR UPDATE)."""
    locking = "FOR UPDATE OF b" if lock else ""
    rows = await conn.fetch(
        f"""SELECT b.id, b.status, b.starts_at, b.ends_at, b.created_at, b.customer_birth_date, b.customer_name,
                   (b.starts_at AT TIME ZONE c.timezone)::date AS visit_day
            FROM bookings b JOIN clinics c ON c.id = b.clinic_id
            WHERE {_BY_EMAIL} {locking}""",
        clinic_id,
        email,
    )
    ids = [r["id"] for r in rows]
    upcoming = [(r["id"], r["starts_at"]) for r in rows if r["status"] in LIVE_STATUSES and r["ends_at"] > now]
    visits = [r["visit_day"] for r in rows if r["status"] in VISIT_STATUSES and r["starts_at"] <= now]
    born = [r for r in rows if r["customer_birth_date"] is not None]
    birth_date = max(born, key=lambda r: r["created_at"])["customer_birth_date"] if born else None
    screenings = await conn.fetch(
        f"""SELECT s.booking_id, (s.created_at AT TIME ZONE c.timezone)::date AS answered_on
            FROM screenings s JOIN clinics c ON c.id = s.clinic_id
            WHERE s.booking_id = ANY($1::uuid[]) AND s.restricted_at IS NULL
            ORDER BY s.booking_id {"FOR UPDATE OF s" if lock else ""}""",
        ids,
    )
    restricted = await conn.fetchval(
        "SELECT count(*) FROM screenings WHERE clinic_id = $1 AND subject_key = $2 AND restricted_at IS NOT NULL",
        clinic_id,
        subject_key,
    )
    names = sorted({r["customer_name"] for r in rows if r["customer_name"]})
    return Found(ids, upcoming, list(screenings), max(visits, default=None), birth_date, restricted, names)


async def restrict_screenings(
    conn: Connection, booking_ids: list[uuid.UUID], retain_until: list[date], subject_key: bytes, now: datetime
) -> None:
    """Kept until their retention date, frozen now, and found by the subject key from now on."""
    await conn.execute(
        """UPDATE screenings s SET restricted_at = $4, subject_key = $3, retain_until = u.retain_until
           FROM unnest($1::uuid[], $2::date[]) AS u (booking_id, retain_until)
           WHERE s.booking_id = u.booking_id""",
        booking_ids,
        retain_until,
        subject_key,
        now,
    )


async def delete_screenings(conn: Connection, booking_ids: list[uuid.UUID]) -> None:
    await conn.execute("DELETE FROM screenings WHERE booking_id = ANY($1::uuid[])", booking_ids)


async def anonymise_bookings(conn: Connection, booking_ids: list[uuid.UUID], now: datetime) -> None:
    """The booking stays (the clinic's accounts, a restricted screening's context) without its person: name,
    email, phone, date of birth, and the clinic's free-text reason for cancelling (it may name them); so does the
    reason in the clinic's log of its actions."""
    await conn.execute(
        """UPDATE bookings SET customer_name = NULL, customer_email = NULL, customer_phone = NULL,
                  customer_birth_date = NULL, cancel_reason = NULL, erased_at = $2
           WHERE id = ANY($1::uuid[])""",
        booking_ids,
        now,
    )
    await conn.execute(
        """UPDATE booking_actions SET detail = jsonb_set(detail, '{reason}', '"[erased]"')
           WHERE booking_id = ANY($1::uuid[]) AND detail ? 'reason'""",
        booking_ids,
    )


# --- the audit log -------------------------------------------------------------------------------

REQUEST_COLUMNS = "id, kind, email_masked, role, staff_id, counts, at"


async def insert_request(
    conn: Connection,
    clinic_id: uuid.UUID,
    kind: str,
    subject_key: bytes,
    email_masked: str,
    role: str,
    staff_id: uuid.UUID | None,
    counts: dict,
):
    return await conn.fetchrow(
        f"""INSERT INTO privacy_requests (id, clinic_id, kind, subject_key, email_masked, role, staff_id, counts)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {REQUEST_COLUMNS}""",
        uuid.uuid4(),
        clinic_id,
        kind,
        subject_key,
        email_masked,
        role,
        staff_id,
        counts,
    )


async def requests_of_clinic(conn: Connection, clinic_id: uuid.UUID, limit: int) -> list:
    return await conn.fetch(
        f"SELECT {REQUEST_COLUMNS} FROM privacy_requests WHERE clinic_id = $1 ORDER BY at DESC, id LIMIT $2",
        clinic_id,
        limit,
    )


async def requests_of_subject(conn: Connection, clinic_id: uuid.UUID, subject_key: bytes) -> list:
    return await conn.fetch(
        f"SELECT {REQUEST_COLUMNS} FROM privacy_requests WHERE clinic_id = $1 AND subject_key = $2 ORDER BY at, id",
        clinic_id,
        subject_key,
    )


# --- the daily retention job ---------------------------------------------------------------------


async def screenings_to_date(conn: Connection, now: datetime, after: uuid.UUID | None, limit: int) -> list:
    """One batch (by booking id, after `after`) of the unrestricted screenings whose retention date must be worked
    out (again): never dated, or whose facts moved on since it was (the dated_* columns, migration 0020). Each with
    its facts (privacy_rules): the day it was answered, and its customer's last visit and latest date of birth at
    that clinic (by email; a booking with no email left is its own customer). Dates are the clinic's. Every other
    screening keeps its date as it is, unread."""
    return await conn.fetch(
        """WITH customers AS (
                -- One row per customer (clinic and email) who has a screening.
                SELECT b.clinic_id, lower(b.customer_email) AS email,
                       max((b.starts_at AT TIME ZONE c.timezone)::date)
                           FILTER (WHERE b.status IN ('confirmed', 'completed') AND b.starts_at <= $1) AS last_visit,
                       (array_agg(b.customer_birth_date ORDER BY b.created_at DESC)
                           FILTER (WHERE b.customer_birth_date IS NOT NULL))[1] AS birth_date
                FROM bookings b JOIN clinics c ON c.id = b.clinic_id
                WHERE b.customer_email IS NOT NULL
                  AND (b.clinic_id, lower(b.customer_email)) IN (
                      SELECT sb.clinic_id, lower(sb.customer_email)
                      FROM screenings ss JOIN bookings sb ON sb.id = ss.booking_id
                      WHERE ss.restricted_at IS NULL AND sb.customer_email IS NOT NULL)
                GROUP BY b.clinic_id, lower(b.customer_email)
            ),
            facts AS (
                -- Every unrestricted screening with its facts now, and those its date was worked out from.
                SELECT s.booking_id, s.retain_until, (s.created_at AT TIME ZONE c.timezone)::date AS answered_on,
                       cu.last_visit, coalesce(cu.birth_date, b.customer_birth_date) AS birth_date,
                       s.dated_answered_on, s.dated_last_visit, s.dated_birth_date
                FROM screenings s
                JOIN bookings b ON b.id = s.booking_id
                JOIN clinics c ON c.id = s.clinic_id
                LEFT JOIN customers cu ON cu.clinic_id = b.clinic_id AND cu.email = lower(b.customer_email)
                WHERE s.restricted_at IS NULL AND ($2::uuid IS NULL OR s.booking_id > $2)
            )
            SELECT booking_id, retain_until, answered_on, last_visit, birth_date FROM facts
            WHERE retain_until IS NULL
               OR (answered_on, last_visit, birth_date)
                  IS DISTINCT FROM (dated_answered_on, dated_last_visit, dated_birth_date)
            ORDER BY booking_id LIMIT $3""",
        now,
        after,
        limit,
    )


async def set_retain_until(conn: Connection, rows: list, retain_until: list[date]) -> None:
    """Each screening of `rows` (screenings_to_date's) dated `retain_until`, from the facts the row holds."""
    await conn.execute(
        """UPDATE screenings s SET retain_until = u.retain_until, dated_answered_on = u.answered_on,
                  dated_last_visit = u.last_visit, dated_birth_date = u.birth_date
           FROM unnest($1::uuid[], $2::date[], $3::date[], $4::date[], $5::date[])
                AS u (booking_id, retain_until, answered_on, last_visit, birth_date)
           WHERE s.booking_id = u.booking_id""",
        [row["booking_id"] for row in rows],
        retain_until,
        [row["answered_on"] for row in rows],
        [row["last_visit"] for row in rows],
        [row["birth_date"] for row in rows],
    )


async def delete_screenings_past(conn: Connection, today: date) -> tuple[int, int]:
    """Screenings whose retention date has passed: (all deleted, of which restricted)."""
    row = await conn.fetchrow(
        """WITH gone AS (DELETE FROM screenings WHERE retain_until < $1 RETURNING restricted_at)
           SELECT count(*) AS deleted, count(restricted_at) AS restricted FROM gone""",
        today,
    )
    return row["deleted"], row["restricted"]


async def delete_ended_staff_sessions(conn: Connection, before: datetime) -> int:
    """Sessions that expired or were signed out before `before` (nothing refers to them)."""
    return await conn.fetchval(
        """WITH gone AS (DELETE FROM staff_sessions WHERE least(expires_at, revoked_at) < $1 RETURNING 1)
           SELECT count(*) FROM gone""",
        before,
    )


async def delete_ended_password_links(conn: Connection, before: datetime) -> int:
    """Set-password links used or expired before `before`."""
    return await conn.fetchval(
        """WITH gone AS (DELETE FROM staff_password_links WHERE least(expires_at, used_at) < $1 RETURNING 1)
           SELECT count(*) FROM gone""",
        before,
    )
