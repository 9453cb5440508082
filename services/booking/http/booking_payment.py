"""Paying for a booking from its manage link (no key: the link's signed token): what is left to pay by card,
with the PaymentIntent's client secret for Stripe.js. The link in the email of a phone booking paid online
leads to the manage page, which takes the payment with this."""

from __future__ import annotations

from aiohttp import web

from services.booking import clinic_actions, service
from services.booking.clinic_actions_spec import PAYMENT_FIELDS
from services.booking.http import context, serialise
from services.booking.payments_client import PAYMENTS

routes = web.RouteTableDef()


@routes.get("/api/v1/bookings/{id}/payment")
async def booking_payment(request: web.Request) -> web.Response:
    booking_id = context.booking_id(request)
    service.check_manage_token(context.manage_links(request), booking_id, request.query.get("token"), context.now())
    due = await clinic_actions.payment_due(context.unit_of_work(request), booking_id, request.app[PAYMENTS])
    booking = due.reservation
    return web.json_response(
        {
            "booking": str(booking.booking_id),
            "status": booking.status,
            "pay_by": serialise.iso(booking.expires_at),
            "amount_due": serialise.money(due.amount, booking.currency),
            "due_at_clinic": serialise.money(booking.due_at_clinic, booking.currency),
            "payment_policy_words": booking.payment_policy_words,
            # What of payments' answer the customer's page needs (a voucher part was paid when it was booked); a
            # card-saved-only booking (issue 20) is "paid" by a SetupIntent that saves the card: `setup`, its id.
            "payment": {key: due.payment.get(key) for key in PAYMENT_FIELDS},
        }
    )
