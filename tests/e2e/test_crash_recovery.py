"""Kill -9 the Celery worker, and then the stream consumer, in the middle of 200 paid bookings: after
restart every booking has its confirmation email and its signed `booking.created` webhook, and the
receiver sees 200 distinct webhook-ids (a repeat only as a redelivery of the same id). The receiver is
slow while the worker is killed, so the kill falls mid-delivery and those deliveries are made again."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from services.booking import api_keys
from services.booking.seed import stable_id
from shared import invariants
from tests.support.booking import OTHER_THERAPIST, THERAPIST, BaseUrlClient, booking_body, hold, next_weekday
from tests.support.infra import database_url, wait_for
from tests.support.payments import customer_pays

pytestmark = pytest.mark.e2e
BOOKINGS = 200
PAY_CONCURRENCY = 20


async def spread_slots(client, count: int) -> list[tuple[str, str]]:
    """(therapist, start) pairs that do not overlap, from weeks the other e2e tests leave alone."""
    chosen: list[tuple[str, str]] = []
    first = next_weekday(0, weeks_ahead=4)
    for therapist in (THERAPIST, OTHER_THERAPIST):
        resp = await client.request(
            "GET",
            "/api/v1/clinics/urban-therapy/availability",
            params={
                "treatment": str(stable_id("urban-therapy", "treatment", "deep-tissue-60")),
                "therapist": therapist,
                "from": first.isoformat(),
                "to": (first + timedelta(days=30)).isoformat(),
            },
        )
        free_until = None
        for slot in (await resp.json())["slots"]:
            start = datetime.fromisoformat(slot["start"])
            if free_until is None or start >= free_until:
                chosen.append((therapist, slot["start"]))
                free_until = start + timedelta(minutes=75)  # 60 minutes plus the 15-minute buffer
    assert len(chosen) >= count, f"only {len(chosen)} slots"
    return chosen[:count]


STALL_SECONDS = 3.0


@dataclass
class Receiver:
    """The clinic's endpoint. While `stalling` is set it answers slowly, so a kill of the worker falls in
    the middle of its deliveries, not between them."""

    url: str = ""
    seen: list[tuple[str, bytes, dict]] = field(default_factory=list)
    arrivals: Counter = field(default_factory=Counter)
    stalling: asyncio.Event = field(default_factory=asyncio.Event)
    stalled: list[str] = field(default_factory=list)


@pytest.fixture
async def receiver(aiohttp_server):
    found = Receiver()

    async def hook(request: web.Request) -> web.Response:
        webhook_id, body = request.headers["webhook-id"], await request.read()
        found.arrivals[webhook_id] += 1
        if found.stalling.is_set():
            found.stalled.append(webhook_id)
            await asyncio.sleep(STALL_SECONDS)
        found.seen.append((webhook_id, body, dict(request.headers)))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    found.url = str(server.make_url("/hook"))
    return found


async def _true(value) -> bool:
    return bool(value)


async def test_killed_worker_and_consumer_lose_no_email_and_no_webhook(stack, stack_db, receiver):
    url, seen = receiver.url, receiver.seen
    conn = await asyncpg.connect(database_url(stack_db))
    key, prefix = api_keys.generate()
    await conn.execute(
        "INSERT INTO booking.api_keys (id, clinic_id, prefix, key_hash, name) VALUES ($1, $2, $3, $4, 'e2e')",
        uuid.uuid4(),
        stable_id("urban-therapy"),
        prefix,
        api_keys.digest(key),
    )
    stripe_url = f"http://127.0.0.1:{stack.env['FAKE_STRIPE_PORT']}"
    run = uuid.uuid4().hex[:6]
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http:
            client = BaseUrlClient(http, stack.url())
            resp = await client.request(
                "POST",
                "/api/v1/clinic/webhook-endpoints",
                headers={"Authorization": f"Bearer {key}"},
                json={"url": url, "events": ["booking.created"]},
            )
            assert resp.status == 201, await resp.text()
            secret = (await resp.json())["secret"]

            bookings = []
            for i, (therapist, start) in enumerate(await spread_slots(client, BOOKINGS)):
                held = await hold(client, start, therapist=therapist)
                resp = await client.request(
                    "POST", "/api/v1/bookings", json=booking_body(held["id"], email=f"crash-{run}-{i}@example.com")
                )
                assert resp.status == 201, await resp.text()
                bookings.append(await resp.json())

            async def pay(batch):
                await asyncio.gather(*(customer_pays(stripe_url, b["payment"]["stripe_payment_intent"]) for b in batch))

            batches = [bookings[i : i + PAY_CONCURRENCY] for i in range(0, BOOKINGS, PAY_CONCURRENCY)]
            for n, batch in enumerate(batches):
                if n == 3:
                    receiver.stalling.set()
                await pay(batch)
                if n == 3:
                    await wait_for(lambda: _true(receiver.stalled), timeout=30, what="a delivery in progress")
                    stack.stop("celery-worker", sig=signal.SIGKILL)  # mid-delivery, no goodbye
                    receiver.stalling.clear()
                if n == 4:
                    stack.start("celery-worker")
                if n == 6:
                    stack.stop("notifications-consumer", sig=signal.SIGKILL)
                if n == 7:
                    stack.start("notifications-consumer")

            booking_ids = {b["id"] for b in bookings}

            async def all_webhooks():
                bodies = {}
                for webhook_id, body, headers in seen:
                    bodies[webhook_id] = Webhook(secret).verify(body, headers)  # an independent verifier
                return len({b["data"]["booking_id"] for b in bodies.values()} & booking_ids) == BOOKINGS

            await wait_for(all_webhooks, timeout=120, interval=0.5, what="200 signed booking.created webhooks")
            ids = Counter(webhook_id for webhook_id, _, _ in seen)
            assert len(ids) == BOOKINGS, "one webhook-id per booking"

            async def all_emails():
                async with http.get(f"{stack.url()}/dev/mailbox/messages") as resp:
                    messages = (await resp.json())["messages"]
                mine = [m for m in messages if m["to"].startswith(f"crash-{run}-") and m["kind"] == "booking_confirmed"]
                return mine if len({m["to"] for m in mine}) == BOOKINGS else None

            mail = await wait_for(all_emails, timeout=120, interval=0.5, what="200 confirmation emails")
            copies = Counter(m["message_id"] for m in mail)
            print(
                f"\ndeliveries under way at the kill: {len(receiver.stalled)}; "
                f"webhook redeliveries (same id): {sum(ids.values()) - len(ids)}; "
                f"second email copies (same Message-ID): {sum(copies.values()) - len(copies)}"
            )
            assert all(len({m["message_id"] for m in mail if m["to"] == to}) == 1 for to in {m["to"] for m in mail})
            # The deliveries the kill interrupted were made again, under the same webhook-id.
            assert receiver.stalled and all(receiver.arrivals[i] >= 2 for i in receiver.stalled), receiver.stalled
            # And across all the stack's data, every promise held through both kills.
            findings = await invariants.check(
                database_url(stack_db), stack.env["REDIS_URL"], stack.env["REDIS_PREFIX"], settle=5
            )
            assert not any(f.count for f in findings), invariants.report(findings)
    finally:
        await conn.close()
