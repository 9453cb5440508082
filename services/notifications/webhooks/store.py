"""All SQL of clinic webhooks: endpoints, their secrets, deliveries and attempts (the email wing's tables are
emails/store.py's). Every query that a clinic's request reaches is filtered by that clinic's id."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

ENDPOINT_COLUMNS = """id, clinic_id, url, description, event_types, status, disabled_reason, alert_email,
    failing_since, created_at, updated_at"""
DELIVERY_COLUMNS = """id, endpoint_id, clinic_id, event_id, event_type, payload, status, attempts, next_attempt_at,
    last_status, last_error, created_at, delivered_at, payload_pruned_at"""


async def insert_endpoint(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    url: str,
    description: str,
    event_types: list[str],
    alert_email: str | None,
    secret: str,
) -> asyncpg.Record:
    endpoint_id = uuid.uuid4()
    row = await conn.fetchrow(
        f"""INSERT INTO webhook_endpoints (id, clinic_id, url, description, event_types, alert_email)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ENDPOINT_COLUMNS}""",
        endpoint_id,
        clinic_id,
        url,
        description,
        event_types,
        alert_email,
    )
    await conn.execute(
        "INSERT INTO webhook_secrets (id, endpoint_id, secret) VALUES ($1, $2, $3)", uuid.uuid4(), endpoint_id, secret
    )
    return row


async def lock_and_count_live_endpoints(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> int:
    """The clinic's endpoints not deleted, counted under a transaction-scoped lock on the clinic's endpoints, so
    that registrations at the same moment are counted one after another (the limit cannot be raced past)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('webhook_endpoints:' || $1::uuid::text))", clinic_id)
    return await conn.fetchval(
        "SELECT count(*) FROM webhook_endpoints WHERE clinic_id = $1 AND deleted_at IS NULL", clinic_id
    )


async def list_endpoints(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE clinic_id = $1 "
        "AND deleted_at IS NULL ORDER BY created_at",
        clinic_id,
    )


async def get_endpoint(conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE clinic_id = $1 AND id = $2 AND deleted_at IS NULL",
        clinic_id,
        endpoint_id,
    )


async def update_endpoint(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    url: str,
    description: str,
    event_types: list[str],
    status: str,
    alert_email: str | None,
):
    return await conn.fetchrow(
        f"""UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, status = $6, alert_email = $7,
                   disabled_reason = CASE WHEN $6 = 'enabled' THEN NULL ELSE coalesce(disabled_reason, 'by the clinic') END,
                   failing_since = CASE WHEN $6 = 'enabled' THEN NULL ELSE failing_since END,
                   updated_at = clock_timestamp()
            WHERE clinic_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {ENDPOINT_COLUMNS}""",
        clinic_id,
        endpoint_id,
        url,
        description,
        event_types,
        status,
        alert_email,
    )


async def delete_endpoint(conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "UPDATE webhook_endpoints SET deleted_at = clock_timestamp(), status = 'disabled' "
        "WHERE clinic_id = $1 AND id = $2 AND deleted_at IS NULL",
        clinic_id,
        endpoint_id,
    )
    return status.endswith(" 1")


async def rotate_secret(conn: asyncpg.Connection, endpoint_id: uuid.UUID, secret: str, old_until: datetime) -> None:
    await conn.execute(
        "UPDATE webhook_secrets SET expires_at = least(coalesce(expires_at, $2), $2) WHERE endpoint_id = $1",
        endpoint_id,
        old_until,
    )
    await conn.execute(
        "INSERT INTO webhook_secrets (id, endpoint_id, secret) VALUES ($1, $2, $3)", uuid.uuid4(), endpoint_id, secret
    )


async def insert_deliveries(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    clinic_type: str,
    event_id: uuid.UUID,
    payload: dict,
    safety_net_seconds: float,
) -> list[uuid.UUID]:
    """A pending delivery of the event to each of the clinic's enabled endpoints subscribed to its type, in one
    statement; the ids of those not recorded before. Their first attempts are enqueued right after commit;
    the dispatcher only takes one after `safety_net_seconds` (if that enqueue was lost)."""
    rows = await conn.fetch(
        """INSERT INTO webhook_deliveries (id, endpoint_id, clinic_id, event_id, event_type, payload, status,
                                           next_attempt_at)
           SELECT gen_random_uuid(), e.id, $1, $3, $2, $4, 'pending', clock_timestamp() + make_interval(secs => $5)
           FROM webhook_endpoints e
           WHERE e.clinic_id = $1 AND e.status = 'enabled' AND e.deleted_at IS NULL AND $2 = ANY(e.event_types)
           ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id""",
        clinic_id,
        clinic_type,
        event_id,
        payload,
        safety_net_seconds,
    )
    return [r["id"] for r in rows]


