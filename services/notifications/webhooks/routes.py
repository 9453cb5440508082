"""The clinic API for webhooks: endpoints, secrets, the delivery log and replays. Every query is scoped
to the clinic the gateway authenticated (shared.clinic_auth)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

from aiohttp import web
from pydantic import Field

from services.notifications.webhooks import store
from services.notifications.webhooks.delivery import resolve_and_check
from services.notifications.webhooks.rules import (
    EVENT_TYPES,
    ROTATION_OVERLAP,
    TEST_EVENT,
    check_endpoint_room,
    check_event_types,
    new_secret,
    payload_of_test_event,
)
from shared.clinic_auth import owner_scope
from shared.errors import ApiError
from shared.http_input import query_choice, read_json
from shared.input import Instant, StrictModel
from shared.keys import DB, SETTINGS

routes = web.RouteTableDef()
BASE = "/api/v1/clinic/webhook-endpoints"
MAX_DELIVERIES = 200
STATUSES = ("pending", "delivered", "failed")
PRUNED_MESSAGE = (
    "This delivery is too old to send again: its content was deleted from the delivery log after the retention "
    "period. Its record of when it was sent and how your endpoint answered is kept."
)


class EndpointIn(StrictModel):
    url: str = Field(min_length=8, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str = Field(default="", max_length=500)
    alert_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class EndpointPatch(StrictModel):
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    alert_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ReplayIn(StrictModel):
    since: Instant


def endpoint_json(row, secret: str | None = None) -> dict:
    body = {
        "id": str(row["id"]),
        "url": row["url"],
        "events": list(row["event_types"]),
        "description": row["description"],
        "enabled": row["status"] == "enabled",
        "disabled_reason": row["disabled_reason"],
        "alert_email": row["alert_email"],
        "failing_since": row["failing_since"].isoformat() if row["failing_since"] else None,
        "created_at": row["created_at"].isoformat(),
    }
    if secret is not None:
        body["secret"] = secret  # shown once, at creation or rotation
    return body


def delivery_json(row, attempts) -> dict:
    return {
        "id": str(row["id"]),
        "event_type": row["event_type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "last_status": row["last_status"],
        "last_error": row["last_error"],
        "next_attempt_at": row["next_attempt_at"].isoformat()
        if row["status"] == "pending" and row["next_attempt_at"]
        else None,
        "created_at": row["created_at"].isoformat(),
        "delivered_at": row["delivered_at"].isoformat() if row["delivered_at"] else None,
        # Emptied by the retention job after settings.webhook_log_body_days: null, and when it was.
        "payload": None if row["payload_pruned_at"] else row["payload"],
        "payload_pruned_at": row["payload_pruned_at"].isoformat() if row["payload_pruned_at"] else None,
        "attempt_log": [
            {
                "at": a["attempted_at"].isoformat(),
                "status_code": a["status_code"],
                "latency_ms": a["latency_ms"],
                "response": a["response"],
                "error": a["error"],
            }
            for a in attempts
        ],
    }


def _id(request: web.Request, name: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise ApiError(404, "not_found", "No such resource") from None


async def _endpoint_or_404(conn, clinic_id: uuid.UUID, endpoint_id: uuid.UUID):
    row = await store.get_endpoint(conn, clinic_id, endpoint_id)
    if row is None:
        raise ApiError(404, "endpoint_not_found", "No such webhook endpoint")
    return row


@routes.get(BASE)
async def list_endpoints(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    async with request.app[DB].acquire() as conn:
        rows = await store.list_endpoints(conn, clinic_id)
    return web.json_response({"endpoints": [endpoint_json(r) for r in rows]})


@routes.post(BASE)
async def create_endpoint(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    body = await read_json(request, EndpointIn)
    events = check_event_types(body.events)
    await resolve_and_check(body.url, request.app[SETTINGS])
    secret = new_secret()
    async with request.app[DB].acquire() as conn, conn.transaction():
        check_endpoint_room(await store.lock_and_count_live_endpoints(conn, clinic_id))
        row = await store.insert_endpoint(conn, clinic_id, body.url, body.description, events, body.alert_email, secret)
    return web.json_response(endpoint_json(row, secret), status=201)


@routes.get(BASE + "/{id}")
async def get_endpoint(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    async with request.app[DB].acquire() as conn:
        return web.json_response(endpoint_json(await _endpoint_or_404(conn, clinic_id, _id(request))))


@routes.patch(BASE + "/{id}")
async def patch_endpoint(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    body = await read_json(request, EndpointPatch)
    if body.url is not None:
        await resolve_and_check(body.url, request.app[SETTINGS])
    async with request.app[DB].acquire() as conn, conn.transaction():
        current = await _endpoint_or_404(conn, clinic_id, _id(request))
        row = await store.update_endpoint(
            conn,
            clinic_id,
            current["id"],
            url=body.url or current["url"],
            description=current["description"] if body.description is None else body.description,
            event_types=check_event_types(body.events) if body.events else list(current["event_types"]),
            status=current["status"] if body.enabled is None else ("enabled" if body.enabled else "disabled"),
            alert_email=body.alert_email if "alert_email" in body.model_fields_set else current["alert_email"],
        )
    return web.json_response(endpoint_json(row))


@routes.delete(BASE + "/{id}")
async def delete_endpoint(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    async with request.app[DB].acquire() as conn:
        if not await store.delete_endpoint(conn, clinic_id, _id(request)):
            raise ApiError(404, "endpoint_not_found", "No such webhook endpoint")
    return web.Response(status=204)


@routes.post(BASE + "/{id}/rotate-secret")
async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret; the old one keeps signing beside it for 24 hours."""
    clinic_id = owner_scope(request)
    secret = new_secret()
    async with request.app[DB].acquire() as conn, conn.transaction():
        row = await _endpoint_or_404(conn, clinic_id, _id(request))
        old_until = datetime.now(timezone.utc) + ROTATION_OVERLAP
        await store.rotate_secret(conn, row["id"], secret, old_until)
    return web.json_response({**endpoint_json(row, secret), "previous_secret_expires_at": old_until.isoformat()})


