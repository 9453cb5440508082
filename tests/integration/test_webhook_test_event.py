"""The clinic's "send test event" (POST /api/v1/clinic/webhook-endpoints/{id}/test): a `webhook.test` event queued
for that endpoint alone, delivered by the real Celery task on the real broker, signed to the Standard Webhooks spec
(checked by an independent verifier), in the delivery log, retried and replayable like any event; the owner's only,
the clinic's own endpoints only, never to a disabled endpoint."""

from __future__ import annotations

import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from services.notifications.app import create_app as create_notifications_app
from services.notifications.webhooks.rules import EVENT_TYPES, TEST_EVENT
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.notifications import run_queued_deliveries, take_queued_tasks, task_env  # noqa: F401  (fixture)
from tests.support.receiver import receiver  # noqa: F401  (fixture)

CLINIC_A = str(uuid.uuid4())
CLINIC_B = str(uuid.uuid4())
BASE = "/api/v1/clinic/webhook-endpoints"


@pytest.fixture
async def notifications(settings, aiohttp_client, task_env):
    """The notifications service; its Celery sends go to this test's own broker (task_env)."""
    return await aiohttp_client(create_notifications_app(settings))


def as_clinic(settings, clinic_id: str = CLINIC_A, role: str = "owner") -> dict:
    """What the gateway adds after checking a key or a staff sign-in."""
    return {CLINIC_ID_HEADER: clinic_id, CLINIC_ROLE_HEADER: role, INTERNAL_TOKEN_HEADER: settings.internal_token}


async def register(notifications, settings, url: str, events=("booking.created",)) -> dict:
    resp = await notifications.post(BASE, headers=as_clinic(settings), json={"url": url, "events": list(events)})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def deliveries_of(notifications, settings, endpoint: dict, **params) -> list[dict]:
    resp = await notifications.get(
        f"{BASE}/{endpoint['id']}/deliveries", headers=as_clinic(settings), params=params or None
    )
    assert resp.status == 200, await resp.text()
    return (await resp.json())["deliveries"]


async def test_a_test_event_is_queued_signed_delivered_logged_and_replayable(notifications, settings, redis, receiver):
    endpoint = await register(notifications, settings, receiver.url, events=("voucher.purchased",))
    resp = await notifications.post(f"{BASE}/{endpoint['id']}/test", headers=as_clinic(settings))
    assert resp.status == 202, await resp.text()
    queued = await resp.json()
    assert queued["event_type"] == TEST_EVENT and queued["status"] == "pending" and queued["attempts"] == 0
    assert TEST_EVENT not in EVENT_TYPES, "not an event to subscribe to: sent whatever the endpoint subscribes to"

    # The request enqueued the real delivery task on the broker; the worker's task, run here, sends it.
    assert await run_queued_deliveries(redis) == ["delivered"]
    [got] = receiver.received
    assert got.headers["webhook-id"] == queued["id"]
    body = Webhook(endpoint["secret"]).verify(got.body, got.headers)  # an independent verifier
    assert body["type"] == TEST_EVENT and body["data"]["endpoint_id"] == endpoint["id"] and body["timestamp"]

    [logged] = await deliveries_of(notifications, settings, endpoint, status="delivered")
    assert logged["id"] == queued["id"] and logged["event_type"] == TEST_EVENT and logged["attempts"] == 1
    assert [a["status_code"] for a in logged["attempt_log"]] == [200]

    replayed = await notifications.post(f"/api/v1/clinic/deliveries/{queued['id']}/replay", headers=as_clinic(settings))
    assert replayed.status == 202
    assert await run_queued_deliveries(redis) == ["delivered"]
    assert [r.headers["webhook-id"] for r in receiver.received] == [queued["id"]] * 2, "the same webhook-id"
    [again] = await deliveries_of(notifications, settings, endpoint)
    assert again["attempts"] == 2 and len(again["attempt_log"]) == 2


async def test_only_that_endpoint_gets_it(notifications, settings, redis, receiver):
    chosen = await register(notifications, settings, receiver.url)
    other = await register(notifications, settings, receiver.url.replace("/hook", "/hook?other"))
    resp = await notifications.post(f"{BASE}/{chosen['id']}/test", headers=as_clinic(settings))
    assert resp.status == 202
    [(task, args)] = await take_queued_tasks(redis)
    assert task == "notifications.deliver_webhook" and args == [(await resp.json())["id"], 0]
    assert await deliveries_of(notifications, settings, other) == []
    assert len(await deliveries_of(notifications, settings, chosen)) == 1


async def test_a_failed_test_event_is_retried_on_schedule_like_any_event(notifications, settings, redis, receiver):
    receiver.answers = [(500, {}, 0)]
    endpoint = await register(notifications, settings, receiver.url)
    resp = await notifications.post(f"{BASE}/{endpoint['id']}/test", headers=as_clinic(settings))
    assert await run_queued_deliveries(redis) == ["retry"]
    [pending] = await deliveries_of(notifications, settings, endpoint, status="pending")
    assert pending["id"] == (await resp.json())["id"] and pending["last_status"] == 500
    assert pending["next_attempt_at"] is not None and pending["attempt_log"][0]["response"] == "nope"


async def test_staff_other_clinics_and_disabled_endpoints_are_refused_and_nothing_is_queued(
    notifications, settings, redis, receiver
):
    endpoint = await register(notifications, settings, receiver.url)
    path = f"{BASE}/{endpoint['id']}/test"
    staff = await notifications.post(path, headers=as_clinic(settings, role="staff"))
    assert staff.status == 403 and (await staff.json())["error"]["code"] == "owner_only"
    other = await notifications.post(path, headers=as_clinic(settings, CLINIC_B))
    assert other.status == 404 and (await other.json())["error"]["code"] == "endpoint_not_found"
    unknown = await notifications.post(f"{BASE}/{uuid.uuid4()}/test", headers=as_clinic(settings))
    assert unknown.status == 404
    not_an_id = await notifications.post(f"{BASE}/nope/test", headers=as_clinic(settings))
    assert not_an_id.status == 404
    no_token = await notifications.post(path, headers={CLINIC_ID_HEADER: CLINIC_A})
    assert no_token.status == 401

    off = await notifications.patch(f"{BASE}/{endpoint['id']}", headers=as_clinic(settings), json={"enabled": False})
    assert off.status == 200
    disabled = await notifications.post(path, headers=as_clinic(settings))
    assert disabled.status == 409 and (await disabled.json())["error"]["code"] == "endpoint_disabled"
    assert await take_queued_tasks(redis) == [] and await deliveries_of(notifications, settings, endpoint) == []
    assert receiver.received == []
