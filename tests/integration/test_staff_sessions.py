"""Staff sign-in for the clinic API (issue 18): POST /api/v1/staff/sessions gives a `cst_…` bearer token that the
gateway checks like an API key, with the account's role; wrong passwords and unknown emails are refused alike and
limited per account (booking) and per client address (gateway); signing out stops the token at once through the
gateway that saw it; a removed account's sessions stop at once there, and within the key cache time elsewhere."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta, timezone

from services.booking import accounts, staff
from services.booking.seed import stable_id
from services.gateway import clinic_keys
from services.gateway.app import create_app as create_gateway
from services.gateway.proxy import KEY_CHECKER
from shared.client_address import parse_networks
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, CLINIC_SESSION_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.accounts import PASSWORD, bearer, make_account, sign_in, token_for

OWNER_EMAIL = "olivia@urban-therapy.example"
STAFF_EMAIL = "sam@urban-therapy.example"


def internal(settings, clinic: str = "urban-therapy", role: str = "owner", session: str | None = None) -> dict:
    """What the gateway sends the booking service after checking a caller (a removal by another replica)."""
    headers = {
        CLINIC_ID_HEADER: str(stable_id(clinic)),
        CLINIC_ROLE_HEADER: role,
        INTERNAL_TOKEN_HEADER: settings.internal_token,
    }
    return headers | ({CLINIC_SESSION_HEADER: session} if session else {})


async def test_signing_in_gives_a_token_that_opens_the_clinic_api_with_the_accounts_role(gateway, booking_pool):
    owner_id = await make_account(booking_pool, OWNER_EMAIL, role="owner")
    await make_account(booking_pool, STAFF_EMAIL, role="staff")

    resp = await sign_in(gateway, OWNER_EMAIL.upper())  # emails match in any case
    assert resp.status == 201, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    token = body["token"]
    assert token.startswith("cst_") and len(token) > 40
    assert body["staff"] == {"id": str(owner_id), "name": "olivia", "email": OWNER_EMAIL, "role": "owner"}
    assert body["clinic"] == {
        "id": str(stable_id("urban-therapy")),
        "slug": "urban-therapy",
        "name": "Urban Therapy Clinic, London",
    }
    lasts = datetime.fromisoformat(body["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(hours=11, minutes=59) < lasts <= timedelta(hours=12)

    me = await gateway.get("/api/v1/clinic/me", headers=bearer(token))
    assert me.status == 200, await me.text()
    assert await me.json() == {
        "staff": body["staff"],
        "role": "owner",
        "clinic": {**body["clinic"], "timezone": "Europe/London"},
    }
    assert (await gateway.get("/api/v1/clinic/api-keys", headers=bearer(token))).status == 200
    assert (await gateway.get("/api/v1/clinic/staff", headers=bearer(token))).status == 200

    # Reception: their own clinic's bookings, not the owner's pages.
    staff_token = await token_for(gateway, STAFF_EMAIL)
    reception = await (await gateway.get("/api/v1/clinic/me", headers=bearer(staff_token))).json()
    assert reception["role"] == "staff" and reception["staff"]["email"] == STAFF_EMAIL
    assert (await gateway.get("/api/v1/clinic/bookings", headers=bearer(staff_token))).status == 200
    for path in ("/api/v1/clinic/staff", "/api/v1/clinic/api-keys"):
        refused = await gateway.get(path, headers=bearer(staff_token))
        assert refused.status == 403, path
        assert (await refused.json())["error"]["code"] == "owner_only"
    invite = await gateway.post(
        "/api/v1/clinic/staff", headers=bearer(staff_token), json={"email": "x@y.example", "name": "X", "role": "staff"}
    )
    assert invite.status == 403

    # Only the token's digest is kept; the sign-in is noted.
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch("SELECT token_hash FROM staff_sessions WHERE staff_id = $1", owner_id)
        stamped = await conn.fetchval("SELECT last_sign_in_at FROM clinic_staff WHERE id = $1", owner_id)
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).digest()]
    assert stamped is not None


async def test_a_wrong_password_an_unknown_email_and_an_invited_account_are_refused_alike(
    gateway, booking, booking_pool, settings, monkeypatch
):
    await make_account(booking_pool, OWNER_EMAIL)
    await make_account(booking_pool, "new@urban-therapy.example", password=None)  # invited: no password yet
    checks = []
    real_verify = staff.verify_password

    def counting(password: str, stored: str) -> bool:
        checks.append(stored)
        return real_verify(password, stored)

    monkeypatch.setattr(staff, "verify_password", counting)

    answers = []
    for email, password in (
        (OWNER_EMAIL, PASSWORD + "!"),
        ("nobody@urban-therapy.example", PASSWORD),
        ("new@urban-therapy.example", PASSWORD),
    ):
        resp = await sign_in(gateway, email, password)
        assert resp.status == 401, await resp.text()
        answers.append(await resp.json())
    assert (
        answers
        == [{"error": {"code": "invalid_credentials", "message": "That email and password do not match an account"}}]
        * 3
    )
    # The same work each time: one scrypt check, against a stand-in hash when there is no password to check.
    assert len(checks) == 3 and all(stored.startswith("scrypt$") for stored in checks)
    assert checks[1] == checks[2] == staff.dummy_hash() != checks[0]

    bad = await sign_in(gateway, "", "")
    assert bad.status == 422


async def test_sign_in_attempts_are_limited_per_account(booking, booking_pool):
    """Counted in the booking service by the email's digest, known or not: 10 per 15 minutes, then 429 even for
    the right password; other accounts are not affected. (Straight to booking: the gateway's per-address
    limit is proven below.)"""
    await make_account(booking_pool, OWNER_EMAIL)
    await make_account(booking_pool, STAFF_EMAIL, role="staff")
    for attempt in range(accounts.SIGN_IN_ATTEMPTS):
        email = OWNER_EMAIL if attempt % 2 else OWNER_EMAIL.title()
        assert (await sign_in(booking, email, "wrong password " + str(attempt))).status == 401
    limited = await sign_in(booking, OWNER_EMAIL)
    assert limited.status == 429, await limited.text()
    assert (await limited.json())["error"]["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= accounts.SIGN_IN_WINDOW.total_seconds() / 10 + 1
    assert (await sign_in(booking, STAFF_EMAIL)).status == 201, "another account signs in"
    async with booking_pool.acquire() as conn:
        kept = await conn.fetch("SELECT subject FROM staff_sign_in_limits")
    assert OWNER_EMAIL.encode() not in b"".join(r["subject"] for r in kept), "a digest, never the email"


async def test_sign_in_attempts_are_limited_per_client_address_at_the_gateway(gateway):
    for n in range(10):
        resp = await sign_in(gateway, f"guess{n}@example.com", PASSWORD)
        assert resp.status == 401, await resp.text()
    limited = await sign_in(gateway, "guess-again@example.com", PASSWORD)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    assert (await limited.json())["error"]["code"] == "rate_limited"
    assert (await gateway.get("/api/v1/clinics")).status == 200, "only sign-in attempts are held back"


async def test_signing_out_stops_the_token_at_once_through_the_gateway(gateway, booking_pool, keys):
    await make_account(booking_pool, OWNER_EMAIL)
    token = await token_for(gateway, OWNER_EMAIL)
    other = await token_for(gateway, OWNER_EMAIL)  # the same person on another device
    assert (await gateway.get("/api/v1/clinic/bookings", headers=bearer(token))).status == 200  # now cached

    out = await gateway.delete("/api/v1/clinic/session", headers=bearer(token))
    assert out.status == 204, await out.text()
    for path in ("/api/v1/clinic/bookings", "/api/v1/clinic/me"):
        refused = await gateway.get(path, headers=bearer(token))
        assert refused.status == 401, path
        assert (await refused.json())["error"]["code"] == "invalid_session"
    assert (await gateway.delete("/api/v1/clinic/session", headers=bearer(token))).status == 401
    assert (await gateway.get("/api/v1/clinic/me", headers=bearer(other))).status == 200, "only that sign-in ends"

    key = await gateway.delete("/api/v1/clinic/session", headers=bearer(keys["urban-therapy"]))
    assert key.status == 409 and (await key.json())["error"]["code"] == "not_a_session"
    me = await (await gateway.get("/api/v1/clinic/me", headers=bearer(keys["urban-therapy"]))).json()
    assert me["staff"] is None and me["role"] == "owner" and me["clinic"]["slug"] == "urban-therapy"


async def test_a_removed_account_stops_at_once_through_this_gateway_and_within_the_cache_time_elsewhere(
    gateway, booking, booking_pool, settings
):
    await make_account(booking_pool, OWNER_EMAIL)
    first = await make_account(booking_pool, STAFF_EMAIL, role="staff")
    second = await make_account(booking_pool, "kim@urban-therapy.example", role="staff")
    owner, first_token = await token_for(gateway, OWNER_EMAIL), await token_for(gateway, STAFF_EMAIL)
    second_token = await token_for(gateway, "kim@urban-therapy.example")
    for token in (first_token, second_token):
        assert (await gateway.get("/api/v1/clinic/bookings", headers=bearer(token))).status == 200  # cached

    # Removed through this gateway: it forgets that account's sessions at once.
    removed = await gateway.delete(f"/api/v1/clinic/staff/{str(first).upper()}", headers=bearer(owner))
    assert removed.status == 204, await removed.text()
    assert (await gateway.get("/api/v1/clinic/bookings", headers=bearer(first_token))).status == 401
    assert (await sign_in(gateway, STAFF_EMAIL)).status == 401, "a removed account cannot sign in"

    # Removed through another gateway replica (here: straight at the booking service): this gateway's cached
    # answer lasts at most clinic_keys.CACHE_SECONDS (30 s); the booking service itself knows at once.
    gone = await booking.delete(f"/api/v1/clinic/staff/{second}", headers=internal(settings))
    assert gone.status == 204
    assert clinic_keys.CACHE_SECONDS == 30
    assert (await gateway.get("/api/v1/clinic/bookings", headers=bearer(second_token))).status == 200, "cached"
    assert (await gateway.get("/api/v1/clinic/me", headers=bearer(second_token))).status == 401, "booking knows"
    checker = gateway.app[KEY_CHECKER]
    real_clock = checker.clock
    checker.clock = lambda: real_clock() + clinic_keys.CACHE_SECONDS + 0.1
    assert (await gateway.get("/api/v1/clinic/bookings", headers=bearer(second_token))).status == 401


async def test_the_key_check_answers_for_a_session_until_it_ends(booking, booking_pool, settings):
    staff_id = await make_account(booking_pool, STAFF_EMAIL, role="staff")
    token = await token_for(booking, STAFF_EMAIL)
    verify = "/internal/v1/api-keys/verify"
    headers = {INTERNAL_TOKEN_HEADER: settings.internal_token}
    answer = await booking.post(verify, json={"key": token}, headers=headers)
    assert answer.status == 200
    body = await answer.json()
    assert body["clinic_id"] == str(stable_id("urban-therapy")) and body["role"] == "staff"
    assert body["staff_id"] == str(staff_id) and datetime.fromisoformat(body["expires_at"]) > datetime.now(timezone.utc)
    assert (await booking.post(verify, json={"key": token})).status == 401, "internal only"
    assert (await booking.post(verify, json={"key": "cst_made-up"}, headers=headers)).status == 401

    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE staff_sessions SET expires_at = now() - interval '1 second'")
    assert (await booking.post(verify, json={"key": token}, headers=headers)).status == 401, "expired"


async def test_a_client_cannot_name_a_session_itself(gateway, booking_pool, keys):
    """The gateway names the caller's session; one a client sends is dropped, never passed on."""
    await make_account(booking_pool, OWNER_EMAIL)
    token = await token_for(gateway, OWNER_EMAIL)
    async with booking_pool.acquire() as conn:
        session_id = await conn.fetchval("SELECT id FROM staff_sessions")
    spoofed = {**bearer(keys["urban-therapy"]), CLINIC_SESSION_HEADER: str(session_id)}
    me = await (await gateway.get("/api/v1/clinic/me", headers=spoofed)).json()
    assert me["staff"] is None, "the API key's caller, not the named session's"
    out = await gateway.delete("/api/v1/clinic/session", headers=spoofed)
    assert out.status == 409
    assert (await gateway.get("/api/v1/clinic/me", headers=bearer(token))).status == 200, "not signed out"


