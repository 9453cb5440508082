"""HTTP handlers of the payments service."""
from __future__ import annotations

import json
import logging

import stripe
from aiohttp import web

from services.payments import store
from shared.errors import ApiError
from shared.keys import DB, SETTINGS

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


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
    async with request.app[DB].acquire() as conn:
        is_new = await store.record_stripe_event(conn, event)
    log.info("stripe event received", extra={"stripe_event": event["id"], "type": event["type"], "new": is_new})
    return web.json_response({"received": True, "duplicate": not is_new})
