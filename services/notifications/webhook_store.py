"""All SQL of clinic webhooks (kept apart from the email tables' store.py). Every query that a clinic's
request reaches is filtered by that clinic's id."""
from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

ENDPOINT_COLUMNS = """id, clinic_id, url, description, event_types, status, disabled_reason, alert_email,
    failing_since, created_at, updated_at"""
DELIVERY_COLUMNS = """id, endpoint_id, clinic_id, event_id, event_type, payload, status, attempts, next_attempt_at,
    last_status, last_error, created_at, delivered_at"""


async def insert_endpoint(conn: asyncpg.Connection, clinic_id: uuid.UUID, url: str, description: str,
                          event_types: list[str], alert_email: str | None, secret: str) -> asyncpg.Record:
    endpoint_id = uuid.uuid4()
    row = await conn.fetchrow(
        f"""INSERT INTO webhook_endpoints (id, clinic_id, url, description, event_types, alert_email)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ENDPOINT_COLUMNS}""",
        endpoint_id, clinic_id, url, description, event_types, alert_email)
    await conn.execute("INSERT INTO webhook_secrets (id, endpoint_id, secret) VALUES ($1, $2, $3)",
                       uuid.uuid4(), endpoint_id, secret)
    return row


async def list_endpoints(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE clinic_id = $1 "
                            "AND deleted_at IS NULL ORDER BY created_at", clinic_id)


async def get_endpoint(conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE clinic_id = $1 AND id = $2 "
                               "AND deleted_at IS NULL", clinic_id, endpoint_id)


async def update_endpoint(conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID, *, url: str,
                          description: str, event_types: list[str], status: str, alert_email: str | None):
    return await conn.fetchrow(
        f"""UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, status = $6, alert_email = $7,
                   disabled_reason = CASE WHEN $6 = 'enabled' THEN NULL ELSE coalesce(disabled_reason, 'by the clinic') END,
                   failing_since = CASE WHEN $6 = 'enabled' THEN NULL ELSE failing_since END,
                   updated_at = clock_timestamp()
            WHERE clinic_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {ENDPOINT_COLUMNS}""",
        clinic_id, endpoint_id, url, description, event_types, status, alert_email)


async def delete_endpoint(conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "UPDATE webhook_endpoints SET deleted_at = clock_timestamp(), status = 'disabled' "
        "WHERE clinic_id = $1 AND id = $2 AND deleted_at IS NULL", clinic_id, endpoint_id)
    return status.endswith(" 1")


async def live_secrets(conn: asyncpg.Connection, endpoint_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch("SELECT secret FROM webhook_secrets WHERE endpoint_id = $1 "
                            "AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC", endpoint_id)
    return [r["secret"] for r in rows]


async def rotate_secret(conn: asyncpg.Connection, endpoint_id: uuid.UUID, secret: str, old_until: datetime) -> None:
    await conn.execute("UPDATE webhook_secrets SET expires_at = least(coalesce(expires_at, $2), $2) "
                       "WHERE endpoint_id = $1", endpoint_id, old_until)
    await conn.execute("INSERT INTO webhook_secrets (id, endpoint_id, secret) VALUES ($1, $2, $3)",
                       uuid.uuid4(), endpoint_id, secret)


async def subscribed_endpoints(conn: asyncpg.Connection, clinic_id: uuid.UUID, clinic_type: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id FROM webhook_endpoints WHERE clinic_id = $1 AND status = 'enabled' AND deleted_at IS NULL "
        "AND $2 = ANY(event_types)", clinic_id, clinic_type)


async def insert_delivery(conn: asyncpg.Connection, endpoint_id: uuid.UUID, clinic_id: uuid.UUID, event_id: uuid.UUID,
                          clinic_type: str, payload: dict, safety_net_seconds: float) -> uuid.UUID | None:
    """A pending delivery. Its first attempt is enqueued right after commit; the dispatcher only takes
    it after `safety_net_seconds` (if that enqueue was lost)."""
    return await conn.fetchval(
        """INSERT INTO webhook_deliveries (id, endpoint_id, clinic_id, event_id, event_type, payload, status,
                                           next_attempt_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'pending', clock_timestamp() + make_interval(secs => $7))
           ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id""",
        uuid.uuid4(), endpoint_id, clinic_id, event_id, clinic_type, payload, safety_net_seconds)


async def lock_delivery_attempt(conn: asyncpg.Connection, delivery_id: uuid.UUID, attempt: int) -> asyncpg.Record | None:
    """The delivery if it is pending at attempt number `attempt`, locked; a duplicate or stale task for
    the same attempt finds nothing and does nothing."""
    return await conn.fetchrow(
        f"""SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
            WHERE id = $1 AND status = 'pending' AND attempts = $2 FOR UPDATE SKIP LOCKED""", delivery_id, attempt)


async def endpoint_for_delivery(conn: asyncpg.Connection, endpoint_id: uuid.UUID) -> asyncpg.Record:
    # Read, not locked: the attempt holds its transaction across the HTTP call, and a lock on the endpoint
    # would stall every other delivery to it and the consumer's new deliveries (their foreign key needs a
    # share lock on this row). Health updates below are single atomic statements.
    return await conn.fetchrow(f"SELECT {ENDPOINT_COLUMNS}, deleted_at FROM webhook_endpoints WHERE id = $1",
                               endpoint_id)


async def record_attempt(conn: asyncpg.Connection, delivery_id: uuid.UUID, *, status_code: int | None,
                         latency_ms: int, response: str | None, error: str | None) -> None:
    await conn.execute(
        "INSERT INTO webhook_attempts (delivery_id, status_code, latency_ms, response, error) VALUES ($1, $2, $3, $4, $5)",
        delivery_id, status_code, latency_ms, response, error)


async def finish_delivery(conn: asyncpg.Connection, delivery_id: uuid.UUID, *, status: str, status_code: int | None,
                          error: str | None, next_attempt_at: datetime | None) -> None:
    await conn.execute(
        """UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, last_status = $3, last_error = $4,
                  next_attempt_at = $5,
                  delivered_at = CASE WHEN $2 = 'delivered' THEN clock_timestamp() ELSE delivered_at END
           WHERE id = $1""", delivery_id, status, status_code, error, next_attempt_at)


async def mark_endpoint_health(conn: asyncpg.Connection, endpoint_id: uuid.UUID, *, ok: bool) -> datetime | None:
    """Clear or start the endpoint's failing streak; the moment it started failing (None if healthy)."""
    if ok:   # no write at all for a healthy endpoint (the common case)
        await conn.execute("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
                           endpoint_id)
        return None
    return await conn.fetchval(
        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, clock_timestamp()) WHERE id = $1 "
        "RETURNING failing_since", endpoint_id)


