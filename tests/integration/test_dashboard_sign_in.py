"""Clinic staff sign in to the dashboard through the gateway: a session cookie (HttpOnly, SameSite, Secure in
production), CSRF tokens on every form and on the dashboard's clinic API changes, sessions scoped to one
clinic, sign-in attempts limited, passwords stored only as scrypt hashes."""

from __future__ import annotations

import re

import pytest

from services.booking import staff, staff_accounts, store
from services.booking.seed import stable_id
from services.gateway import dashboard, sessions
from services.gateway.app import create_app as create_gateway

PASSWORD = "correct horse battery"
EMAIL = "alice@urban-therapy.example"


@pytest.fixture
async def account(booking_pool) -> str:
    async with booking_pool.acquire() as conn:
        await store.upsert_staff(conn, stable_id("urban-therapy"), EMAIL, "Alice Jones", staff.hash_password(PASSWORD))
    return EMAIL


def _form_token(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def _sign_in(gateway, email: str = EMAIL, password: str = PASSWORD, token: str | None = None):
    form = await gateway.get("/clinic/sign-in")
    assert form.status == 200 and form.headers["Cache-Control"] == "no-store"
    token = _form_token(await form.text()) if token is None else token
    return await gateway.post(
        "/clinic/sign-in", data={"email": email, "password": password, "csrf": token}, allow_redirects=False
    )


async def test_staff_sign_in_gives_an_httponly_samesite_session_and_the_dashboard(gateway, account):
    assert (await gateway.get("/clinic", allow_redirects=False)).headers["Location"] == "/clinic/sign-in"
    resp = await _sign_in(gateway)
    assert resp.status == 303 and resp.headers["Location"] == "/clinic"
    cookie = resp.cookies[sessions.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"], "Secure only in production"
    page = await gateway.get("/clinic")
    text = await page.text()
    assert page.status == 200 and "Urban Therapy Clinic, London" in text and "Alice Jones" in text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


async def test_a_wrong_password_or_unknown_email_is_refused_alike_and_no_session_starts(gateway, account):
    for email, password in ((EMAIL, "wrong password!"), ("nobody@example.com", PASSWORD), (EMAIL, "")):
        resp = await _sign_in(gateway, email, password)
        assert resp.status == 401
        assert "do not match an account" in await resp.text()
        assert sessions.COOKIE not in resp.cookies
    assert (await gateway.get("/clinic", allow_redirects=False)).status == 303


async def test_a_sign_in_form_without_its_csrf_token_is_refused(gateway, account):
    for token in ("", "forged-token"):
        resp = await _sign_in(gateway, token=token)
        assert resp.status == 403 and sessions.COOKIE not in resp.cookies
        assert "expired" in await resp.text()


async def test_the_session_opens_the_own_clinic_s_api_and_changes_need_the_csrf_header(gateway, account, keys):
    await _sign_in(gateway)
    csrf = _form_token(await (await gateway.get("/clinic")).text())
    listing = await gateway.get("/api/v1/clinic/webhook-endpoints")
    assert listing.status == 200
    endpoint = {"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]}
    refused = await gateway.post("/api/v1/clinic/webhook-endpoints", json=endpoint)
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf_failed"
    made = await gateway.post("/api/v1/clinic/webhook-endpoints", json=endpoint, headers={sessions.CSRF_HEADER: csrf})
    assert made.status == 201, await made.text()
    theirs = await gateway.post(
        "/api/v1/clinic/webhook-endpoints", json=endpoint, headers={"Authorization": f"Bearer {keys['spinecare']}"}
    )
    other_id = (await theirs.json())["id"]
    assert (await gateway.get(f"/api/v1/clinic/webhook-endpoints/{other_id}")).status == 404, "other clinic's: 404"
    mine = await (await gateway.get("/api/v1/clinic/webhook-endpoints")).json()
    assert [e["id"] for e in mine["endpoints"]] == [(await made.json())["id"]]


async def test_sign_out_needs_the_session_s_token_and_ends_the_session(gateway, account):
    await _sign_in(gateway)
    csrf = _form_token(await (await gateway.get("/clinic")).text())
    forged = await gateway.post("/clinic/sign-out", data={"csrf": "nope"}, allow_redirects=False)
    assert forged.status == 403
    assert (await gateway.get("/clinic", allow_redirects=False)).status == 200, "still signed in"
    out = await gateway.post("/clinic/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/clinic/sign-in"
    assert (await gateway.get("/clinic", allow_redirects=False)).status == 303
    assert (await gateway.get("/api/v1/clinic/webhook-endpoints")).status == 401


async def test_a_stolen_cookie_is_useless_after_sign_out(gateway, account):
    resp = await _sign_in(gateway)
    stolen = resp.cookies[sessions.COOKIE].value
    csrf = _form_token(await (await gateway.get("/clinic")).text())
    await gateway.post("/clinic/sign-out", data={"csrf": csrf}, allow_redirects=False)
    gateway.session.cookie_jar.clear()
    replayed = await gateway.get("/clinic", cookies={sessions.COOKIE: stolen}, allow_redirects=False)
    assert replayed.status == 303


async def test_sign_in_attempts_are_limited_per_client(gateway, account):
    statuses = [(await _sign_in(gateway, EMAIL, "guess number x")).status for _ in range(dashboard.SIGN_IN_ATTEMPTS)]
    assert statuses == [401] * dashboard.SIGN_IN_ATTEMPTS
    limited = await _sign_in(gateway)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    assert sessions.COOKIE not in limited.cookies, "even the right password waits"


async def test_the_session_cookie_is_secure_in_production(linked, booking_server, aiohttp_client, account):
    _, settings = linked
    gateway = await aiohttp_client(create_gateway(settings.with_overrides(env="production")))
    form = await gateway.get("/clinic/sign-in")
    form_cookie = form.cookies[sessions.SIGN_IN_CSRF_COOKIE]
    assert form_cookie["secure"] and form_cookie["httponly"]
    # The test client speaks plain HTTP, so it keeps Secure cookies to itself: send the form's by hand.
    resp = await gateway.post(
        "/clinic/sign-in",
        allow_redirects=False,
        data={"email": EMAIL, "password": PASSWORD, "csrf": _form_token(await form.text())},
        headers={"Cookie": f"{sessions.SIGN_IN_CSRF_COOKIE}={form_cookie.value}"},
    )
    assert resp.status == 303 and resp.cookies[sessions.COOKIE]["secure"]


async def test_passwords_are_stored_only_as_scrypt_hashes(booking_pool, account):
    async with booking_pool.acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM clinic_staff WHERE email = $1", EMAIL)
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert staff.verify_password(PASSWORD, stored) and not staff.verify_password(PASSWORD + "x", stored)
    assert not staff.verify_password(PASSWORD, "not-a-hash")


async def test_operators_add_accounts_with_the_command_and_they_can_sign_in(settings, gateway):
    with pytest.raises(SystemExit, match="at least"):
        await staff_accounts.add(settings, "spinecare", "bob@spinecare.example", "Bob", "short")
    with pytest.raises(SystemExit, match="no clinic"):
        await staff_accounts.add(settings, "nowhere", "bob@spinecare.example", "Bob", PASSWORD)
    await staff_accounts.add(settings, "spinecare", "bob@spinecare.example", "Bob Smith", PASSWORD)
    assert (await _sign_in(gateway, "Bob@SpineCare.example", PASSWORD)).status == 303, "emails match in any case"
    assert "SpineCare" in await (await gateway.get("/clinic")).text()
    with pytest.raises(SystemExit, match="another clinic"):
        await staff_accounts.add(settings, "urban-therapy", "bob@spinecare.example", "Bob", PASSWORD)
