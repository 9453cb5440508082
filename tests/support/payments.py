"""Paying as a customer's browser would (on the fake Stripe), and running the event path in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import stripe

from services.booking import consumer as booking_consumer
from services.notifications import consumer as notifications_consumer
from services.payments import consumer as payments_consumer
from services.payments.stripe_gateway import StripeGateway
from shared.outbox import OutboxRelay
from shared.streams import consumer_for
from tests.support.infra import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class FakeStripe:
    """The offline Stripe server of `make run` (localstripe on loopback), on a free port."""

    def __init__(self, logdir: Path, webhook_secret: str):
        self.port = free_port()
        self.logdir = logdir
        self.webhook_secret = webhook_secret
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "FAKE_STRIPE_PORT": str(self.port),
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_WEBHOOK_URL": "http://127.0.0.1:9/unset",
            "LOG_LEVEL": "WARNING",
        }
        log = open(self.logdir / "fake-stripe.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.dev.fake_stripe"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/v1/balance", timeout=0.5)
                return
            except urllib.error.HTTPError:
                return  # it answers (401 without a key): it is up
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("fake Stripe did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


async def customer_pays(stripe_url: str, intent_id: str, card: str = "pm_card_visa") -> str:
    """What Stripe.js does in the browser: attach the card, confirm. Returns the intent's status."""
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient("sk_test_browser", http_client=http, base_addresses={"api": stripe_url})
    try:
        await client.v1.payment_intents.update_async(intent_id, params={"payment_method": card})
        intent = await client.v1.payment_intents.confirm_async(intent_id)
        return intent.status
    except stripe.CardError:
        return "declined"
    finally:
        await http.close_async()


async def book_and_pay_by_card(http, stripe_url: str, **book_kwargs) -> dict:
    """Book through the API and pay on (fake) Stripe; confirmation then arrives through the webhook."""
    from tests.support.booking import book

    booking = await book(http, **book_kwargs)
    assert await customer_pays(stripe_url, booking["payment"]["stripe_payment_intent"]) == "succeeded"
    return booking


class EventPath:
    """The relays and consumers of booking and payments, run in-process step by step."""

    def __init__(self, settings, redis, pools: dict):
        self.settings = settings
        self.stripe = StripeGateway(settings)
        self.enqueued_emails: list = []
        self.enqueued_deliveries: list = []
        self.relays = [
            OutboxRelay(pools[s], redis, schema=s, prefix=settings.redis_prefix) for s in ("booking", "payments")
        ]
        self.consumers = [
            notifications_consumer.make_consumer(
                pools["notifications"],
                redis,
                settings,
                enqueue_email=self._record_email,
                enqueue_delivery=self._record_delivery,
                name="test-notifications",
            ),
            consumer_for(
                pools["booking"],
                redis,
                settings,
                group=booking_consumer.GROUP,
                handlers=booking_consumer.build_handlers(settings),
                name="test-booking",
            ),
            consumer_for(
                pools["payments"],
                redis,
                settings,
                group=payments_consumer.GROUP,
                handlers=payments_consumer.build_handlers(self.stripe),
                name="test-payments",
            ),
        ]

    async def _record_email(self, email_id) -> None:
        self.enqueued_emails.append(email_id)  # Celery's part is tested on its own

    async def _record_delivery(self, delivery_id, attempt) -> None:
        self.enqueued_deliveries.append((delivery_id, attempt))

    async def start(self) -> None:
        for consumer in self.consumers:
            await consumer.ensure_groups()

    async def drain(self, rounds: int = 4) -> None:
        """Publish and handle until nothing moves (events cause events: payment → booking → refund)."""
        for _ in range(rounds):
            moved = 0
            for relay in self.relays:
                moved += await relay.run_once()
            for consumer in self.consumers:
                moved += await consumer.run_once(block_ms=1)
            if not moved:
                return

    async def close(self) -> None:
        await self.stripe.close()