async def test_one_clinic_s_owner_cannot_reach_another_clinic_s_staff(gateway, booking_pool):
    await make_account(booking_pool, OWNER_EMAIL)
    theirs = await make_account(booking_pool, "bo@spinecare.example", clinic="spinecare", role="staff")
    owner = await token_for(gateway, OWNER_EMAIL)
    resp = await gateway.delete(f"/api/v1/clinic/staff/{theirs}", headers=bearer(owner))
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "staff_not_found"
    listing = await (await gateway.get("/api/v1/clinic/staff", headers=bearer(owner))).json()
    assert [s["email"] for s in listing["staff"]] == [OWNER_EMAIL]
    assert (await sign_in(gateway, "bo@spinecare.example")).status == 201, "theirs still works"
    assert (await gateway.delete("/api/v1/clinic/staff/not-a-uuid", headers=bearer(owner))).status == 404


async def test_behind_a_trusted_proxy_a_staff_request_carries_the_forwarded_client(
    linked, booking_server, aiohttp_client, booking_pool, caplog
):
    """Naming the session rebuilds the request the gateway passes on: the client our proxy named goes with it."""
    _, settings = linked
    gateway = await aiohttp_client(
        create_gateway(settings.with_overrides(trusted_proxies=parse_networks("127.0.0.1/32")))
    )
    await make_account(booking_pool, OWNER_EMAIL)
    token = await token_for(gateway, OWNER_EMAIL)
    caplog.set_level(logging.INFO, logger="shared.web")
    resp = await gateway.get("/api/v1/clinic/me", headers={**bearer(token), "X-Forwarded-For": "203.0.113.7"})
    assert resp.status == 200 and (await resp.json())["staff"]["email"] == OWNER_EMAIL
    # The booking service's access log line: its peer is the gateway, and the client is the one our proxy named.
    [seen] = [r for r in caplog.records if getattr(r, "path", None) == "/api/v1/clinic/me" and r.client == "127.0.0.1"]
    assert seen.forwarded_for == "203.0.113.7"
