"""`python -m services.notifications.consumer`: turn booking (and later payment, voucher) events into
email rows and Celery tasks."""
from __future__ import annotations

import asyncio
import os
import socket
import uuid
from typing import Awaitable, Callable

import redis.asyncio as aioredis

from services.notifications import emails, store
from shared import db
from shared.config import Settings, load_settings
from shared.events import Event
from shared.runner import run_worker
from shared.streams import Handler, HandlerContext, StreamConsumer

GROUP = "notifications"
EnqueueEmail = Callable[[uuid.UUID], Awaitable[None]]


async def celery_enqueue_email(email_id: uuid.UUID) -> None:
    from services.notifications.tasks import send_email
    # kombu's publish is blocking I/O; keep it off the event loop.
    await asyncio.to_thread(send_email.delay, str(email_id))


def build_handlers(enqueue_email: EnqueueEmail) -> dict[str, Handler]:
    async def on_booking_confirmed(ctx: HandlerContext, event: Event) -> None:
        email_id = await store.insert_email(ctx.conn, event.id, emails.booking_confirmed(event.data))
        if email_id is not None:
            ctx.after_commit(lambda: enqueue_email(email_id))

    return {"booking.confirmed": on_booking_confirmed}


def make_consumer(pool, redis, settings: Settings, *, enqueue_email: EnqueueEmail = celery_enqueue_email,
                  name: str | None = None) -> StreamConsumer:
    return StreamConsumer(
        pool, redis, prefix=settings.redis_prefix, group=GROUP,
        name=name or f"{socket.gethostname()}-{os.getpid()}", handlers=build_handlers(enqueue_email),
        block_ms=settings.consumer_block_ms, claim_idle_ms=settings.consumer_claim_idle_ms,
        max_attempts=settings.consumer_max_attempts,
    )


async def consumer_main(settings: Settings, stop: asyncio.Event) -> None:
    pool = await db.create_pool(settings, "notifications", min_size=1, max_size=4)
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await make_consumer(pool, redis, settings).run(stop)
    finally:
        await redis.aclose()
        await pool.close()


if __name__ == "__main__":
    cfg = load_settings()
    run_worker("notifications-consumer", cfg, lambda stop: consumer_main(cfg, stop))