async def insert_delivery(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    event_type: str,
    payload: dict,
    safety_net_seconds: float,
) -> asyncpg.Record:
    """One pending delivery to one endpoint, of an event of its own (a test event), as insert_deliveries makes
    them: its first attempt is enqueued after commit, the dispatcher's safety net takes it if that is lost."""
    return await conn.fetchrow(
        f"""INSERT INTO webhook_deliveries (id, endpoint_id, clinic_id, event_id, event_type, payload, status,
                                            next_attempt_at)
            VALUES (gen_random_uuid(), $2, $1, gen_random_uuid(), $3, $4, 'pending',
                    clock_timestamp() + make_interval(secs => $5))
            RETURNING {DELIVERY_COLUMNS}""",
        clinic_id,
        endpoint_id,
        event_type,
        payload,
        safety_net_seconds,
    )


async def lock_delivery_attempt(
    conn: asyncpg.Connection, delivery_id: uuid.UUID, attempt: int
) -> asyncpg.Record | None:
    """The delivery if it is pending at attempt number `attempt`, locked, with what the attempt needs of its
    endpoint (url, status, deleted_at, alert_email) and the endpoint's live secrets (newest first), in one
    round trip; a duplicate or stale task for the same attempt finds nothing and does nothing."""
    # Only the delivery row is locked (FOR UPDATE OF d): the attempt holds its transaction across the HTTP
    # call, and a lock on the endpoint would stall every other delivery to it and the consumer's new
    # deliveries (their foreign key needs a share lock on that row). Health updates are atomic statements.
    return await conn.fetchrow(
        """SELECT d.id, d.endpoint_id, d.clinic_id, d.payload, d.attempts, e.url, e.status AS endpoint_status,
                  e.deleted_at, e.alert_email,
                  ARRAY(SELECT s.secret FROM webhook_secrets s
                        WHERE s.endpoint_id = e.id AND (s.expires_at IS NULL OR s.expires_at > now())
                        ORDER BY s.created_at DESC) AS secrets
           FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
           WHERE d.id = $1 AND d.status = 'pending' AND d.attempts = $2
           FOR UPDATE OF d SKIP LOCKED""",
        delivery_id,
        attempt,
    )


async def record_outcome(
    conn: asyncpg.Connection,
    delivery_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    status_code: int | None,
    latency_ms: int,
    response: str | None,
    error: str | None,
    status: str,
    last_error: str | None,
    next_attempt_at: datetime | None,
    healthy: bool | None,
) -> datetime | None:
    """One attempt's row, the delivery's new state and the endpoint's failing streak, in one statement.
    `healthy`: True clears the streak (no write if there is none), False starts it if not started, None
    leaves it. Returns when the endpoint started failing (None if it is not failing)."""
    return await conn.fetchval(
        """WITH attempt AS (
               INSERT INTO webhook_attempts (delivery_id, status_code, latency_ms, response, error)
               VALUES ($1, $3, $4, $5, $6)),
           delivery AS (
               UPDATE webhook_deliveries SET attempts = attempts + 1, status = $7::text, last_status = $3, last_error = $8,
                      next_attempt_at = $9,
                      delivered_at = CASE WHEN $7::text = 'delivered' THEN clock_timestamp() ELSE delivered_at END
               WHERE id = $1),
           health AS (
               UPDATE webhook_endpoints
               SET failing_since = CASE WHEN $10::boolean THEN NULL ELSE coalesce(failing_since, clock_timestamp()) END
               WHERE id = $2 AND $10::boolean IS NOT NULL AND (NOT $10::boolean OR failing_since IS NOT NULL)
               RETURNING failing_since)
           SELECT failing_since FROM health""",
        delivery_id,
        endpoint_id,
        status_code,
        latency_ms,
        response,
        error,
        status,
        last_error,
        next_attempt_at,
        healthy,
    )


