"""The skeleton booking endpoint: a booking and its event commit together; bad input writes nothing."""
from __future__ import annotations

import pytest

from services.booking.app import create_app
from services.booking.seed import stable_id
from tests.support.booking import CLINIC, TREATMENT, booking_body, tomorrow_at


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def counts(booking_pool) -> tuple[int, int]:
    async with booking_pool.acquire() as conn:
        return (await conn.fetchval("SELECT count(*) FROM bookings"), await conn.fetchval("SELECT count(*) FROM outbox"))


async def test_booking_commits_with_its_event(client, booking_pool):
    resp = await client.post("/api/v1/bookings", json=booking_body())
    assert resp.status == 201
    body = await resp.json()
    assert body["status"] == "confirmed"
    assert body["amount_due"] == {"amount": 6500, "currency": "GBP"}
    assert body["start"] == tomorrow_at(10)
    assert resp.headers["X-Request-ID"]

    async with booking_pool.acquire() as conn:
        event = await conn.fetchval("SELECT envelope FROM outbox")
    assert event["type"] == "booking.confirmed"
    assert event["data"]["booking_id"] == body["id"]
    assert event["data"]["customer"]["email"] == "ada@example.com"
    assert event["request_id"] == resp.headers["X-Request-ID"]


async def test_request_id_from_the_caller_is_kept(client, booking_pool):
    resp = await client.post("/api/v1/bookings", json=booking_body(), headers={"X-Request-ID": "trace-abc-123"})
    assert resp.headers["X-Request-ID"] == "trace-abc-123"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT envelope->>'request_id' FROM outbox") == "trace-abc-123"


async def test_overlapping_booking_is_refused_by_the_database(client, booking_pool):
    assert (await client.post("/api/v1/bookings", json=booking_body(start=tomorrow_at(10)))).status == 201
    resp = await client.post("/api/v1/bookings", json=booking_body(start=tomorrow_at(10, 30)))
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "slot_taken"
    assert await counts(booking_pool) == (1, 1)


async def test_idempotency_key_returns_the_same_booking(client, booking_pool):
    headers = {"Idempotency-Key": "retry-me-1"}
    first = await client.post("/api/v1/bookings", json=booking_body(), headers=headers)
    again = await client.post("/api/v1/bookings", json=booking_body(), headers=headers)
    assert first.status == 201 and again.status == 200
    assert (await first.json())["id"] == (await again.json())["id"]
    assert await counts(booking_pool) == (1, 1)


@pytest.mark.parametrize("raw, status, code", [
    (b'{"clinic": "urban-therapy", ', 400, "invalid_json"),
    (b'["not", "an", "object"]', 400, "invalid_json"),
    (b'\xff\xfe', 400, "invalid_json"),
])
async def test_malformed_json_is_400_and_writes_nothing(client, booking_pool, raw, status, code):
    resp = await client.post("/api/v1/bookings", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code
    assert await counts(booking_pool) == (0, 0)


@pytest.mark.parametrize("body, field", [
    ({k: v for k, v in booking_body().items() if k != "start"}, "start"),
    (booking_body(customer={"name": "Ada"}), "customer.email"),
    (booking_body(treatment="not-a-uuid"), "treatment"),
    (booking_body(start="tomorrow at ten"), "start"),
    (booking_body(start="2030-01-01T10:00:00"), "start"),           # no offset: ambiguous wall time
    (booking_body(customer={"name": "Ada", "email": "not an email"}), "customer.email"),
    (booking_body(clinic=42), "clinic"),
    (booking_body(surprise=True), "surprise"),
])
async def test_invalid_fields_are_422_with_details_and_write_nothing(client, booking_pool, body, field):
    resp = await client.post("/api/v1/bookings", json=body)
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "validation_failed"
    assert field in [d["field"] for d in error["details"]]
    assert await counts(booking_pool) == (0, 0)


async def test_wrong_content_type_is_415(client, booking_pool):
    resp = await client.post("/api/v1/bookings", data="clinic=urban-therapy",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 415
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"
    assert await counts(booking_pool) == (0, 0)


@pytest.mark.parametrize("overrides, status, code", [
    ({"clinic": "no-such-clinic"}, 404, "clinic_not_found"),
    ({"treatment": str(stable_id("spinecare", "treatment", "deep-tissue-90"))}, 422, "treatment_not_found"),
    ({"start": "2020-01-01T10:00:00+00:00"}, 422, "start_in_past"),
])
async def test_refusals_use_the_error_shape_and_write_nothing(client, booking_pool, overrides, status, code):
    resp = await client.post("/api/v1/bookings", json=booking_body(**overrides))
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code
    assert await counts(booking_pool) == (0, 0)


async def test_catalogue_lists_the_demo_clinics(client):
    clinics = (await (await client.get("/api/v1/clinics")).json())["clinics"]
    assert {c["slug"] for c in clinics} == {"urban-therapy", "spinecare"}
    treatments = (await (await client.get(f"/api/v1/clinics/{CLINIC}/treatments")).json())["treatments"]
    assert TREATMENT in [t["id"] for t in treatments]
    missing = await client.get("/api/v1/clinics/nowhere/therapists")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "clinic_not_found"


async def test_unknown_route_is_json_404(client):
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
