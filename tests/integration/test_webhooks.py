"""Clinic webhooks on the real stack parts: endpoints through the clinic API (scoped to the clinic),
signed deliveries checked by an independent verifier, retries on schedule, 410, Retry-After, timeouts,
the delivery log, replays, secret rotation, and refusing private addresses."""

from __future__ import annotations

import socket
import uuid
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver
from standardwebhooks.webhooks import Webhook

from services.notifications.app import create_app as create_notifications_app
from services.notifications.consumer import make_consumer
from services.notifications.webhooks import delivery as webhook_delivery
from services.notifications.webhooks import store as webhook_store
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
    resp = await notifications.post(
        "/api/v1/clinic/webhook-endpoints",
        headers=as_clinic(clinic, settings),
        json={"url": url, "events": list(events), **extra},
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


class Deliveries:
    """Events in, deliveries out: the notifications consumer and one attempt at a time, in-process."""

    def __init__(self, settings, redis, booking_pool, notifications_pool):
        self.settings, self.pool = settings, notifications_pool
        self.enqueued: list[tuple[uuid.UUID, int]] = []
        self.relay = OutboxRelay(booking_pool, redis, schema="booking", prefix=settings.redis_prefix)
        self.booking_pool = booking_pool
        self.consumer = make_consumer(
            notifications_pool, redis, settings, enqueue_email=self._ignore, enqueue_delivery=self._record, name="test"
        )
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
    return type(event)(
        type=event.type, data={**event.data, "screening": {"saddle_numbness": True}}, clinic_id=clinic_id
    )


async def test_a_confirmed_booking_is_delivered_signed_to_the_standard(
    notifications, receiver, deliveries, hook_settings
):
    endpoint = await register(notifications, hook_settings, receiver.url)
    assert endpoint["secret"].startswith("whsec_")
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.attempt(delivery_id, attempt) == "delivered"
    assert await deliveries.attempt(delivery_id, attempt) == "skipped", "a duplicate task sends nothing"

    [got] = receiver.received
    assert got.headers["webhook-id"] == str(delivery_id)
    body = Webhook(endpoint["secret"]).verify(got.body, got.headers)  # an independent verifier
    assert body["type"] == "booking.created" and body["data"]["therapist"]["name"] == "Amara Okafor"
    assert "screening" not in got.body.decode() and "saddle" not in got.body.decode()


async def test_other_clinics_events_and_unsubscribed_types_are_not_sent(
    notifications, receiver, deliveries, hook_settings
):
    await register(notifications, hook_settings, receiver.url, events=("booking.cancelled",))
    await deliveries.publish(clinic_event())  # booking.created: not subscribed
    await deliveries.publish(clinic_event(CLINIC_B))  # another clinic
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


async def test_a_worker_s_kept_session_reuses_its_connection_to_the_receiver(
    notifications, receiver, deliveries, hook_settings
):
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
    got = await (
        await notifications.get(
            f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}", headers=as_clinic(CLINIC_A, hook_settings)
        )
    ).json()
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
    assert await deliveries.attempt(due_id, due_attempt) == "retry"  # the receiver took 1.5 s > 1 s
    assert "timed out" in (await deliveries.row(delivery_id))["last_error"]


async def test_an_endpoint_failing_for_five_days_is_disabled_and_the_clinic_told(
    notifications, receiver, deliveries, hook_settings
):
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


async def test_the_disabled_endpoints_email_is_started_once_its_row_is_committed(
    notifications, receiver, deliveries, hook_settings
):
    # A task started inside the attempt's transaction could run before the email's row is visible, and the
    # email would then wait for the sweeper: the real alert's send starts only after the commit.
    from services.notifications.webhooks import tasks as webhook_tasks
    from services.notifications.worker.celery_app import app as celery_app
    from services.notifications.worker.celery_app import configure

    configure(celery_app, hook_settings)  # the send is enqueued on this test's own Redis
    receiver.answers = [(500, {}, 0)]
    await register(notifications, hook_settings, receiver.url, alert_email="it@clinic.example")
    async with deliveries.pool.acquire() as conn:
        await conn.execute("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days'")
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    seen_by_a_worker = []

    async def alert(conn, endpoint):
        send = await webhook_tasks.alert_clinic(conn, endpoint)

        async def checked_send():
            seen_by_a_worker.append(
                await deliveries.pool.fetchval("SELECT count(*) FROM emails WHERE kind = 'webhook_endpoint_disabled'")
            )
            await send()

        return checked_send

    async with deliveries.pool.acquire() as conn:
        await webhook_delivery.attempt(conn, delivery_id, attempt, hook_settings, alert)
    assert seen_by_a_worker == [1]


