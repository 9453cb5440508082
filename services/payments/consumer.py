"""`python -m services.payments.consumer`: refunds when a booking is cancelled or a payment found no
booking to confirm."""
from __future__ import annotations

import uuid

from services.payments import service, voucher_service
from services.payments.stripe_gateway import StripeGateway
from services.payments.settings import PaymentsSettings
from shared.config import load_settings
from shared.events import Event
from shared.runner import run_worker
from shared.streams import Handler, HandlerContext, serve

GROUP = "payments"


def _reference(data: dict) -> uuid.UUID:
    """What was paid: the series for a session of a course, else the booking."""
    series = data.get("series")
    return uuid.UUID(series["id"] if series else data["booking_id"])


def build_handlers(stripe: StripeGateway) -> dict[str, Handler]:
    async def on_payment_orphaned(ctx: HandlerContext, event: Event) -> None:
        reference = uuid.UUID(event.data["booking_id"])
        await voucher_service.give_back(ctx.conn, reference, entry="refund")
        await service.refund_booking_payment(ctx.conn, stripe, booking_id=reference, reason=event.data["reason"],
                                             cause_event_id=event.id)

    async def on_booking_cancelled(ctx: HandlerContext, event: Event) -> None:
        # A cancellation within the clinic's window (the booking service enforces it) is refunded in full,
        # to the methods that paid: the voucher part back to the voucher first, the rest to the card.
        price = event.data["price"]["amount"]
        to_voucher = await voucher_service.give_back(ctx.conn, _reference(event.data), entry="refund", value=price)
        if price - to_voucher > 0:
            await service.refund_booking_payment(ctx.conn, stripe, booking_id=_reference(event.data),
                                                 reason="cancelled_by_customer", cause_event_id=event.id,
                                                 amount=price - to_voucher)

    async def on_booking_expired(ctx: HandlerContext, event: Event) -> None:
        # Never paid: what a voucher put towards it goes back.
        reference = uuid.UUID(event.data.get("series_id") or event.data["booking_id"])
        await voucher_service.give_back(ctx.conn, reference, entry="release")
        if "payment_id" in event.data and event.data["payment_id"] is None:
            # A hold whose booking was never written: a card payment asked for it has nobody to pay for.
            await service.cancel_unclaimed_payment(ctx.conn, stripe, reference)

    return {"booking.payment_orphaned": on_payment_orphaned, "booking.cancelled": on_booking_cancelled,
            "booking.expired": on_booking_expired, "booking.released": on_booking_expired}


async def consumer_main(settings: PaymentsSettings, stop) -> None:
    stripe = StripeGateway(settings)
    try:
        await serve(settings, schema="payments", group=GROUP, handlers=build_handlers(stripe), stop=stop)
    finally:
        await stripe.close()


if __name__ == "__main__":
    cfg = load_settings(PaymentsSettings)
    run_worker("payments-consumer", cfg, lambda stop: consumer_main(cfg, stop))
