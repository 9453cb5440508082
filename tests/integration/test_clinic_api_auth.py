"""The clinic API through the gateway: a clinic's API key opens its own data only."""

from __future__ import annotations

import pytest

from services.booking import api_keys
from services.booking.seed import stable_id
from tests.support.clinic_api import bearer


async def test_a_clinic_key_reaches_its_own_endpoints_only(gateway, keys):
    path = "/api/v1/clinic/webhook-endpoints"
    created = await gateway.post(
        path,
        headers=bearer(keys["urban-therapy"]),
        json={"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]},
    )
    assert created.status == 201, await created.text()
    endpoint = await created.json()
    mine = await (await gateway.get(path, headers=bearer(keys["urban-therapy"]))).json()
    assert [e["id"] for e in mine["endpoints"]] == [endpoint["id"]]
    theirs = await gateway.get(f"{path}/{endpoint['id']}", headers=bearer(keys["spinecare"]))
    assert theirs.status == 404, "no existence leak across clinics"
    assert (await (await gateway.get(path, headers=bearer(keys["spinecare"]))).json())["endpoints"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer clk_00000000_notarealkeyatall"},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"X-Clinic-Id": str(stable_id("urban-therapy")), "X-Internal-Token": "guess"},  # forged gateway headers
    ],
)
async def test_missing_invalid_or_forged_credentials_are_401(gateway, headers):
    resp = await gateway.get("/api/v1/clinic/webhook-endpoints", headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] in {"unauthorized", "invalid_api_key"}


async def test_a_revoked_key_stops_working(gateway, keys, booking_pool, settings):
    from services.gateway import clinic_keys

    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE api_keys SET revoked_at = now()")
    resp = await gateway.get("/api/v1/clinic/webhook-endpoints", headers=bearer(keys["spinecare"]))
    assert resp.status == 401 and clinic_keys.CACHE_SECONDS <= 30


async def test_development_keys_are_stable(settings):
    first, _ = api_keys.development_key("k", "urban-therapy")
    assert first == api_keys.development_key("k", "urban-therapy")[0] != api_keys.development_key("k", "spinecare")[0]
    assert api_keys.prefix_of(first) == first.split("_")[1]


async def test_the_clinic_sees_its_bookings_with_screening_answers_and_nobody_else_does(
    gateway, keys, booking, checkout
):
    from tests.support.booking import ALL_CLEAR, book_and_pay, next_weekday

    day = next_weekday(1)
    paid = await book_and_pay(booking, checkout, day=day)
    mine = bearer(keys["urban-therapy"])
    listing = await (
        await gateway.get(
            "/api/v1/clinic/bookings", headers=mine, params={"from": day.isoformat(), "to": day.isoformat()}
        )
    ).json()
    [row] = listing["bookings"]
    assert row["id"] == paid["id"] and row["status"] == "confirmed"
    assert row["screening"] == {"outcome": "clear", "flags": []}, "the list shows outcomes, not answers"
    detail = await (await gateway.get(f"/api/v1/clinic/bookings/{paid['id']}", headers=mine)).json()
    assert detail["screening"]["answers"] == ALL_CLEAR
    assert detail["customer"]["email"] == "ada@example.com"
    other = await gateway.get(f"/api/v1/clinic/bookings/{paid['id']}", headers=bearer(keys["spinecare"]))
    assert other.status == 404
    theirs = await (
        await gateway.get(
            "/api/v1/clinic/bookings",
            headers=bearer(keys["spinecare"]),
            params={"from": day.isoformat(), "to": day.isoformat()},
        )
    ).json()
    assert theirs["bookings"] == []
    public = await gateway.get(
        f"/api/v1/bookings/{paid['id']}", params={"token": paid["manage_url"].split("token=")[1]}
    )
    assert "answers" not in await public.text() and "screening" not in await public.text()
