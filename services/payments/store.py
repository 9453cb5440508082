"""All SQL of the payments service."""
from __future__ import annotations

import asyncpg


async def record_stripe_event(conn: asyncpg.Connection, event: dict) -> bool:
    """True if this Stripe event id is new."""
    return bool(await conn.fetchval(
        "INSERT INTO stripe_events (id, type, livemode, payload) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (id) DO NOTHING RETURNING true",
        event["id"], event["type"], bool(event.get("livemode")), event))
