"""A clinic manages its own API keys through the gateway: shown once, stored hashed, rotated with a
grace period, revoked at once."""

from __future__ import annotations

import asyncio

from services.booking import api_keys
from tests.support.clinic_api import bearer

KEYS = "/api/v1/clinic/api-keys"
PROBE = "/api/v1/clinic/bookings"  # any clinic route: does this key open it?


async def _create(gateway, key: str, name: str = "practice software") -> dict:
    resp = await gateway.post(KEYS, headers=bearer(key), json={"name": name})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(gateway, keys, booking_pool):
    created = await _create(gateway, keys["urban-therapy"])
    assert created["key"].startswith(f"clk_{created['prefix']}_") and created["name"] == "practice software"
    assert (await gateway.get(PROBE, headers=bearer(created["key"]))).status == 200
    listing = await (await gateway.get(KEYS, headers=bearer(created["key"]))).json()
    assert created["id"] in [k["id"] for k in listing["api_keys"]]
    assert created["key"] not in str(listing) and all("key" not in k for k in listing["api_keys"])
    async with booking_pool.acquire() as conn:
        stored = await conn.fetchrow("SELECT * FROM api_keys WHERE id = $1", created["id"])
    assert stored["key_hash"] == api_keys.digest(created["key"]) and created["key"] not in str(dict(stored))


async def test_a_revoked_key_stops_at_once_even_though_the_gateway_had_it_cached(gateway, keys):
    created = await _create(gateway, keys["urban-therapy"])
    assert (await gateway.get(PROBE, headers=bearer(created["key"]))).status == 200  # now cached
    revoked = await gateway.delete(f"{KEYS}/{created['id']}", headers=bearer(keys["urban-therapy"]))
    assert revoked.status == 200 and (await revoked.json())["revoked_at"]
    refused = await gateway.get(PROBE, headers=bearer(created["key"]))
    assert refused.status == 401 and (await refused.json())["error"]["code"] == "invalid_api_key"
    again = await gateway.delete(f"{KEYS}/{created['id']}", headers=bearer(keys["urban-therapy"]))
    assert again.status == 200, "revoking twice changes nothing"


async def test_rotation_gives_a_new_key_and_the_old_one_works_through_its_grace_period(gateway, keys):
    old = await _create(gateway, keys["urban-therapy"], "calendar sync")
    resp = await gateway.post(f"{KEYS}/{old['id']}/rotate", headers=bearer(old["key"]))
    assert resp.status == 201, await resp.text()
    rotated = await resp.json()
    assert rotated["name"] == "calendar sync" and rotated["key"] != old["key"]
    assert rotated["replaces"]["id"] == old["id"] and rotated["replaces"]["replaced_by"] == rotated["id"]
    assert rotated["replaces"]["expires_at"] is not None
    for key in (old["key"], rotated["key"]):
        assert (await gateway.get(PROBE, headers=bearer(key))).status == 200
    twice = await gateway.post(f"{KEYS}/{old['id']}/rotate", headers=bearer(rotated["key"]))
    assert twice.status == 409 and (await twice.json())["error"]["code"] == "already_rotated"

    now = await gateway.post(f"{KEYS}/{rotated['id']}/rotate", headers=bearer(rotated["key"]), json={"grace_hours": 0})
    assert now.status == 201
    assert (await gateway.get(PROBE, headers=bearer(rotated["key"]))).status == 401, "grace 0: stops at once"
    assert (await gateway.get(PROBE, headers=bearer((await now.json())["key"]))).status == 200
    too_long = await gateway.post(
        f"{KEYS}/{old['id']}/rotate", headers=bearer(keys["urban-therapy"]), json={"grace_hours": 24 * 30}
    )
    assert too_long.status == 422


async def test_a_key_stops_when_its_grace_period_ends_whatever_the_cache(gateway, keys, booking_pool):
    created = await _create(gateway, keys["urban-therapy"])
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE api_keys SET expires_at = now() + interval '1 second' WHERE id = $1", created["id"])
    assert (await gateway.get(PROBE, headers=bearer(created["key"]))).status == 200
    await asyncio.sleep(1.2)
    assert (await gateway.get(PROBE, headers=bearer(created["key"]))).status == 401


async def test_another_clinic_s_keys_are_not_found(gateway, keys):
    theirs = await _create(gateway, keys["spinecare"])
    mine = bearer(keys["urban-therapy"])
    assert (await gateway.delete(f"{KEYS}/{theirs['id']}", headers=mine)).status == 404
    assert (await gateway.post(f"{KEYS}/{theirs['id']}/rotate", headers=mine)).status == 404
    listing = await (await gateway.get(KEYS, headers=mine)).json()
    assert theirs["id"] not in [k["id"] for k in listing["api_keys"]]
    assert (await gateway.get(PROBE, headers=bearer(theirs["key"]))).status == 200, "theirs still works"


async def test_a_clinic_has_a_bounded_number_of_working_keys(gateway, keys):
    mine = keys["urban-therapy"]
    statuses = [(await gateway.post(KEYS, headers=bearer(mine), json={})).status for _ in range(api_keys.MAX_LIVE_KEYS)]
    assert statuses.count(201) == api_keys.MAX_LIVE_KEYS - 1, "the fixture's key is one of them"
    assert statuses[-1] == 409