async def disable_endpoint(conn: asyncpg.Connection, endpoint_id: uuid.UUID, reason: str) -> None:
    await conn.execute("UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2, "
                       "updated_at = clock_timestamp() WHERE id = $1", endpoint_id, reason)


async def claim_due_deliveries(conn: asyncpg.Connection, limit: int, stale_seconds: float) -> list[tuple[uuid.UUID, int]]:
    """Deliveries due for an attempt, as (id, attempt number). Each is pushed `stale_seconds` ahead as it
    is claimed, so two dispatchers never take it together; if its task is lost, it comes due again."""
    rows = await conn.fetch(
        """UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp() + make_interval(secs => $2)
           WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending'
                          AND next_attempt_at <= clock_timestamp()
                        ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, attempts""", limit, stale_seconds)
    return [(r["id"], r["attempts"]) for r in rows]


async def list_deliveries(conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID, status: str | None,
                          limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
            WHERE clinic_id = $1 AND endpoint_id = $2 AND ($3::text IS NULL OR status = $3)
            ORDER BY created_at DESC LIMIT $4""", clinic_id, endpoint_id, status, limit)


async def attempts_of(conn: asyncpg.Connection, delivery_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT delivery_id, attempted_at, status_code, latency_ms, response, error FROM webhook_attempts "
        "WHERE delivery_id = ANY($1::uuid[]) ORDER BY id", delivery_ids)


async def replay(conn: asyncpg.Connection, clinic_id: uuid.UUID, delivery_id: uuid.UUID,
                 safety_net_seconds: float) -> asyncpg.Record | None:
    """Send a delivery again (same webhook-id, so receivers can dedupe), whatever its state; the attempt
    count goes on, so the log keeps every try."""
    return await conn.fetchrow(
        f"""UPDATE webhook_deliveries SET status = 'pending',
                   next_attempt_at = clock_timestamp() + make_interval(secs => $3)
            WHERE clinic_id = $1 AND id = $2 RETURNING {DELIVERY_COLUMNS}""", clinic_id, delivery_id, safety_net_seconds)


async def replay_failed_since(conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID,
                              since: datetime, safety_net_seconds: float) -> list[tuple[uuid.UUID, int]]:
    rows = await conn.fetch(
        """UPDATE webhook_deliveries SET status = 'pending',
                  next_attempt_at = clock_timestamp() + make_interval(secs => $4)
           WHERE clinic_id = $1 AND endpoint_id = $2 AND status = 'failed' AND created_at >= $3
           RETURNING id, attempts""", clinic_id, endpoint_id, since, safety_net_seconds)
    return [(r["id"], r["attempts"]) for r in rows]
