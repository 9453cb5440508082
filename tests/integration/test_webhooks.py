"""Clinic webhooks on the real stack parts: endpoints through the clinic API (scoped to the clinic),
signed deliveries checked by an independent verifier, retries on schedule, 410, Retry-After, timeouts,
the delivery log, replays, secret rotation, and refusing private addresses."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from services.notifications import webhook_delivery
from services.notifications import webhook_store
from services.notifications.app import create_app as create_notifications_app
from services.notifications.consumer import make_consumer
from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER
from shared.outbox import OutboxRelay
from tests.support.events import booking_confirmed, commit_event
from tests.support.infra import wait_for
from tests.support.receiver import receiver  # noqa: F401  (fixture)

CLINIC_A = str(uuid.uuid4())
CLINIC_B = str(uuid.uuid4())


@pytest.fixture
def hook_settings(settings):
    # A compressed retry schedule; loopback receivers allowed (as in development).
    return settings.with_overrides(webhook_retry_schedule=(0, 0.05, 0.05), webhook_timeout=1.0)


@pytest.fixture
async def notifications(hook_settings, aiohttp_client):
    return await aiohttp_client(create_notifications_app(hook_settings))


def as_clinic(clinic_id: str, settings) -> dict:
    """What the gateway adds after checking the clinic's API key."""
    return {CLINIC_ID_HEADER: clinic_id, INTERNAL_TOKEN_HEADER: settings.internal_token}


async def register(notifications, settings, url: str, clinic: str = CLINIC_A, events=("booking.created",), **extra):
    resp = await notifications.post("/api/v1/clinic/webhook-endpoints", headers=as_clinic(clinic, settings),
                                    json={"url": url, "events": list(events), **extra})
    assert resp.status == 201, await resp.text()
    return await resp.json()


class Deliveries:
    """Events in, deliveries out: the notifications consumer and one attempt at a time, in-process."""

    def __init__(self, settings, redis, booking_pool, notifications_pool):
        self.settings, self.pool = settings, notifications_pool
        self.enqueued: list[tuple[uuid.UUID, int]] = []
        self.relay = OutboxRelay(booking_pool, redis, schema="booking", prefix=settings.redis_prefix)
        self.booking_pool = booking_pool
        self.consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=self._ignore,
                                      enqueue_delivery=self._record, name="test")
        self.alerts = []

    async def _ignore(self, _email_id):
        pass

    async def _record(self, delivery_id, attempt):
        self.enqueued.append((delivery_id, attempt))

    async def publish(self, event):
        await self.consumer.ensure_groups()
        await commit_event(self.booking_pool, event)
        await self.relay.run_once()
        await self.consumer.run_once(block_ms=10)

    async def attempt(self, delivery_id, attempt, session=None) -> str:
        async def alert(conn, endpoint):
            self.alerts.append(endpoint["id"])
        async with self.pool.acquire() as conn:
            return await webhook_delivery.attempt(conn, delivery_id, attempt, self.settings, alert, session=session)

    async def due(self):
        async with self.pool.acquire() as conn, conn.transaction():
            return await webhook_store.claim_due_deliveries(conn, 100, 60)

    async def settle(self, delivery_id, first_attempt: int = 0) -> list[str]:
        """Attempt, then take each retry as it falls due, until the delivery is delivered or failed."""
        outcomes = [await self.attempt(delivery_id, first_attempt)]

        async def next_round():
            for due_id, due_attempt in await self.due():
                outcomes.append(await self.attempt(due_id, due_attempt))
            return outcomes[-1] != "retry"

        if outcomes[-1] == "retry":
            await wait_for(next_round, timeout=10, what="the delivery to settle")
        return outcomes

    async def row(self, delivery_id):
        async with self.pool.acquire() as conn:
            return await conn.fetchrow("SELECT * FROM webhook_deliveries WHERE id = $1", delivery_id)


@pytest.fixture
def deliveries(hook_settings, redis, booking_pool, notifications_pool):
    return Deliveries(hook_settings, redis, booking_pool, notifications_pool)


def clinic_event(clinic_id: str = CLINIC_A):
    event = booking_confirmed()
    return type(event)(type=event.type, data={**event.data, "screening": {"saddle_numbness": True}},
                       clinic_id=clinic_id)


async def test_a_confirmed_booking_is_delivered_signed_to_the_standard(notifications, receiver, deliveries, hook_settings):
    endpoint = await register(notifications, hook_settings, receiver.url)
    assert endpoint["secret"].startswith("whsec_")
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.attempt(delivery_id, attempt) == "delivered"
    assert await deliveries.attempt(delivery_id, attempt) == "skipped", "a duplicate task sends nothing"

    [got] = receiver.received
    assert got.headers["webhook-id"] == str(delivery_id)
    body = Webhook(endpoint["secret"]).verify(got.body, got.headers)   # an independent verifier
    assert body["type"] == "booking.created" and body["data"]["therapist"]["name"] == "Amara Okafor"
    assert "screening" not in got.body.decode() and "saddle" not in got.body.decode()


