"""Events that clinics receive as webhooks: one delivery row per subscribed endpoint, in the event's
transaction; the first attempt is enqueued after commit."""
from __future__ import annotations

import uuid
from typing import Awaitable, Callable

from services.notifications import webhook_store as store
from services.notifications.webhooks import CLINIC_EVENTS, payload_for
from shared.events import Event
from shared.streams import Handler, HandlerContext

EnqueueDelivery = Callable[[uuid.UUID, int], Awaitable[None]]


def webhook_handlers(enqueue_delivery: EnqueueDelivery, safety_net_seconds: float) -> dict[str, Handler]:
    """`safety_net_seconds`: after this long the dispatcher attempts a delivery whose enqueue was lost."""
    async def fan_out(ctx: HandlerContext, event: Event) -> None:
        if event.clinic_id is None:
            return
        clinic_type = CLINIC_EVENTS[event.type]
        clinic_id = uuid.UUID(event.clinic_id)
        payload = payload_for(clinic_type, event.occurred_at, event.data)
        for delivery_id in await store.insert_deliveries(ctx.conn, clinic_id, clinic_type, event.id, payload,
                                                         safety_net_seconds):
            ctx.after_commit(lambda d=delivery_id: enqueue_delivery(d, 0))

    return {event_type: fan_out for event_type in CLINIC_EVENTS}
