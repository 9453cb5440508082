"""Stripe webhooks: verified on the raw body; bad or stale signatures are 400; duplicates have one effect."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from services.payments.app import create_app

EVENT = {
    "id": "evt_test_1",
    "object": "event",
    "type": "payment_intent.succeeded",
    "livemode": False,
    "data": {
        "object": {
            "id": "pi_1",
            "object": "payment_intent",
            "status": "succeeded",
            "amount": 6500,
            "currency": "gbp",
            "metadata": {},
        }
    },
}


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@pytest.fixture
async def client(settings, aiohttp_client):
    return await aiohttp_client(create_app(settings))


async def stored_events(settings) -> int:
    import asyncpg

    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM payments.stripe_events")
    finally:
        await conn.close()


async def post(client, payload: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["Stripe-Signature"] = signature
    return await client.post("/api/v1/stripe/webhook", data=payload, headers=headers)


async def test_signed_event_is_recorded_once(client, settings):
    payload = json.dumps(EVENT).encode()
    first = await post(client, payload, stripe_signature(payload, settings.stripe_webhook_secret))
    again = await post(client, payload, stripe_signature(payload, settings.stripe_webhook_secret))
    assert first.status == 200 and (await first.json())["duplicate"] is False
    assert again.status == 200 and (await again.json())["duplicate"] is True
    assert await stored_events(settings) == 1


@pytest.mark.parametrize(
    "make_signature",
    [
        lambda p, s: None,
        lambda p, s: stripe_signature(p, "whsec_wrong"),
        lambda p, s: stripe_signature(p, s, timestamp=int(time.time()) - 3600),  # stale
        lambda p, s: stripe_signature(p + b" ", s),  # body changed after signing
    ],
)
async def test_bad_signatures_are_400_and_record_nothing(client, settings, make_signature):
    payload = json.dumps(EVENT).encode()
    resp = await post(client, payload, make_signature(payload, settings.stripe_webhook_secret))
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] in {"missing_signature", "invalid_signature"}
    assert await stored_events(settings) == 0