async def test_other_clinics_events_and_unsubscribed_types_are_not_sent(notifications, receiver, deliveries, hook_settings):
    await register(notifications, hook_settings, receiver.url, events=("booking.cancelled",))
    await deliveries.publish(clinic_event())                 # booking.created: not subscribed
    await deliveries.publish(clinic_event(CLINIC_B))         # another clinic
    assert deliveries.enqueued == []


async def test_failures_are_retried_on_schedule_until_delivered(notifications, receiver, deliveries, hook_settings):
    receiver.answers = [(500, {}, 0), (503, {}, 0)]
    await register(notifications, hook_settings, receiver.url)
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.settle(delivery_id, attempt) == ["retry", "retry", "delivered"]
    row = await deliveries.row(delivery_id)
    assert row["status"] == "delivered" and row["attempts"] == 3
    assert [r.headers["webhook-id"] for r in receiver.received] == [str(delivery_id)] * 3, "same id each time"


async def test_a_worker_s_kept_session_reuses_its_connection_to_the_receiver(notifications, receiver, deliveries,
                                                                           hook_settings):
    await register(notifications, hook_settings, receiver.url)
    for _ in range(3):
        await deliveries.publish(clinic_event())
    kept = webhook_delivery.KeptSession()
    try:
        outcomes = [await deliveries.attempt(d, a, session=kept.get(hook_settings)) for d, a in deliveries.enqueued]
    finally:
        await kept.close()
    assert outcomes == ["delivered"] * 3
    assert len({r.peer for r in receiver.received}) == 1, "three deliveries, one connection"


async def test_a_receiver_hanging_up_is_retried(notifications, receiver, deliveries, hook_settings):
    receiver.answers = [(0, {}, 0)]
    await register(notifications, hook_settings, receiver.url)
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.settle(delivery_id, attempt) == ["retry", "delivered"]
    assert (await deliveries.row(delivery_id))["attempts"] == 2


async def test_a_schedule_used_up_fails_the_delivery(notifications, receiver, deliveries, hook_settings):
    receiver.answers = [(500, {}, 0)] * 3
    await register(notifications, hook_settings, receiver.url)
    await deliveries.publish(clinic_event())
    [(delivery_id, _)] = deliveries.enqueued
    assert await deliveries.settle(delivery_id) == ["retry", "retry", "failed"]
    assert (await deliveries.row(delivery_id))["status"] == "failed"


async def test_410_disables_the_endpoint(notifications, receiver, deliveries, hook_settings):
    receiver.answers = [(410, {}, 0)]
    endpoint = await register(notifications, hook_settings, receiver.url)
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.attempt(delivery_id, attempt) == "endpoint_gone"
    got = await (await notifications.get(f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}",
                                         headers=as_clinic(CLINIC_A, hook_settings))).json()
    assert got["enabled"] is False and "410" in got["disabled_reason"]


async def test_retry_after_is_honoured_and_timeouts_are_failures(notifications, receiver, deliveries, hook_settings):
    receiver.answers = [(429, {"Retry-After": "120"}, 0), (200, {}, 1.5)]
    await register(notifications, hook_settings, receiver.url)
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.attempt(delivery_id, attempt) == "retry"
    row = await deliveries.row(delivery_id)
    assert row["next_attempt_at"] - datetime.now(timezone.utc) > timedelta(seconds=100)
    async with deliveries.pool.acquire() as conn:
        await conn.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
    [(due_id, due_attempt)] = await deliveries.due()
    assert await deliveries.attempt(due_id, due_attempt) == "retry"           # the receiver took 1.5 s > 1 s
    assert "timed out" in (await deliveries.row(delivery_id))["last_error"]


async def test_an_endpoint_failing_for_five_days_is_disabled_and_the_clinic_told(
        notifications, receiver, deliveries, hook_settings):
    receiver.answers = [(500, {}, 0)]
    endpoint = await register(notifications, hook_settings, receiver.url, alert_email="it@clinic.example")
    async with deliveries.pool.acquire() as conn:
        await conn.execute("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days'")
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    await deliveries.attempt(delivery_id, attempt)
    assert deliveries.alerts == [uuid.UUID(endpoint["id"])]
    async with deliveries.pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM webhook_endpoints") == "disabled"


