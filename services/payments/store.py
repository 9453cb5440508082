"""All SQL of the payments service."""
from __future__ import annotations

import uuid

import asyncpg

PAYMENT_COLUMNS = """id, clinic_id, purpose, reference_id, amount, currency, customer_email, stripe_payment_intent,
    client_secret, status, amount_refunded, created_at, succeeded_at"""


async def record_stripe_event(conn: asyncpg.Connection, event: dict) -> bool:
    """True if this Stripe event id is new."""
    return bool(await conn.fetchval(
        "INSERT INTO stripe_events (id, type, livemode, payload) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (id) DO NOTHING RETURNING true",
        event["id"], event["type"], bool(event.get("livemode")), event))


async def payment_for(conn: asyncpg.Connection, purpose: str, reference_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE purpose = $1 AND reference_id = $2",
                               purpose, reference_id)


async def insert_payment(conn: asyncpg.Connection, *, payment_id: uuid.UUID, clinic_id: uuid.UUID, purpose: str,
                         reference_id: uuid.UUID, amount: int, currency: str, customer_email: str | None,
                         intent_id: str, client_secret: str | None, status: str) -> asyncpg.Record | None:
    """The new row, or None if this reference already has a payment (a concurrent request won)."""
    return await conn.fetchrow(
        f"""INSERT INTO payments (id, clinic_id, purpose, reference_id, amount, currency, customer_email,
                                  stripe_payment_intent, client_secret, status, succeeded_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                    CASE WHEN $10 = 'succeeded' THEN clock_timestamp() END)
            ON CONFLICT (purpose, reference_id) DO NOTHING RETURNING {PAYMENT_COLUMNS}""",
        payment_id, clinic_id, purpose, reference_id, amount, currency, customer_email, intent_id, client_secret,
        status)


async def lock_payment_by_intent(conn: asyncpg.Connection, intent_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE stripe_payment_intent = $1 FOR UPDATE",
                               intent_id)


async def lock_payment(conn: asyncpg.Connection, purpose: str, reference_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE purpose = $1 AND reference_id = $2 FOR UPDATE",
        purpose, reference_id)


async def set_status(conn: asyncpg.Connection, payment_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        "UPDATE payments SET status = $2, updated_at = clock_timestamp(), "
        "succeeded_at = CASE WHEN $2 = 'succeeded' THEN clock_timestamp() ELSE succeeded_at END WHERE id = $1",
        payment_id, status)


async def stale_open_payments(conn: asyncpg.Connection, older_than_seconds: float, limit: int) -> list[asyncpg.Record]:
    """Payments still waiting on Stripe after a while, locked so two reconcilers share the work."""
    return await conn.fetch(
        f"""SELECT {PAYMENT_COLUMNS} FROM payments
            WHERE status IN ('requires_payment', 'processing')
              AND created_at < clock_timestamp() - make_interval(secs => $1)
            ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED""", older_than_seconds, limit)


async def insert_refund(conn: asyncpg.Connection, *, payment_id: uuid.UUID, amount: int, reason: str,
                        cause_event_id: uuid.UUID) -> uuid.UUID | None:
    """A refund row for this cause, or None if the cause was already refunded."""
    return await conn.fetchval(
        "INSERT INTO refunds (id, payment_id, amount, reason, status, cause_event_id) "
        "VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT (cause_event_id) DO NOTHING RETURNING id",
        uuid.uuid4(), payment_id, amount, reason, cause_event_id)


async def complete_refund(conn: asyncpg.Connection, refund_id: uuid.UUID, payment_id: uuid.UUID,
                          stripe_refund_id: str, status: str, amount: int) -> None:
    await conn.execute("UPDATE refunds SET stripe_refund_id = $2, status = $3 WHERE id = $1",
                       refund_id, stripe_refund_id, status)
    await conn.execute("UPDATE payments SET amount_refunded = amount_refunded + $2, updated_at = clock_timestamp() "
                       "WHERE id = $1", payment_id, amount)
