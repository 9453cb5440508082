"""`python -m services.notifications.consumer`: turn booking, payment and voucher events into email rows
(and, with the clinic webhooks, delivery rows) and the Celery tasks that send them."""
from __future__ import annotations

import asyncio
import uuid

from services.notifications.email_handlers import EnqueueEmail, email_handlers
from services.notifications.webhook_handlers import EnqueueDelivery, webhook_handlers
from shared.config import Settings, load_settings
from shared.runner import run_worker
from shared.streams import Handler, StreamConsumer, combine, consumer_for, serve

GROUP = "notifications"


# kombu's publish is blocking I/O: both hand-offs keep it off the event loop.
async def celery_enqueue_email(email_id: uuid.UUID) -> None:
    from services.notifications.tasks import send_email
    await asyncio.to_thread(send_email.delay, str(email_id))


async def celery_enqueue_delivery(delivery_id: uuid.UUID, attempt: int) -> None:
    from services.notifications.webhook_tasks import deliver_webhook
    await asyncio.to_thread(deliver_webhook.delay, str(delivery_id), attempt)


def build_handlers(settings: Settings, enqueue_email: EnqueueEmail, enqueue_delivery: EnqueueDelivery) -> dict[str, Handler]:
    return combine(email_handlers(enqueue_email, mail_from=settings.mail_from, public_url=settings.public_url),
                   webhook_handlers(enqueue_delivery, settings.lost_task_seconds))


def make_consumer(pool, redis, settings: Settings, *, enqueue_email: EnqueueEmail = celery_enqueue_email,
                  enqueue_delivery: EnqueueDelivery = celery_enqueue_delivery, name: str | None = None) -> StreamConsumer:
    return consumer_for(pool, redis, settings, group=GROUP,
                        handlers=build_handlers(settings, enqueue_email, enqueue_delivery), name=name)


if __name__ == "__main__":
    cfg = load_settings()
    run_worker("notifications-consumer", cfg, lambda stop: serve(
        cfg, schema="notifications", group=GROUP,
        handlers=build_handlers(cfg, celery_enqueue_email, celery_enqueue_delivery), stop=stop))
