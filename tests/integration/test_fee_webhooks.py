"""Clinic webhooks of a booking's fee (issue 20): `fee.charged` → `booking.fee_charged`, `fee.failed` →
`booking.fee_failed`, subscribable through the clinic API, delivered signed to the Standard Webhooks spec (checked
by an independent verifier) with only the fee's fields: never the customer's pay token (it opens their pay page)
nor their address. The events are built with shared.contracts and go as payments writes them: its outbox, the
relay, the "fee" stream, the notifications consumer, one delivery attempt in-process."""

from __future__ import annotations

import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from services.notifications import api_spec
from services.notifications.app import create_app as create_notifications_app
from services.notifications.consumer import make_consumer
from services.notifications.webhooks import delivery as webhook_delivery
from services.notifications.webhooks.rules import CLINIC_EVENTS, EVENT_TYPES, payload_for
from shared import contracts
from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER
from shared.outbox import OutboxRelay
from tests.support.receiver import receiver  # noqa: F401  (fixture)

CLINIC = str(uuid.uuid4())
OTHER_CLINIC = str(uuid.uuid4())
FEE_TYPES = ("booking.fee_charged", "booking.fee_failed")


@pytest.fixture
def hook_settings(settings):
    return settings.with_overrides(webhook_retry_schedule=(0, 0.05, 0.05), webhook_timeout=1.0)


@pytest.fixture
async def notifications(hook_settings, aiohttp_client):
    return await aiohttp_client(create_notifications_app(hook_settings))


def as_clinic(settings, clinic_id: str = CLINIC) -> dict:
    return {CLINIC_ID_HEADER: clinic_id, INTERNAL_TOKEN_HEADER: settings.internal_token}


async def register(notifications, settings, url: str, events, clinic_id: str = CLINIC) -> dict:
    resp = await notifications.post(
        "/api/v1/clinic/webhook-endpoints", headers=as_clinic(settings, clinic_id), json={"url": url, "events": events}
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


def fee_event(event_type: str, clinic_id: str = CLINIC, **extra):
    outcome = contracts.FeeOutcome(
        fee_id=str(uuid.uuid4()),
        booking_id=str(uuid.uuid4()),
        kind="no_show",
        amount=contracts.Money(3250, "GBP"),
        customer_email="ada@example.com",
        **extra,
    )
    return contracts.event(outcome, event_type, clinic_id=clinic_id)


class FeePath:
    def __init__(self, settings, redis, payments_pool, notifications_pool):
        self.settings, self.payments_pool, self.notifications_pool = settings, payments_pool, notifications_pool
        self.enqueued: list[tuple[uuid.UUID, int]] = []
        self.relay = OutboxRelay(payments_pool, redis, schema="payments", prefix=settings.redis_prefix)
        self.consumer = make_consumer(
            notifications_pool, redis, settings, enqueue_email=self._ignore, enqueue_delivery=self._record, name="t"
        )

    async def _ignore(self, _email_id) -> None:
        pass

    async def _record(self, delivery_id, attempt) -> None:
        self.enqueued.append((delivery_id, attempt))

    async def publish(self, *events) -> None:
        from tests.support.events import commit_event

        await self.consumer.ensure_groups()
        for event in events:
            await commit_event(self.payments_pool, event)
        await self.relay.run_once()
        while await self.consumer.run_once(block_ms=10):
            pass

    async def attempt_all(self) -> list[str]:
        async def alert(conn, endpoint):
            raise AssertionError("no endpoint fails here")

        outcomes = []
        for delivery_id, attempt in self.enqueued:
            async with self.notifications_pool.acquire() as conn:
                outcomes.append(await webhook_delivery.attempt(conn, delivery_id, attempt, self.settings, alert))
        self.enqueued.clear()
        return outcomes


@pytest.fixture
def fee_path(hook_settings, redis, payments_pool, notifications_pool):
    return FeePath(hook_settings, redis, payments_pool, notifications_pool)


async def test_fee_events_are_subscribable_and_listed_in_the_spec(notifications, hook_settings):
    assert {CLINIC_EVENTS["fee.charged"], CLINIC_EVENTS["fee.failed"]} == set(FEE_TYPES) <= EVENT_TYPES
    endpoint = await register(notifications, hook_settings, "http://127.0.0.1:9/hook", ["booking.fee_failed"])
    assert endpoint["events"] == ["booking.fee_failed"]
    resp = await notifications.patch(
        f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}",
        headers=as_clinic(hook_settings),
        json={"events": ["booking.fee_charged", "booking.fee_failed", "booking.created"]},
    )
    assert resp.status == 200 and (await resp.json())["events"] == [
        "booking.created",
        "booking.fee_charged",
        "booking.fee_failed",
    ]
    resp = await notifications.post(
        "/api/v1/clinic/webhook-endpoints",
        headers=as_clinic(hook_settings),
        json={"url": "http://127.0.0.1:9/hook", "events": ["fee.charged"]},  # our internal name: not a clinic's
    )
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "unknown_event_type"
    assert set(FEE_TYPES) <= set((await resp.json())["error"]["details"]["allowed"])
    # The spec: the events enum and the register operation's words name them and what they carry.
    assert set(FEE_TYPES) <= set(api_spec.ENDPOINT["properties"]["events"]["items"]["enum"])
    for said in (*FEE_TYPES, "`fee_id`", "`via`", "`failure`"):
        assert said in api_spec.EVENTS_DESCRIPTION


