"""A clinic-API path that climbs out of its route with dot segments: the gateway chose the service (and added the
internal token) by the path's prefix, but its HTTP client resolves `..` before sending, so the upstream would
answer an internal route (/internal/v1/…) as if this gateway had called it. Clinic B's key must never reach
clinic A's data, or any internal route, that way: such a path names no route (404 in the error shape)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.booking import book_and_pay, next_weekday

# Clinic-API prefixes of each service behind the gateway, climbing back to the root in the ways a client can spell
# a dot segment (the gateway's HTTP client resolves every one of them).
ESCAPES = {
    "booking": "/api/v1/clinic/bookings/../../../../internal/v1/clinics/{clinic}",
    "payments, encoded dots": "/api/v1/clinic/fees/%2e%2e/%2e%2e/%2e%2e/%2E%2E/internal/v1/privacy/export",
    "payments, mixed": "/api/v1/clinic/vouchers/./../.%2e/../../internal/v1/privacy/export",
    "notifications": "/api/v1/clinic/webhook-endpoints/../../../../internal/v1/privacy/export",
}


async def raw_request(client, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """`target` sent byte for byte (a test client would resolve the dots itself, as curl does without --path-as-is)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {client.server.host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"chunked" in head.lower():
        payload = b"".join(_chunks(payload))
    return status, json.loads(payload)


def _chunks(payload: bytes):
    while payload:
        size_line, _, payload = payload.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return
        yield payload[:size]
        payload = payload[size + 2 :]


@pytest.mark.parametrize("target", ESCAPES.values(), ids=ESCAPES.keys())
async def test_a_clinic_key_cannot_climb_out_of_its_route_to_an_internal_api(
    gateway, keys, booking, checkout, booking_pool, target
):
    urban = await booking_pool.fetchval("SELECT id FROM clinics WHERE slug = 'urban-therapy'")
    await book_and_pay(booking, checkout, day=next_weekday(2))  # clinic A's customer, with a payment
    other_clinics_key = {"Authorization": f"Bearer {keys['spinecare']}"}
    body = json.dumps({"clinic_id": str(urban), "email": "ada@example.com"}).encode()
    method = "GET" if "clinics" in target else "POST"

    status, answer = await raw_request(
        gateway, method, target.format(clinic=urban), other_clinics_key, body if method == "POST" else b""
    )

    assert status == 404, answer
    assert set(answer) == {"error"} and answer["error"]["code"] == "not_found", answer


async def test_an_internal_route_refuses_a_request_forwarded_for_a_clinic(payments, settings, booking_pool):
    # Behind the gateway: the internal token with a clinic named is a clinic-API request, whatever its path says.
    urban = await booking_pool.fetchval("SELECT id FROM clinics WHERE slug = 'urban-therapy'")
    body = {"clinic_id": str(urban), "email": "ada@example.com"}
    internal = {INTERNAL_TOKEN_HEADER: settings.internal_token}

    forwarded = await payments.post(
        "/internal/v1/privacy/export", json=body, headers={**internal, CLINIC_ID_HEADER: str(uuid.uuid4())}
    )
    assert forwarded.status == 401, await forwarded.text()
    assert (await forwarded.json())["error"]["code"] == "unauthorized"
    # Another service's own call still works.
    assert (await payments.post("/internal/v1/privacy/export", json=body, headers=internal)).status == 200
