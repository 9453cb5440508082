"""A malicious clinic against the webhook machinery: endless endpoints (every event is one delivery per endpoint,
on workers all clinics share), redirects to our own networks, and the spellings of loopback that are not
`127.0.0.1` (decimal, hex, octal, short forms, `0`), at registration and at delivery."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.notifications.app import create_app as create_notifications_app
from services.notifications.webhooks.rules import MAX_ENDPOINTS
from tests.integration.test_webhooks import CLINIC_A, Deliveries, as_clinic, clinic_event, stored_endpoint
from tests.support.receiver import Receiver, receiver  # noqa: F401  (fixture)

BASE = "/api/v1/clinic/webhook-endpoints"


@pytest.fixture
def hook_settings(settings):
    return settings.with_overrides(webhook_retry_schedule=(0, 0.05, 0.05), webhook_timeout=1.0)


@pytest.fixture
def strict_settings(hook_settings):
    """Production's address rule (WEBHOOKS_ALLOW_PRIVATE off)."""
    return hook_settings.with_overrides(allow_private_webhooks=False)


@pytest.fixture
async def notifications(hook_settings, aiohttp_client):
    return await aiohttp_client(create_notifications_app(hook_settings))


@pytest.fixture
def deliveries(hook_settings, redis, booking_pool, notifications_pool):
    return Deliveries(hook_settings, redis, booking_pool, notifications_pool)


async def test_a_clinic_cannot_register_endless_endpoints(notifications, hook_settings, receiver):
    owner = as_clinic(str(uuid.uuid4()), hook_settings)
    body = {"url": receiver.url, "events": ["booking.created"]}
    # All at once: the limit holds however the registrations interleave.
    answers = await asyncio.gather(
        *(notifications.post(BASE, headers=owner, json=body) for _ in range(MAX_ENDPOINTS + 4))
    )
    assert sorted(a.status for a in answers) == [201] * MAX_ENDPOINTS + [409] * 4
    refused = await next(a for a in answers if a.status == 409).json()
    assert refused["error"]["code"] == "too_many_endpoints" and refused["error"]["details"] == {"limit": MAX_ENDPOINTS}
    listed = (await (await notifications.get(BASE, headers=owner)).json())["endpoints"]
    assert len(listed) == MAX_ENDPOINTS
    # Another clinic is not counted with it; a deleted endpoint no longer counts.
    assert (
        await notifications.post(BASE, headers=as_clinic(str(uuid.uuid4()), hook_settings), json=body)
    ).status == 201
    assert (await notifications.delete(f"{BASE}/{listed[0]['id']}", headers=owner)).status == 204
    assert (await notifications.post(BASE, headers=owner, json=body)).status == 201
    assert (await notifications.post(BASE, headers=owner, json=body)).status == 409


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_a_failed_attempt_never_followed(
    deliveries, receiver, aiohttp_server, notifications_pool, status
):
    # The clinic's receiver answers with a redirect to somewhere else (in production: our metadata service).
    elsewhere = Receiver()
    elsewhere_url = str((await aiohttp_server(elsewhere.app())).make_url("/hook"))
    receiver.answers = [(status, {"Location": elsewhere_url}, 0.0)]
    await stored_endpoint(notifications_pool, receiver.url)
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    assert await deliveries.attempt(delivery_id, attempt) == "retry"
    assert len(receiver.received) == 1 and elsewhere.received == []
    row = await deliveries.row(delivery_id)
    assert row["last_status"] == status and row["status"] == "pending"


# Loopback and "this host" as a URL may spell them: what the C resolver (inet_aton) reads as 127.0.0.1 or 0.0.0.0
# (which Linux connects to this host), names that resolve there, and IPv6 forms of them.
LOOPBACK_SPELLINGS = ("2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0", "0.0.0.0", "localhost")
OTHER_OWN_NETWORKS = ("[::1]", "[::]", "[::ffff:7f00:1]", "169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.1.1")


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS + OTHER_OWN_NETWORKS)
async def test_spellings_of_our_own_networks_are_refused_at_registration(strict_settings, aiohttp_client, host):
    strict = await aiohttp_client(create_notifications_app(strict_settings))
    resp = await strict.post(
        BASE,
        headers=as_clinic(CLINIC_A, strict_settings),
        json={"url": f"http://{host}:8083/internal/v1/anything", "events": ["booking.created"]},
    )
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "private_address", host


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
async def test_spellings_of_loopback_are_refused_at_delivery(
    strict_settings, hook_settings, deliveries, receiver, notifications_pool, host
):
    # Stored while allowed (or before a rule was tightened): under production's rule the delivery never reaches
    # the receiver on loopback, whatever the spelling (yarl refuses the non-canonical IPv4 forms outright).
    await stored_endpoint(notifications_pool, receiver.url.replace("127.0.0.1", host))
    await deliveries.publish(clinic_event())
    [(delivery_id, attempt)] = deliveries.enqueued
    deliveries.settings = strict_settings
    assert await deliveries.attempt(delivery_id, attempt) == "retry"
    assert receiver.received == []
    error = (await deliveries.row(delivery_id))["last_error"]
    assert "public internet addresses" in error or "is not a canonical IPv4 address" in error, error
    if host in ("0.0.0.0", "localhost"):  # spellings aiohttp connects to: refused by the guard alone
        assert "public internet addresses" in error
        # The same URL under development's rule reaches the receiver (0.0.0.0 is this host on Linux).
        deliveries.settings = hook_settings
        assert await deliveries.attempt(delivery_id, attempt + 1) == "delivered"
        assert len(receiver.received) == 1