async def test_delivery_log_filters_and_replay(notifications, receiver, deliveries, hook_settings, settings):
    from services.notifications.worker.celery_app import app as celery_app
    from services.notifications.worker.celery_app import configure

    configure(celery_app, hook_settings)  # replays are enqueued on this test's own Redis
    receiver.answers = [(500, {}, 0)] * 3
    endpoint = await register(notifications, hook_settings, receiver.url)
    await deliveries.publish(clinic_event())
    [(delivery_id, _)] = deliveries.enqueued
    assert (await deliveries.settle(delivery_id))[-1] == "failed"
    headers = as_clinic(CLINIC_A, hook_settings)
    log = await (
        await notifications.get(
            f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/deliveries",
            params={"status": "failed"},
            headers=headers,
        )
    ).json()
    [failed] = log["deliveries"]
    assert failed["attempts"] == 3 and [a["status_code"] for a in failed["attempt_log"]] == [500, 500, 500]
    assert failed["attempt_log"][0]["response"] == "nope"
    none_pending = await (
        await notifications.get(
            f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/deliveries",
            params={"status": "pending"},
            headers=headers,
        )
    ).json()
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
    resp = await notifications.post(
        f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/replay",
        headers=headers,
        json={"since": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()},
    )
    assert (await resp.json())["replayed"] == 1


async def test_rotation_signs_with_both_secrets_for_a_day(notifications, receiver, deliveries, hook_settings):
    endpoint = await register(notifications, hook_settings, receiver.url)
    resp = await notifications.post(
        f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=as_clinic(CLINIC_A, hook_settings)
    )
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
    for method, suffix, kwargs in (
        ("GET", "", {}),
        ("PATCH", "", {"json": {"enabled": False}}),
        ("DELETE", "", {}),
        ("POST", "/rotate-secret", {}),
        ("GET", "/deliveries", {}),
    ):
        resp = await notifications.request(method, path + suffix, headers=other, **kwargs)
        assert resp.status == 404, (method, suffix)
    assert (await (await notifications.get("/api/v1/clinic/webhook-endpoints", headers=other)).json())[
        "endpoints"
    ] == []
    no_token = {CLINIC_ID_HEADER: CLINIC_A}
    assert (await notifications.get("/api/v1/clinic/webhook-endpoints", headers=no_token)).status == 401


@pytest.mark.parametrize(
    "body, code",
    [
        ({"url": "http://127.0.0.1:1/hook", "events": ["booking.confirmed"]}, "unknown_event_type"),
        ({"url": "gopher://example.com/x", "events": ["booking.created"]}, "invalid_url"),
        ({"url": "http://no-such-host.invalid/x", "events": ["booking.created"]}, "unresolvable_url"),
        ({"url": "http://127.0.0.1:1/hook", "events": []}, "validation_failed"),
    ],
)
async def test_bad_registrations_are_422(notifications, hook_settings, body, code):
    resp = await notifications.post(
        "/api/v1/clinic/webhook-endpoints", headers=as_clinic(CLINIC_A, hook_settings), json=body
    )
    assert resp.status == 422 and (await resp.json())["error"]["code"] == code


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # an IP literal, and a name resolved at connect
async def test_private_addresses_are_refused_outside_development(
    hook_settings, aiohttp_client, receiver, deliveries, host
):
    url = receiver.url.replace("127.0.0.1", host)
    strict = hook_settings.with_overrides(allow_private_webhooks=False)
    client = await aiohttp_client(create_notifications_app(strict))
    resp = await client.post(
        "/api/v1/clinic/webhook-endpoints",
        headers=as_clinic(CLINIC_A, strict),
        json={"url": url, "events": ["booking.created"]},
    )
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "private_address"
    # Registered while allowed, then delivered under the strict rule: refused at delivery too.
    lenient = await aiohttp_client(create_notifications_app(hook_settings))
    await register(lenient, hook_settings, url)
    deliveries.settings = strict
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.attempt(delivery_id, attempt) == "retry"
    assert receiver.received == [] and "private" in (await deliveries.row(delivery_id))["last_error"]


# --- the production address filter: IPv6 forms, control characters, credentials, connect time ------------


@pytest.fixture
def strict_settings(hook_settings):
    """Production's rule (WEBHOOKS_ALLOW_PRIVATE off); plain http stays allowed, as the test env is not production."""
    return hook_settings.with_overrides(allow_private_webhooks=False)


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::10.0.0.1",
        "64:ff9b:1::a9fe:a9fe",
        "2002:a00:1::1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2a00:1450:4009::200:5efe:192.168.1.1",
    ],
)
async def test_ipv6_forms_carrying_a_private_ipv4_are_refused_at_registration_and_patch(
    strict_settings, hook_settings, aiohttp_client, receiver, address
):
    strict = await aiohttp_client(create_notifications_app(strict_settings))
    headers = as_clinic(CLINIC_A, strict_settings)
    url = f"https://[{address}]/hook"
    resp = await strict.post(
        "/api/v1/clinic/webhook-endpoints", headers=headers, json={"url": url, "events": ["booking.created"]}
    )
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "private_address" and "public internet addresses" in error["message"]
    endpoint = await register(
        await aiohttp_client(create_notifications_app(hook_settings)), hook_settings, receiver.url
    )
    resp = await strict.patch(f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}", headers=headers, json={"url": url})
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "private_address"
    resp = await strict.get(f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}", headers=headers)
    assert (await resp.json())["url"] == receiver.url