async def test_delivery_log_filters_and_replay(notifications, receiver, deliveries, hook_settings, settings):
    from services.notifications.celery_app import app as celery_app, configure
    configure(celery_app, hook_settings)    # replays are enqueued on this test's own Redis
    receiver.answers = [(500, {}, 0)] * 3
    endpoint = await register(notifications, hook_settings, receiver.url)
    await deliveries.publish(clinic_event())
    [(delivery_id, _)] = deliveries.enqueued
    assert (await deliveries.settle(delivery_id))[-1] == "failed"
    headers = as_clinic(CLINIC_A, hook_settings)
    log = await (await notifications.get(f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/deliveries",
                                         params={"status": "failed"}, headers=headers)).json()
    [failed] = log["deliveries"]
    assert failed["attempts"] == 3 and [a["status_code"] for a in failed["attempt_log"]] == [500, 500, 500]
    assert failed["attempt_log"][0]["response"] == "nope"
    none_pending = await (await notifications.get(f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/deliveries",
                                                  params={"status": "pending"}, headers=headers)).json()
    assert none_pending["deliveries"] == []

    resp = await notifications.post(f"/api/v1/clinic/deliveries/{delivery_id}/replay", headers=headers)
    assert resp.status == 202
    assert await deliveries.attempt(delivery_id, 3) == "delivered"
    assert [r.headers["webhook-id"] for r in receiver.received][-1] == str(delivery_id)

    receiver.answers = [(500, {}, 0)] * 3
    await deliveries.publish(clinic_event())
    second = deliveries.enqueued[-1][0]
    for _ in range(3):
        await deliveries.attempt(second, (await deliveries.row(second))["attempts"])
    resp = await notifications.post(f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/replay", headers=headers,
                                    json={"since": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()})
    assert (await resp.json())["replayed"] == 1


async def test_rotation_signs_with_both_secrets_for_a_day(notifications, receiver, deliveries, hook_settings):
    endpoint = await register(notifications, hook_settings, receiver.url)
    resp = await notifications.post(f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/rotate-secret",
                                    headers=as_clinic(CLINIC_A, hook_settings))
    rotated = await resp.json()
    assert rotated["secret"] != endpoint["secret"]
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    await deliveries.attempt(delivery_id, attempt)
    [got] = receiver.received
    assert got.headers["webhook-signature"].count("v1,") == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        Webhook(secret).verify(got.body, got.headers)


async def test_endpoints_belong_to_their_clinic(notifications, receiver, hook_settings):
    endpoint = await register(notifications, hook_settings, receiver.url)
    other = as_clinic(CLINIC_B, hook_settings)
    path = f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}"
    for method, suffix, kwargs in (("GET", "", {}), ("PATCH", "", {"json": {"enabled": False}}), ("DELETE", "", {}),
                                   ("POST", "/rotate-secret", {}), ("GET", "/deliveries", {})):
        resp = await notifications.request(method, path + suffix, headers=other, **kwargs)
        assert resp.status == 404, (method, suffix)
    assert (await (await notifications.get("/api/v1/clinic/webhook-endpoints", headers=other)).json())["endpoints"] == []
    no_token = {CLINIC_ID_HEADER: CLINIC_A}
    assert (await notifications.get("/api/v1/clinic/webhook-endpoints", headers=no_token)).status == 401


@pytest.mark.parametrize("body, code", [
    ({"url": "http://127.0.0.1:1/hook", "events": ["booking.confirmed"]}, "unknown_event_type"),
    ({"url": "gopher://example.com/x", "events": ["booking.created"]}, "invalid_url"),
    ({"url": "http://no-such-host.invalid/x", "events": ["booking.created"]}, "unresolvable_url"),
    ({"url": "http://127.0.0.1:1/hook", "events": []}, "validation_failed"),
])
async def test_bad_registrations_are_422(notifications, hook_settings, body, code):
    resp = await notifications.post("/api/v1/clinic/webhook-endpoints", headers=as_clinic(CLINIC_A, hook_settings),
                                    json=body)
    assert resp.status == 422 and (await resp.json())["error"]["code"] == code


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])   # an IP literal, and a name resolved at connect
async def test_private_addresses_are_refused_outside_development(hook_settings, aiohttp_client, receiver, deliveries,
                                                                 host):
    url = receiver.url.replace("127.0.0.1", host)
    strict = hook_settings.with_overrides(allow_private_webhooks=False)
    client = await aiohttp_client(create_notifications_app(strict))
    resp = await client.post("/api/v1/clinic/webhook-endpoints", headers=as_clinic(CLINIC_A, strict),
                             json={"url": url, "events": ["booking.created"]})
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "private_address"
    # Registered while allowed, then delivered under the strict rule: refused at delivery too.
    lenient = await aiohttp_client(create_notifications_app(hook_settings))
    await register(lenient, hook_settings, url)
    deliveries.settings = strict
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.attempt(delivery_id, attempt) == "retry"
    assert receiver.received == [] and "private" in (await deliveries.row(delivery_id))["last_error"]
