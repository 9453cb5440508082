"""`python -m services.notifications.consumer`: turn booking, payment and voucher events into email rows
(and, with the clinic webhooks, delivery rows) and the Celery tasks that send them."""
from __future__ import annotations

import asyncio
import uuid

from services.notifications.email_handlers import EnqueueEmail, email_handlers
from shared.config import Settings, load_settings
from shared.runner import run_worker
from shared.streams import Handler, StreamConsumer, combine, consumer_for, serve

GROUP = "notifications"


async def celery_enqueue_email(email_id: uuid.UUID) -> None:
    from services.notifications.tasks import send_email
    # kombu's publish is blocking I/O; keep it off the event loop.
    await asyncio.to_thread(send_email.delay, str(email_id))


def build_handlers(enqueue_email: EnqueueEmail) -> dict[str, Handler]:
    return combine(email_handlers(enqueue_email))


def make_consumer(pool, redis, settings: Settings, *, enqueue_email: EnqueueEmail = celery_enqueue_email,
                  name: str | None = None) -> StreamConsumer:
    return consumer_for(pool, redis, settings, group=GROUP, handlers=build_handlers(enqueue_email), name=name)


if __name__ == "__main__":
    cfg = load_settings()
    run_worker("notifications-consumer", cfg, lambda stop: serve(
        cfg, schema="notifications", group=GROUP, handlers=build_handlers(celery_enqueue_email), stop=stop))