async def test_charged_and_failed_fees_are_delivered_signed_with_the_fee_only_never_the_pay_token(
    notifications, receiver, fee_path, hook_settings
):
    endpoint = await register(notifications, hook_settings, receiver.url, list(FEE_TYPES))
    token = "pt_" + uuid.uuid4().hex
    charged = fee_event("fee.charged", via="off_session")
    failed = fee_event("fee.failed", failure="Your bank declined the charge.", pay_token=token)
    await fee_path.publish(charged, failed)
    assert len(fee_path.enqueued) == 2
    assert await fee_path.attempt_all() == ["delivered", "delivered"]

    bodies = {}
    for got in receiver.received:
        body = Webhook(endpoint["secret"]).verify(got.body, got.headers)  # an independent verifier
        assert got.headers["webhook-id"] and got.headers["webhook-signature"].startswith("v1,")
        assert token not in got.body.decode() and "pay_token" not in got.body.decode()
        assert "ada@example.com" not in got.body.decode()
        bodies[body["type"]] = body
    amount = {"amount": 3250, "currency": "GBP"}
    assert bodies["booking.fee_charged"]["data"] == {
        "fee_id": charged.data["fee_id"],
        "booking_id": charged.data["booking_id"],
        "kind": "no_show",
        "amount": amount,
        "via": "off_session",
    }
    assert bodies["booking.fee_failed"]["data"] == {
        "fee_id": failed.data["fee_id"],
        "booking_id": failed.data["booking_id"],
        "kind": "no_show",
        "amount": amount,
        "failure": "Your bank declined the charge.",
    }
    assert bodies["booking.fee_charged"]["timestamp"] == charged.occurred_at.isoformat()
    # What the delivery log keeps (and a replay would send) has no token either.
    async with fee_path.notifications_pool.acquire() as conn:
        logged = await conn.fetch("SELECT payload::text AS p FROM webhook_deliveries")
    assert len(logged) == 2 and not any(token in row["p"] or "pay_token" in row["p"] for row in logged)


async def test_fees_go_only_to_their_clinic_s_endpoints_subscribed_to_them(
    notifications, receiver, fee_path, hook_settings
):
    await register(notifications, hook_settings, receiver.url, ["booking.created", "booking.fee_failed"])
    await register(notifications, hook_settings, receiver.url, list(FEE_TYPES), clinic_id=OTHER_CLINIC)
    await fee_path.publish(fee_event("fee.charged", via="off_session"))  # not subscribed
    assert fee_path.enqueued == []
    await fee_path.publish(fee_event("fee.failed", failure="No card is saved.", pay_token="t"))
    assert len(fee_path.enqueued) == 1


def test_a_pay_token_is_never_sent_even_inside_other_data():
    # Belt and braces: a pay token in any event's data is scrubbed, whatever the type.
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    body = payload_for("booking.cancelled", now, {"booking_id": "b", "nested": {"pay_token": "t", "ok": 1}})
    assert body["data"] == {"booking_id": "b", "nested": {"ok": 1}}
    body = payload_for("booking.fee_failed", now, {**fee_event("fee.failed", pay_token="t").data, "extra": 1})
    assert set(body["data"]) == {"fee_id", "booking_id", "kind", "amount"}
