"""One booking through the real stack: gateway → booking → outbox → relay → stream → consumer →
Celery → SMTP sink → dev mailbox; and the same path surviving a dead consumer and a flushed Redis."""

from __future__ import annotations

import signal
import uuid

import aiohttp
import asyncpg
import pytest
import stripe

from tests.support.booking import BaseUrlClient, next_weekday
from tests.support.infra import database_url, wait_for
from tests.support.payments import book_and_pay_by_card

pytestmark = pytest.mark.e2e


async def mailbox_for(http: aiohttp.ClientSession, stack, address: str) -> list[dict]:
    async with http.get(f"{stack.url()}/dev/mailbox/messages") as resp:
        assert resp.status == 200
        return [m for m in (await resp.json())["messages"] if m["to"] == address]


async def book(http, stack, address: str, weekday: int) -> dict:
    stripe_url = f"http://127.0.0.1:{stack.env['FAKE_STRIPE_PORT']}"
    return await book_and_pay_by_card(
        BaseUrlClient(http, stack.url()), stripe_url, email=address, day=next_weekday(weekday)
    )


async def test_booking_produces_a_confirmation_email_in_the_dev_mailbox(stack):
    address = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    async with aiohttp.ClientSession() as http:
        booking = await book(http, stack, address, weekday=1)
        # Card paid on Stripe → signed webhook → payments → booking confirmed → email.
        [message] = await wait_for(
            lambda: mailbox_for(http, stack, address), timeout=20, what="the confirmation email in the dev mailbox"
        )
        assert "Booking confirmed" in message["subject"]
        assert booking["id"] in message["text"]
        assert "Amara Okafor" in message["text"] and "Europe/London" in message["text"]
        async with http.get(f"{stack.url()}/dev/mailbox") as page:
            assert page.status == 200 and message["subject"] in await page.text()


async def test_consumer_down_and_redis_flushed_the_email_still_arrives_once(stack, stack_db, stack_redis_client):
    address = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    stack.stop("notifications-consumer", sig=signal.SIGKILL)
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        async with aiohttp.ClientSession() as http:
            booking = await book(http, stack, address, weekday=2)

            async def relayed():
                return await conn.fetchval(
                    "SELECT published_at IS NOT NULL FROM booking.outbox "
                    "WHERE envelope->>'type' = 'booking.confirmed' AND envelope->'data'->>'booking_id' = $1",
                    booking["id"],
                )

            await wait_for(relayed, timeout=20, what="payment, confirmation, and the relay publishing it")
            await stack_redis_client.flushall()  # published, not yet consumed: gone from Redis
            stack.start("notifications-consumer")

            [message] = await wait_for(
                lambda: mailbox_for(http, stack, address), timeout=20, what="the email after the Redis loss"
            )
            assert booking["id"] in message["text"]
            # Let the consumer go through everything the relay re-published, then count again.
            await wait_for(lambda: _stream_drained(stack_redis_client, stack), timeout=20, what="drained stream")
            assert len(await mailbox_for(http, stack, address)) == 1
            assert await conn.fetchval("SELECT count(*) FROM notifications.emails WHERE to_address = $1", address) == 1
    finally:
        await conn.close()


async def _stream_drained(redis, stack) -> bool:
    stream = f"{stack.env['REDIS_PREFIX']}events:booking"
    try:
        groups = await redis.xinfo_groups(stream)
    except Exception:
        return False
    return any(g["name"] == "notifications" and g["pending"] == 0 and g.get("lag") == 0 for g in groups)


async def test_fake_stripe_delivers_signed_webhooks_to_our_endpoint(stack, stack_db):
    http_client = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        "sk_test_offline",
        http_client=http_client,
        base_addresses={"api": f"http://127.0.0.1:{stack.env['FAKE_STRIPE_PORT']}"},
    )
    try:
        intent = await client.v1.payment_intents.create_async(
            params={"amount": 6500, "currency": "gbp", "payment_method": "pm_card_visa", "confirm": True}
        )
    finally:
        await http_client.close_async()
    assert intent.status == "succeeded"
    conn = await asyncpg.connect(database_url(stack_db))
    try:

        async def received():
            return await conn.fetchval(
                "SELECT type FROM payments.stripe_events WHERE payload->'data'->'object'->>'id' = $1", intent.id
            )

        assert await wait_for(received, timeout=15, what="the Stripe webhook") == "payment_intent.succeeded"
    finally:
        await conn.close()