async def test_spaces_control_characters_and_credentials_are_refused_even_in_development(
    notifications, hook_settings, receiver
):
    # Control characters never reach the URL rules through the API: the input layer refuses them in any one-line
    # field (validation_failed). The rules refuse them too, for rows already stored (the delivery test below).
    bad = [
        (receiver.url + "\r\nX-Injected: 1", "validation_failed"),
        (receiver.url.replace("/hook", "/ho\tok"), "validation_failed"),
        (receiver.url.replace("/hook", "/ho ok"), "invalid_url"),
        (receiver.url.replace("//", "//@"), "invalid_url"),
        (receiver.url.replace("//", "//clinic@"), "invalid_url"),
        (receiver.url.replace("//", "//clinic:s3cret@"), "invalid_url"),
    ]
    endpoint = await register(notifications, hook_settings, receiver.url)
    headers = as_clinic(CLINIC_A, hook_settings)
    for url, code in bad:
        for method, path in (
            ("POST", "/api/v1/clinic/webhook-endpoints"),
            ("PATCH", f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}"),
        ):
            resp = await notifications.request(
                method, path, headers=headers, json={"url": url, "events": ["booking.created"]}
            )
            assert resp.status == 422, (url, method)
            assert (await resp.json())["error"]["code"] == code, (url, method)
    listed = await (await notifications.get("/api/v1/clinic/webhook-endpoints", headers=headers)).json()
    assert [e["url"] for e in listed["endpoints"]] == [receiver.url]


class FakeDNS(AbstractResolver):
    """A test's DNS: every name answers `address` (no lookups leave the machine)."""

    def __init__(self, address: str):
        self.address, self.asked = address, []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        return [
            {
                "hostname": host,
                "host": self.address,
                "port": port,
                "family": family,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
        ]

    async def close(self):
        pass


async def stored_endpoint(pool, url: str) -> None:
    """An endpoint saved as if its checks had passed at registration (DNS answered a public address then)."""
    async with pool.acquire() as conn:
        await webhook_store.insert_endpoint(
            conn, uuid.UUID(CLINIC_A), url, "", ["booking.created"], None, "whsec_" + "A" * 32
        )


@pytest.mark.parametrize("answer", ["127.0.0.1", "64:ff9b::127.0.0.1", "2002:7f00:1::1", "::ffff:0:127.0.0.1"])
async def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_delivery(
    strict_settings, deliveries, receiver, notifications_pool, answer
):
    # DNS rebinding: a public answer at registration, a private one (plain, or inside an IPv6 form) at delivery.
    await stored_endpoint(notifications_pool, receiver.url.replace("127.0.0.1", "hooks.clinic.example"))
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    dns = FakeDNS(answer)
    deliveries.settings = strict_settings
    async with webhook_delivery.guarded_session(strict_settings, dns=dns) as strict:
        assert await deliveries.attempt(delivery_id, attempt, session=strict) == "retry"
    assert dns.asked == ["hooks.clinic.example"] and receiver.received == []
    assert "public internet addresses" in (await deliveries.row(delivery_id))["last_error"]
    # The same name and DNS under development's rule reaches the receiver: the guard, not the DNS, refused it.
    deliveries.settings = strict_settings.with_overrides(allow_private_webhooks=True)
    async with webhook_delivery.guarded_session(deliveries.settings, dns=FakeDNS("127.0.0.1")) as lenient:
        assert await deliveries.attempt(delivery_id, attempt + 1, session=lenient) == "delivered"
    assert len(receiver.received) == 1


async def test_ip_literals_which_skip_the_resolver_are_refused_at_connect(strict_settings, hook_settings, receiver):
    # aiohttp never hands an IP literal to the resolver; the socket factory judges it.
    async with webhook_delivery.guarded_session(strict_settings) as session:
        for url in (
            receiver.url,
            receiver.url.replace("127.0.0.1", "[::ffff:127.0.0.1]"),
            receiver.url.replace("127.0.0.1", "[64:ff9b::127.0.0.1]"),
        ):
            with pytest.raises(aiohttp.ClientConnectorError, match="public internet addresses"):
                await session.post(url, data=b"{}")
    assert receiver.received == []
    async with webhook_delivery.guarded_session(hook_settings) as session:  # development: as today
        async with session.post(receiver.url, data=b"{}") as resp:
            assert resp.status == 200


async def test_a_stored_url_with_control_characters_is_refused_at_delivery(deliveries, receiver, notifications_pool):
    await stored_endpoint(notifications_pool, receiver.url + "\r\nX-Injected: 1")
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.attempt(delivery_id, attempt) == "retry"
    assert receiver.received == [] and "control characters" in (await deliveries.row(delivery_id))["last_error"]
