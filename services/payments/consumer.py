"""`python -m services.payments.consumer`: refunds when a booking is cancelled or a payment found no
booking to confirm."""

from __future__ import annotations

import uuid

from services.payments import fees, service, store, voucher_service
from services.payments.settings import PaymentsSettings
from services.payments.stripe_gateway import StripeGateway
from shared import contracts
from shared.config import load_settings
from shared.events import Event
from shared.runner import run_worker
from shared.streams import Handler, HandlerContext, serve

GROUP = "payments"


def build_handlers(stripe: StripeGateway, keys: voucher_service.CodeKeys | None = None) -> dict[str, Handler]:
    def link_keys() -> voucher_service.CodeKeys:
        # The fee pay link's token is signed as a voucher's links are (the voucher code key).
        return keys or voucher_service.CodeKeys(stripe.settings.voucher_code_key)

    async def on_payment_orphaned(ctx: HandlerContext, event: Event) -> None:
        orphaned = contracts.parse(contracts.BookingPaymentOrphaned, event)
        reference = uuid.UUID(orphaned.booking_id)
        await voucher_service.give_back(ctx.conn, reference, entry="refund")
        await service.refund_booking_payment(
            ctx.conn, stripe, booking_id=reference, reason=orphaned.reason, cause_event_id=event.id
        )

    async def on_booking_cancelled(ctx: HandlerContext, event: Event) -> None:
        # A cancellation within the clinic's window (the booking service enforces it) is refunded in full,
        # to the methods that paid: the voucher part back to the voucher first, the rest to the card. So is the
        # clinic's cancellation on the customer's behalf, at any time (its event says `refund: full`).
        booking = contracts.parse(contracts.BookingChanged, event)
        reason = "cancelled_by_clinic" if booking.cancelled_by == "clinic" else "cancelled_by_customer"
        paid_for = uuid.UUID(booking.paid_for)  # the series for a session of a course, else the booking
        # Called off before it was paid (a phone booking awaiting its payment): nobody may pay it now.
        await service.cancel_open_payment(ctx.conn, stripe, paid_for, "booking cancelled")
        # Under a deposit, what was still due at the clinic is owed no more, first: only what was paid comes back.
        price = booking.price.amount - await store.cancel_due(ctx.conn, paid_for, booking.price.amount)
        # A late cancellation's fee (its event says so) is a charge of its own; what was paid is refunded anyway.
        await fees.charge(ctx.conn, stripe, link_keys(), booking)
        if price <= 0:
            return
        to_voucher = await voucher_service.give_back(ctx.conn, paid_for, entry="refund", value=price)
        if price - to_voucher > 0:
            await service.refund_booking_payment(
                ctx.conn,
                stripe,
                booking_id=paid_for,
                reason=reason,
                cause_event_id=event.id,
                amount=price - to_voucher,
            )

    async def on_booking_no_show(ctx: HandlerContext, event: Event) -> None:
        # A no-show whose policy charges a fee: charged to the saved card, once however often it is marked.
        await fees.charge(ctx.conn, stripe, link_keys(), contracts.parse(contracts.BookingChanged, event))

    async def on_booking_expired(ctx: HandlerContext, event: Event) -> None:
        # Never paid: what a voucher put towards it goes back.
        lapsed = contracts.parse(contracts.BookingLapsed, event)
        reference = uuid.UUID(lapsed.paid_for)
        if lapsed.payment_known and lapsed.payment_id is None:
            # A hold whose booking was never written: a card payment asked for it has nobody to pay for.
            await service.cancel_open_payment(ctx.conn, stripe, reference, "booking never written")
        # Paid (or being paid) meanwhile: the booking side re-books it, or refunds both parts; a payment still
        # processing that then fails gives the part back later (the reconciler).
        await service.release_lapsed_voucher_part(ctx.conn, stripe, reference)

    return {
        "booking.payment_orphaned": on_payment_orphaned,
        "booking.cancelled": on_booking_cancelled,
        "booking.no_show": on_booking_no_show,
        "booking.expired": on_booking_expired,
        "booking.released": on_booking_expired,
    }


async def consumer_main(settings: PaymentsSettings, stop) -> None:
    stripe = StripeGateway(settings)
    try:
        await serve(settings, schema="payments", group=GROUP, handlers=build_handlers(stripe), stop=stop)
    finally:
        await stripe.close()


if __name__ == "__main__":
    cfg = load_settings(PaymentsSettings)
    run_worker("payments-consumer", cfg, lambda stop: consumer_main(cfg, stop))
