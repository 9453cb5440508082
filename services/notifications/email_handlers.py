"""Events that become emails: each handler renders the email and records it in the event's transaction;
the Celery task that sends it is enqueued after commit."""
from __future__ import annotations

import logging
import uuid
from typing import Awaitable, Callable

from services.notifications import emails, store
from shared.events import Event
from shared.streams import Handler, HandlerContext

log = logging.getLogger(__name__)
EnqueueEmail = Callable[[uuid.UUID], Awaitable[None]]


def email_handlers(enqueue_email: EnqueueEmail) -> dict[str, Handler]:
    async def record(ctx: HandlerContext, event: Event, email: emails.RenderedEmail) -> None:
        email_id = await store.insert_email(ctx.conn, event.id, email)
        if email_id is not None:
            ctx.after_commit(lambda: enqueue_email(email_id))

    async def on_booking_confirmed(ctx: HandlerContext, event: Event) -> None:
        await record(ctx, event, emails.booking_confirmed(event.data))

    async def on_payment_refunded(ctx: HandlerContext, event: Event) -> None:
        if not event.data.get("customer_email"):
            log.warning("refund without a customer email; nobody to tell", extra={"event_id": str(event.id)})
            return
        await record(ctx, event, emails.payment_refunded(event.data))

    return {"booking.confirmed": on_booking_confirmed, "payment.refunded": on_payment_refunded}
