"""`python -m services.notifications.consumer`: turn booking (and later payment, voucher) events into
email rows and Celery tasks."""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Awaitable, Callable

from services.notifications import emails, store
from shared.config import Settings, load_settings
from shared.events import Event
from shared.runner import run_worker
from shared.streams import Handler, HandlerContext, StreamConsumer, consumer_for, serve

GROUP = "notifications"
log = logging.getLogger(__name__)
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

    async def on_payment_refunded(ctx: HandlerContext, event: Event) -> None:
        if not event.data.get("customer_email"):
            log.warning("refund without a customer email; nobody to tell", extra={"event_id": str(event.id)})
            return
        email_id = await store.insert_email(ctx.conn, event.id, emails.payment_refunded(event.data))
        if email_id is not None:
            ctx.after_commit(lambda: enqueue_email(email_id))

    return {"booking.confirmed": on_booking_confirmed, "payment.refunded": on_payment_refunded}


def make_consumer(pool, redis, settings: Settings, *, enqueue_email: EnqueueEmail = celery_enqueue_email,
                  name: str | None = None) -> StreamConsumer:
    return consumer_for(pool, redis, settings, group=GROUP, handlers=build_handlers(enqueue_email), name=name)


if __name__ == "__main__":
    cfg = load_settings()
    run_worker("notifications-consumer", cfg, lambda stop: serve(
        cfg, schema="notifications", group=GROUP, handlers=build_handlers(celery_enqueue_email), stop=stop))
