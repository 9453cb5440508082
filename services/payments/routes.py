"""HTTP handlers of the payments service: the Stripe webhook, and the internal API other services call."""
from __future__ import annotations

import hmac
import json
import logging

import stripe
from aiohttp import web

from services.payments import service
from services.payments.schemas import BookingPaymentIn
from services.payments.stripe_gateway import STRIPE
from shared.errors import ApiError, read_json
from shared.keys import DB, SETTINGS

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
INTERNAL_TOKEN_HEADER = "X-Internal-Token"


@routes.post("/api/v1/stripe/webhook")
async def stripe_webhook(request: web.Request) -> web.Response:
    # Verify the raw bytes exactly as Stripe signed them; never parse or re-serialise first.
    payload = await request.read()
    signature = request.headers.get("Stripe-Signature")
    if not signature:
        raise ApiError(400, "missing_signature", "Stripe-Signature header is required")
    try:
        stripe.Webhook.construct_event(payload, signature, request.app[SETTINGS].stripe_webhook_secret)
    except stripe.SignatureVerificationError:
        raise ApiError(400, "invalid_signature", "The Stripe signature does not match or is too old") from None
    except ValueError:
        raise ApiError(400, "invalid_json", "The event body is not valid JSON") from None
    event = json.loads(payload)
    async with request.app[DB].acquire() as conn, conn.transaction():
        is_new = await service.handle_stripe_event(conn, event)
    log.info("stripe event received", extra={"stripe_event": event["id"], "type": event["type"], "new": is_new})
    return web.json_response({"received": True, "duplicate": not is_new})


def _check_internal(request: web.Request) -> None:
    given = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), request.app[SETTINGS].internal_token.encode()):
        raise ApiError(401, "unauthorized", "Internal API: missing or wrong token")


@routes.post("/internal/v1/booking-payments")
async def booking_payment(request: web.Request) -> web.Response:
    """The card payment of a booking (created once per booking; a retry gets the same one)."""
    _check_internal(request)
    body = await read_json(request, BookingPaymentIn)
    async with request.app[DB].acquire() as conn, conn.transaction():
        row = await service.request_booking_payment(
            conn, request.app[STRIPE], booking_id=body.booking_id, clinic_id=body.clinic_id, amount=body.amount,
            currency=body.currency, clinic_currency=service.CLINIC_CURRENCY, customer_email=body.customer_email)
    return web.json_response(service.payment_json(row), status=201)
