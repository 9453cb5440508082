"""`python -m services.payments.consumer`: refunds when a booking is cancelled or a payment found no
booking to confirm."""
from __future__ import annotations

import uuid

from services.payments import service
from services.payments.stripe_gateway import StripeGateway
from shared.config import Settings, load_settings
from shared.events import Event
from shared.runner import run_worker
from shared.streams import Handler, HandlerContext, serve

GROUP = "payments"


def build_handlers(stripe: StripeGateway) -> dict[str, Handler]:
    async def on_payment_orphaned(ctx: HandlerContext, event: Event) -> None:
        await service.refund_booking_payment(ctx.conn, stripe, booking_id=uuid.UUID(event.data["booking_id"]),
                                             reason=event.data["reason"], cause_event_id=event.id)

    async def on_booking_cancelled(ctx: HandlerContext, event: Event) -> None:
        # A cancellation within the clinic's window (the booking service enforces it) is refunded in full:
        # the session's share of the payment goes back to the card.
        series = event.data.get("series")
        await service.refund_booking_payment(
            ctx.conn, stripe, booking_id=uuid.UUID(series["id"] if series else event.data["booking_id"]),
            reason="cancelled_by_customer", cause_event_id=event.id, amount=event.data["price"]["amount"])

    return {"booking.payment_orphaned": on_payment_orphaned, "booking.cancelled": on_booking_cancelled}


async def consumer_main(settings: Settings, stop) -> None:
    stripe = StripeGateway(settings)
    try:
        await serve(settings, schema="payments", group=GROUP, handlers=build_handlers(stripe), stop=stop)
    finally:
        await stripe.close()


if __name__ == "__main__":
    cfg = load_settings()
    run_worker("payments-consumer", cfg, lambda stop: consumer_main(cfg, stop))
