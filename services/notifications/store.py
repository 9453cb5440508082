"""All SQL of the notifications service."""
from __future__ import annotations

import uuid

import asyncpg

from services.notifications.emails import RenderedEmail

# A pending email whose task was enqueued longer ago than this is presumed lost and enqueued again.
REQUEUE_AFTER_SECONDS = 120
REQUEUE_BATCH = 500


async def insert_email(conn: asyncpg.Connection, event_id: uuid.UUID, email: RenderedEmail) -> uuid.UUID | None:
    """Record an email to send, stamped as enqueued (the task is sent right after commit; if that
    fails, the sweep finds the stamp old); None if this event already produced this kind of email."""
    return await conn.fetchval(
        """INSERT INTO emails (id, event_id, kind, to_address, subject, text_body, html_body, enqueued_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp()) ON CONFLICT (event_id, kind) DO NOTHING RETURNING id""",
        uuid.uuid4(), event_id, email.kind, email.to_address, email.subject, email.text_body, email.html_body,
    )


async def lock_pending_email(conn: asyncpg.Connection, email_id: uuid.UUID) -> asyncpg.Record | None:
    """The pending email, locked for this transaction; None if sent, failed, or being sent elsewhere."""
    return await conn.fetchrow(
        "SELECT * FROM emails WHERE id = $1 AND status = 'pending' FOR UPDATE SKIP LOCKED", email_id)


async def mark_sent(conn: asyncpg.Connection, email_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE emails SET status = 'sent', sent_at = clock_timestamp(), attempts = attempts + 1 WHERE id = $1",
        email_id)


async def record_failure(conn: asyncpg.Connection, email_id: uuid.UUID, error: str, give_up: bool) -> None:
    await conn.execute(
        "UPDATE emails SET attempts = attempts + 1, last_error = $2, status = CASE WHEN $3 THEN 'failed' ELSE status END "
        "WHERE id = $1", email_id, error[:1000], give_up)


async def claim_lost_emails(conn: asyncpg.Connection) -> list[uuid.UUID]:
    """Pending emails never enqueued or enqueued long ago; stamps them so two sweeps do not both take them."""
    rows = await conn.fetch(
        """UPDATE emails SET enqueued_at = clock_timestamp()
           WHERE id IN (SELECT id FROM emails
                        WHERE status = 'pending'
                          AND coalesce(enqueued_at, created_at) < clock_timestamp() - make_interval(secs => $1)
                        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id""", REQUEUE_AFTER_SECONDS, REQUEUE_BATCH)
    return [r["id"] for r in rows]
