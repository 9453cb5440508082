"""`python -m shared.relay <schema>`: publish a service's outbox to Redis Streams."""

from __future__ import annotations

import asyncio
import re
import sys

import redis.asyncio as aioredis

from shared import db
from shared.config import Settings, load_settings
from shared.outbox import OutboxRelay
from shared.runner import run_worker

SCHEMA_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


async def relay_main(settings: Settings, schema: str, stop: asyncio.Event) -> None:
    pool = await db.create_pool(settings, schema, min_size=1, max_size=3)
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        relay = OutboxRelay(
            pool,
            redis,
            schema=schema,
            prefix=settings.redis_prefix,
            poll_interval=settings.relay_poll_interval,
            republish_window=settings.relay_republish_window,
        )
        await relay.run(stop)
    finally:
        await redis.aclose()
        await pool.close()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not SCHEMA_NAME.fullmatch(sys.argv[1]):
        raise SystemExit("usage: python -m shared.relay SCHEMA (the publishing service's, e.g. booking)")
    schema_arg = sys.argv[1]
    cfg = load_settings()
    run_worker(f"{schema_arg}-relay", cfg, lambda stop: relay_main(cfg, schema_arg, stop))