async def fail_unattempted(conn: asyncpg.Connection, delivery_id: uuid.UUID, error: str) -> None:
    """A delivery that will not be attempted (its endpoint was disabled or deleted meanwhile)."""
    await conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = 'failed', last_error = $2, "
        "next_attempt_at = NULL WHERE id = $1",
        delivery_id,
        error,
    )


async def disable_endpoint(conn: asyncpg.Connection, endpoint_id: uuid.UUID, reason: str) -> None:
    await conn.execute(
        "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2, "
        "updated_at = clock_timestamp() WHERE id = $1",
        endpoint_id,
        reason,
    )


async def claim_due_deliveries(
    conn: asyncpg.Connection, limit: int, stale_seconds: float
) -> list[tuple[uuid.UUID, int]]:
    """Deliveries due for an attempt, as (id, attempt number). Each is pushed `stale_seconds` ahead as it
    is claimed, so two dispatchers never take it together; if its task is lost, it comes due again."""
    rows = await conn.fetch(
        """UPDATE webhook_deliveries SET next_attempt_at = clock_timestamp() + make_interval(secs => $2)
           WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending'
                          AND next_attempt_at <= clock_timestamp()
                        ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING id, attempts""",
        limit,
        stale_seconds,
    )
    return [(r["id"], r["attempts"]) for r in rows]


async def list_deliveries(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID, status: str | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
            WHERE clinic_id = $1 AND endpoint_id = $2 AND ($3::text IS NULL OR status = $3)
            ORDER BY created_at DESC LIMIT $4""",
        clinic_id,
        endpoint_id,
        status,
        limit,
    )


async def attempts_of(conn: asyncpg.Connection, delivery_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT delivery_id, attempted_at, status_code, latency_ms, response, error FROM webhook_attempts "
        "WHERE delivery_id = ANY($1::uuid[]) ORDER BY id",
        delivery_ids,
    )


async def replay(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, delivery_id: uuid.UUID, safety_net_seconds: float
) -> asyncpg.Record | None:
    """Send a delivery again (same webhook-id, so receivers can dedupe), whatever its state; the attempt
    count goes on, so the log keeps every try. None if the clinic has no such delivery or its payload was
    pruned (nothing left to send: `is_pruned` tells which)."""
    return await conn.fetchrow(
        f"""UPDATE webhook_deliveries SET status = 'pending',
                   next_attempt_at = clock_timestamp() + make_interval(secs => $3)
            WHERE clinic_id = $1 AND id = $2 AND payload_pruned_at IS NULL RETURNING {DELIVERY_COLUMNS}""",
        clinic_id,
        delivery_id,
        safety_net_seconds,
    )


async def is_pruned(conn: asyncpg.Connection, clinic_id: uuid.UUID, delivery_id: uuid.UUID) -> bool | None:
    """Whether the clinic's delivery had its payload pruned; None if the clinic has no such delivery."""
    return await conn.fetchval(
        "SELECT payload_pruned_at IS NOT NULL FROM webhook_deliveries WHERE clinic_id = $1 AND id = $2",
        clinic_id,
        delivery_id,
    )


async def replay_failed_since(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID, since: datetime, safety_net_seconds: float
) -> list[tuple[uuid.UUID, int]]:
    """Every failed delivery of the endpoint since `since` sent again (those whose payload was pruned cannot
    be), as (id, attempt number)."""
    rows = await conn.fetch(
        """UPDATE webhook_deliveries SET status = 'pending',
                  next_attempt_at = clock_timestamp() + make_interval(secs => $4)
           WHERE clinic_id = $1 AND endpoint_id = $2 AND status = 'failed' AND created_at >= $3
             AND payload_pruned_at IS NULL
           RETURNING id, attempts""",
        clinic_id,
        endpoint_id,
        since,
        safety_net_seconds,
    )
    return [(r["id"], r["attempts"]) for r in rows]


async def count_pruned_failed_since(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, endpoint_id: uuid.UUID, since: datetime
) -> int:
    """The failed deliveries since `since` that replay_failed_since leaves: their payload was pruned."""
    return await conn.fetchval(
        """SELECT count(*) FROM webhook_deliveries
           WHERE clinic_id = $1 AND endpoint_id = $2 AND status = 'failed' AND created_at >= $3
             AND payload_pruned_at IS NOT NULL""",
        clinic_id,
        endpoint_id,
        since,
    )