@routes.get(BASE + "/{id}/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    status = query_choice(request, "status", STATUSES)
    async with request.app[DB].acquire() as conn:
        endpoint = await _endpoint_or_404(conn, clinic_id, _id(request))
        rows = await store.list_deliveries(conn, clinic_id, endpoint["id"], status, MAX_DELIVERIES)
        attempts = await store.attempts_of(conn, [r["id"] for r in rows])
    by_delivery: dict = {}
    for a in attempts:
        by_delivery.setdefault(a["delivery_id"], []).append(a)
    return web.json_response({"deliveries": [delivery_json(r, by_delivery.get(r["id"], [])) for r in rows]})


async def _enqueue(pairs) -> None:
    from services.notifications.webhooks.tasks import deliver_webhook

    for delivery_id, attempt in pairs:
        await asyncio.to_thread(deliver_webhook.delay, str(delivery_id), attempt)


@routes.post(BASE + "/{id}/test")
async def send_test_event(request: web.Request) -> web.Response:
    """A `webhook.test` event to this endpoint only: a delivery like any other (signed, retried on schedule, in
    the delivery log, replayable), whatever events the endpoint subscribes to."""
    clinic_id = owner_scope(request)
    endpoint_id = _id(request)
    async with request.app[DB].acquire() as conn, conn.transaction():
        endpoint = await _endpoint_or_404(conn, clinic_id, endpoint_id)
        if endpoint["status"] != "enabled":  # its attempt would fail unsent
            raise ApiError(409, "endpoint_disabled", "This endpoint is disabled: enable it, then send a test event")
        payload = payload_of_test_event(str(endpoint["id"]), datetime.now(timezone.utc))
        row = await store.insert_delivery(
            conn, clinic_id, endpoint["id"], TEST_EVENT, payload, request.app[SETTINGS].lost_task_seconds
        )
    await _enqueue([(row["id"], row["attempts"])])
    return web.json_response(delivery_json(row, []), status=202)


@routes.post("/api/v1/clinic/deliveries/{id}/replay")
async def replay_delivery(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    async with request.app[DB].acquire() as conn, conn.transaction():
        delivery_id = _id(request)
        row = await store.replay(conn, clinic_id, delivery_id, request.app[SETTINGS].lost_task_seconds)
        if row is None:
            if await store.is_pruned(conn, clinic_id, delivery_id):
                raise ApiError(409, "delivery_pruned", PRUNED_MESSAGE)
            raise ApiError(404, "delivery_not_found", "No such delivery")
    await _enqueue([(row["id"], row["attempts"])])
    return web.json_response(delivery_json(row, []), status=202)


@routes.post(BASE + "/{id}/replay")
async def replay_failed(request: web.Request) -> web.Response:
    """Replay every failed delivery of this endpoint since a time; those whose payload was pruned are skipped
    (and counted)."""
    clinic_id = owner_scope(request)
    body = await read_json(request, ReplayIn)
    async with request.app[DB].acquire() as conn, conn.transaction():
        endpoint = await _endpoint_or_404(conn, clinic_id, _id(request))
        pairs = await store.replay_failed_since(
            conn, clinic_id, endpoint["id"], body.since, request.app[SETTINGS].lost_task_seconds
        )
        pruned = await store.count_pruned_failed_since(conn, clinic_id, endpoint["id"], body.since)
    await _enqueue(pairs)
    return web.json_response({"replayed": len(pairs), "skipped_pruned": pruned}, status=202)
