"""All SQL of the email wing's sends: `emails` rows (rendered when their event was handled), appointment
`reminders` and gift `voucher_deliveries` (rendered at send time). A claimed reminder is read together with its
booking from the projection; the projection's own SQL (bookings, clinics) is projection.py's."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import asyncpg

from services.notifications.emails.projection import booking_from_row
from services.notifications.emails.reminders import BookingView, PlannedReminder
from services.notifications.emails.rendering import RenderedEmail

REQUEUE_BATCH = 500
CLAIM_BATCH = 500


# --- emails --------------------------------------------------------------------------------------


async def insert_email(
    conn: asyncpg.Connection, event_id: uuid.UUID, email: RenderedEmail, *, clinic_id: str | None = None
) -> uuid.UUID | None:
    """Record an email to send, stamped as enqueued (the task is sent right after commit; if that
    fails, the sweep finds the stamp old); None if this event already produced this kind of email (an
    erased one included: its row stays, so a replayed event sends nothing). `clinic_id`: the clinic of the
    event that caused it, whose privacy requests reach it (None: no clinic's)."""
    return await conn.fetchval(
        """INSERT INTO emails (id, event_id, kind, to_address, subject, text_body, html_body, from_name, attachments,
                               enqueued_at, clinic_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp(), $10)
           ON CONFLICT (event_id, kind) DO NOTHING RETURNING id""",
        uuid.uuid4(),
        event_id,
        email.kind,
        email.to_address,
        email.subject,
        email.text_body,
        email.html_body,
        email.from_name,
        [a.to_json() for a in email.attachments],
        clinic_id,
    )


async def insert_unrenderable_email(
    conn: asyncpg.Connection, event_id: uuid.UUID, kind: str, error: str, *, clinic_id: str | None = None
) -> None:
    """An email that could not be rendered (a template or data error): recorded as failed, so it is seen
    and can be fixed, while the event's other effects still commit."""
    await conn.execute(
        """INSERT INTO emails (id, event_id, kind, to_address, subject, text_body, status, last_error, clinic_id)
           VALUES ($1, $2, $3, '', '', '', 'failed', $4, $5) ON CONFLICT (event_id, kind) DO NOTHING""",
        uuid.uuid4(),
        event_id,
        kind,
        error[:1000],
        clinic_id,
    )


async def lock_pending_email(conn: asyncpg.Connection, email_id: uuid.UUID) -> asyncpg.Record | None:
    """The pending email, locked for this transaction; None if sent, failed, or being sent elsewhere."""
    return await conn.fetchrow(
        "SELECT * FROM emails WHERE id = $1 AND status = 'pending' FOR UPDATE SKIP LOCKED", email_id
    )


async def mark_sent(conn: asyncpg.Connection, email_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE emails SET status = 'sent', sent_at = clock_timestamp(), attempts = attempts + 1 WHERE id = $1",
        email_id,
    )


async def record_failure(
    conn: asyncpg.Connection, email_id: uuid.UUID, error: str, give_up: bool, retry_in: float = 0
) -> None:
    """A failed try; the next is due in `retry_in` seconds, so the sweep does not presume the task lost
    (and start a second retry chain) before then."""
    await conn.execute(
        """UPDATE emails SET attempts = attempts + 1, last_error = $2,
                             status = CASE WHEN $3 THEN 'failed' ELSE status END,
                             enqueued_at = clock_timestamp() + make_interval(secs => $4)
           WHERE id = $1""",
        email_id,
        error[:1000],
        give_up,
        retry_in,
    )


async def claim_lost_emails(conn: asyncpg.Connection, lost_after: float) -> list[uuid.UUID]:
    """Pending emails never enqueued, or enqueued over `lost_after` seconds ago (settings.lost_task_seconds);
    stamps them so two sweeps do not both take them."""
    rows = await conn.fetch(
        """UPDATE emails SET enqueued_at = clock_timestamp()
           WHERE id IN (SELECT id FROM emails
                        WHERE status = 'pending'
                          AND coalesce(enqueued_at, created_at) < clock_timestamp() - make_interval(secs => $1)
                        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        lost_after,
        REQUEUE_BATCH,
    )
    return [r["id"] for r in rows]


# --- reminders -----------------------------------------------------------------------------------


async def cancel_live_reminders(conn: asyncpg.Connection, booking_id: uuid.UUID) -> int:
    """Planned or claimed reminders of a booking stop here (cancelled, or moved and planned anew). A reminder
    being sent at this moment holds its row lock: this waits, then finds it sent and leaves it."""
    result = await conn.execute(
        "UPDATE reminders SET status = 'cancelled' WHERE booking_id = $1 AND status IN ('planned', 'claimed')",
        booking_id,
    )
    return int(result.split()[-1])


async def insert_reminders(
    conn: asyncpg.Connection, booking_id: uuid.UUID, start: datetime, planned: list[PlannedReminder]
) -> None:
    await conn.executemany(
        """INSERT INTO reminders (id, booking_id, offset_minutes, planned_start, due_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (booking_id, offset_minutes) WHERE status IN ('planned', 'claimed') DO NOTHING""",
        [(uuid.uuid4(), booking_id, p.offset_minutes, start, p.due_at) for p in planned],
    )


async def claim_due_reminders(
    conn: asyncpg.Connection, now: datetime, lost_after: float, limit: int = CLAIM_BATCH
) -> list[uuid.UUID]:
    """Take due reminders (and claimed ones whose send task looks lost: claimed over `lost_after` seconds
    ago) for this beat alone. The inner SELECT skips rows another beat has locked; once it commits they
    are 'claimed' and no longer match, so two beats running at once never both take a reminder."""
    rows = await conn.fetch(
        """UPDATE reminders SET status = 'claimed', claimed_at = clock_timestamp()
           WHERE id IN (SELECT id FROM reminders
                        WHERE (status = 'planned' AND due_at <= $1)
                           OR (status = 'claimed' AND claimed_at < clock_timestamp() - make_interval(secs => $2))
                        ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        now,
        lost_after,
        limit,
    )
    return [r["id"] for r in rows]


async def lock_claimed_reminder(
    conn: asyncpg.Connection, reminder_id: uuid.UUID
) -> tuple[asyncpg.Record, BookingView | None] | None:
    """The claimed reminder, locked for this transaction (None if sent, cancelled, or being sent elsewhere),
    and its booking as the projection has it now."""
    row = await conn.fetchrow(
        """SELECT r.id, r.booking_id, r.offset_minutes, r.planned_start, b.clinic_id, b.status, b.starts_at, b.ends_at,
                  b.customer_name, b.customer_email, b.clinic_name, b.clinic_timezone, b.treatment_name,
                  b.therapist_name, b.manage_url, b.series_index
           FROM reminders r LEFT JOIN booking_projection b ON b.booking_id = r.booking_id
           WHERE r.id = $1 AND r.status = 'claimed' FOR UPDATE OF r SKIP LOCKED""",
        reminder_id,
    )
    if row is None:
        return None
    return row, None if row["status"] is None else booking_from_row(row)


async def finish_reminder(
    conn: asyncpg.Connection, reminder_id: uuid.UUID, status: str, error: str | None = None
) -> None:
    """sent, skipped (no longer wanted) or failed (cannot be rendered)."""
    await conn.execute(
        """UPDATE reminders SET status = $2, last_error = coalesce($3, last_error),
                                attempts = attempts + CASE WHEN $2 = 'skipped' THEN 0 ELSE 1 END,
                                sent_at = CASE WHEN $2 = 'sent' THEN clock_timestamp() END
           WHERE id = $1""",
        reminder_id,
        status,
        error[:1000] if error else None,
    )


async def record_reminder_failure(
    conn: asyncpg.Connection, reminder_id: uuid.UUID, error: str, give_up: bool, retry_in: float = 0
) -> None:
    """As record_failure: the claim is renewed until the retry is due."""
    await conn.execute(
        """UPDATE reminders SET attempts = attempts + 1, last_error = $2,
                                status = CASE WHEN $3 THEN 'failed' ELSE status END,
                                claimed_at = clock_timestamp() + make_interval(secs => $4)
           WHERE id = $1""",
        reminder_id,
        error[:1000],
        give_up,
        retry_in,
    )


# --- gift voucher deliveries ---------------------------------------------------------------------


async def plan_voucher_delivery(
    conn: asyncpg.Connection,
    *,
    voucher_id: uuid.UUID,
    event_id: uuid.UUID,
    clinic_id: str | None,
    deliver_on: date,
    due_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO voucher_deliveries (id, voucher_id, event_id, clinic_id, deliver_on, due_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (voucher_id) DO NOTHING""",
        uuid.uuid4(),
        voucher_id,
        event_id,
        clinic_id,
        deliver_on,
        due_at,
    )


async def replan_voucher_delivery(
    conn: asyncpg.Connection, voucher_id: uuid.UUID, deliver_on: date, due_at: datetime
) -> None:
    """A gift not yet sent goes on another day (one already claimed or sent is past changing)."""
    await conn.execute(
        "UPDATE voucher_deliveries SET deliver_on = $2, due_at = $3 WHERE voucher_id = $1 AND status = 'planned'",
        voucher_id,
        deliver_on,
        due_at,
    )


async def claim_due_voucher_deliveries(
    conn: asyncpg.Connection, now: datetime, lost_after: float, limit: int = CLAIM_BATCH
) -> list[uuid.UUID]:
    """As claim_due_reminders: each due delivery goes to one beat only."""
    rows = await conn.fetch(
        """UPDATE voucher_deliveries SET status = 'claimed', claimed_at = clock_timestamp()
           WHERE id IN (SELECT id FROM voucher_deliveries
                        WHERE (status = 'planned' AND due_at <= $1)
                           OR (status = 'claimed' AND claimed_at < clock_timestamp() - make_interval(secs => $2))
                        ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        now,
        lost_after,
        limit,
    )
    return [r["id"] for r in rows]


async def lock_claimed_voucher_delivery(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM voucher_deliveries WHERE id = $1 AND status = 'claimed' FOR UPDATE SKIP LOCKED", delivery_id
    )


async def finish_voucher_delivery(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, status: str, error: str | None = None
) -> None:
    """sent, cancelled (the voucher was voided) or failed (no such voucher, or cannot be rendered)."""
    await conn.execute(
        """UPDATE voucher_deliveries SET status = $2, last_error = coalesce($3, last_error), attempts = attempts + 1,
                                         sent_at = CASE WHEN $2 = 'sent' THEN clock_timestamp() END
           WHERE id = $1""",
        delivery_id,
        status,
        error[:1000] if error else None,
    )


async def record_voucher_delivery_failure(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, error: str, give_up: bool, retry_in: float = 0
) -> None:
    """As record_failure: the claim is renewed until the retry is due."""
    await conn.execute(
        """UPDATE voucher_deliveries SET attempts = attempts + 1, last_error = $2,
                                         status = CASE WHEN $3 THEN 'failed' ELSE status END,
                                         claimed_at = clock_timestamp() + make_interval(secs => $4)
           WHERE id = $1""",
        delivery_id,
        error[:1000],
        give_up,
        retry_in,
    )
