"""Events that clinics receive as webhooks: one delivery row per subscribed endpoint, in the event's
transaction; the first attempt is enqueued after commit."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

from services.notifications.webhooks import store
from services.notifications.webhooks.rules import CLINIC_EVENTS, payload_for
from shared import contracts
from shared.events import Event
from shared.streams import Handler, HandlerContext

EnqueueDelivery = Callable[[uuid.UUID, int], Awaitable[None]]


@dataclass(frozen=True)
class Fanout:
    """What fan_out needs beyond the event: how to start a delivery's first attempt, and after how long the
    dispatcher attempts a delivery whose start was lost."""

    enqueue_delivery: EnqueueDelivery
    safety_net_seconds: float


async def fan_out(fanout: Fanout, ctx: HandlerContext, event: Event) -> None:
    """One delivery per endpoint of the event's clinic subscribed to it, each started once committed."""
    if event.clinic_id is None:
        return
    clinic_type = CLINIC_EVENTS[event.type]
    clinic_id = uuid.UUID(event.clinic_id)
    # The clinic gets the payload as its contract defines it (to_data: the producer's exact dict, no stray keys).
    payload = payload_for(clinic_type, event.occurred_at, contracts.parse_any(event).to_data())
    for delivery_id in await store.insert_deliveries(
        ctx.conn, clinic_id, clinic_type, event.id, payload, fanout.safety_net_seconds
    ):
        ctx.after_commit(lambda d=delivery_id: fanout.enqueue_delivery(d, 0))


def webhook_handlers(enqueue_delivery: EnqueueDelivery, safety_net_seconds: float) -> dict[str, Handler]:
    """fan_out for every event type a clinic may subscribe to."""
    handler = functools.partial(fan_out, Fanout(enqueue_delivery, safety_net_seconds))
    return {event_type: handler for event_type in CLINIC_EVENTS}
