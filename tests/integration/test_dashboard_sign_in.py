"""Clinic staff sign in to the dashboard (services/web) through the gateway: a session cookie (HttpOnly,
SameSite=Lax, Secure in production) naming a session kept in web's Redis under a digest, CSRF tokens on every
form, the clinic API reachable only with a bearer token (never the cookie), sign-in attempts limited, passwords
stored only as scrypt hashes."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from services.booking import staff, staff_accounts
from services.gateway.settings import GatewaySettings
from services.web.dashboard import session as sessions
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner: fixtures)
    OWNER_EMAIL,
    PASSWORD,
    csrf_of,
    dashboard,
    kept_session,
    make_site,
    owner,
    page,
    sign_in,
    signed_in,
)


async def stored_session(redis, settings, cookie: str) -> dict:
    raw = await redis.get(f"{settings.redis_prefix}web:clinic_session:{hashlib.sha256(cookie.encode()).hexdigest()}")
    return json.loads(raw) if raw else {}


async def test_staff_sign_in_gives_an_httponly_samesite_session_and_the_dashboard(dashboard, owner):
    resp = await dashboard.get("/clinic", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/clinic/sign-in", "signed out: sent to sign in"
    resp = await sign_in(dashboard)
    assert resp.status == 303 and resp.headers["Location"] == "/clinic"
    cookie = resp.cookies[sessions.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"], "Secure only in production"
    assert cookie["path"] == "/" and 0 < int(cookie["max-age"]) <= 12 * 3600
    home = await dashboard.get("/clinic")
    text = await page(home)
    assert "Urban Therapy Clinic, London" in text and "Signed in as <strong>Alice Jones</strong>" in text
    csp = home.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp


async def test_the_session_is_kept_under_a_digest_of_the_cookie_with_the_staff_token_sealed(
    dashboard, owner, redis, settings
):
    resp = await sign_in(dashboard)
    cookie = resp.cookies[sessions.COOKIE].value
    kept = await stored_session(redis, settings, cookie)
    assert kept["role"] == "owner" and kept["clinic_slug"] == "urban-therapy" and kept["csrf"]
    assert kept["clinic_timezone"] == "Europe/London" and kept["name"] == "Alice Jones"
    [key] = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}*clinic_session*")]
    assert cookie not in key and cookie not in await redis.get(key), "the cookie itself is nowhere in Redis"
    assert 0 < await redis.ttl(key) <= 12 * 3600
    # The staff token is kept sealed with a key from the cookie: a copy of Redis opens no clinic API.
    token = (await kept_session(redis, settings, cookie)).token
    assert token.startswith("cst_") and "cst_" not in await redis.get(key)
    with_copy = await dashboard.get("/api/v1/clinic/me", headers={"Authorization": f"Bearer {kept['token']}"})
    assert with_copy.status == 401
    with_token = await dashboard.get("/api/v1/clinic/me", headers={"Authorization": f"Bearer {token}"})
    assert with_token.status == 200


async def test_a_wrong_password_or_unknown_email_is_refused_alike_and_no_session_starts(dashboard, owner):
    for email, password in ((OWNER_EMAIL, "wrong password!"), ("nobody@example.com", PASSWORD)):
        resp = await sign_in(dashboard, email, password)
        text = await page(resp, 401)
        assert "That email and password do not match an account" in text and "There is a problem" in text
        assert f'value="{email}"' in text, "the email typed is kept; the password never is"
        assert sessions.COOKIE not in resp.cookies
    empty = await page(await sign_in(dashboard, OWNER_EMAIL, ""), 400)
    assert "Enter your password" in empty and 'href="#password"' in empty
    assert (await dashboard.get("/clinic", allow_redirects=False)).status == 303


async def test_a_sign_in_form_without_its_csrf_token_is_refused(dashboard, owner):
    for token in ("", "forged-token"):
        resp = await sign_in(dashboard, csrf=token)
        assert "This form has expired" in await page(resp, 403)
        assert sessions.COOKIE not in resp.cookies


async def test_the_session_cookie_is_no_key_to_the_clinic_api(dashboard, owner, redis, settings):
    """The clinic API takes only `Authorization: Bearer`: a signed-in browser's cookie opens nothing there."""
    resp = await sign_in(dashboard)
    kept = await kept_session(redis, settings, resp.cookies[sessions.COOKIE].value)
    csrf = kept.csrf
    with_cookie = await dashboard.get("/api/v1/clinic/webhook-endpoints")
    assert with_cookie.status == 401
    created = await dashboard.post(
        "/api/v1/clinic/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status == 401, "nor with the session's CSRF token beside it"
    with_token = await dashboard.get("/api/v1/clinic/me", headers={"Authorization": f"Bearer {kept.token}"})
    assert with_token.status == 200 and (await with_token.json())["clinic"]["slug"] == "urban-therapy"


async def test_sign_out_needs_the_session_s_token_and_ends_the_session_and_its_api_token(
    dashboard, owner, redis, settings
):
    resp = await sign_in(dashboard)
    cookie = resp.cookies[sessions.COOKIE].value
    token = (await kept_session(redis, settings, cookie)).token
    csrf = csrf_of(await page(await dashboard.get("/clinic")))
    forged = await dashboard.post("/clinic/sign-out", data={"csrf": "nope"}, allow_redirects=False)
    assert "This form has expired" in await page(forged, 403)
    assert (await dashboard.get("/clinic", allow_redirects=False)).status == 200, "still signed in"
    out = await dashboard.post("/clinic/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/clinic/sign-in?m=signed-out"
    assert "You have signed out." in await page(await dashboard.get(out.headers["Location"]))
    assert (await dashboard.get("/clinic", allow_redirects=False)).status == 303
    assert await stored_session(redis, settings, cookie) == {}, "gone from Redis"
    api = await dashboard.get("/api/v1/clinic/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status == 401, "the staff token was signed out at the API too"


async def test_a_stolen_cookie_is_useless_after_sign_out(dashboard, owner):
    resp = await sign_in(dashboard)
    stolen = resp.cookies[sessions.COOKIE].value
    csrf = csrf_of(await page(await dashboard.get("/clinic")))
    await dashboard.post("/clinic/sign-out", data={"csrf": csrf}, allow_redirects=False)
    dashboard.session.cookie_jar.clear()
    replayed = await dashboard.get("/clinic", cookies={sessions.COOKIE: stolen}, allow_redirects=False)
    assert replayed.status == 303 and replayed.headers["Location"] == "/clinic/sign-in"


async def test_sign_in_attempts_are_limited_per_client_at_the_gateway_with_a_page_saying_how_long(dashboard, owner):
    """The gateway counts the page's posts against the same per-address limit as the API's sign-ins (the page
    then asks the booking service directly: counted once). Each guess here is at another account, so no
    per-account limit is near."""
    attempts = GatewaySettings.rate_limit_sign_ins_per_ip  # the default: 10 a quarter hour
    statuses = [(await sign_in(dashboard, f"guess{i}@example.com", PASSWORD)).status for i in range(attempts)]
    assert statuses == [401] * attempts
    limited = await sign_in(dashboard)
    text = await page(limited, 429)
    assert "Too many attempts" in text and re.search(r"Wait \d+ minutes?, then try again", text)
    assert int(limited.headers["Retry-After"]) > 0 and sessions.COOKIE not in limited.cookies
    api = await dashboard.post("/api/v1/staff/sessions", json={"email": OWNER_EMAIL, "password": PASSWORD})
    assert api.status == 429 and (await api.json())["error"]["code"] == "rate_limited", "the API's bucket too"


async def test_the_session_cookie_is_secure_in_production(
    linked, booking_server, aiohttp_server, aiohttp_client, owner
):
    _, settings = linked
    site = await make_site(settings, aiohttp_server, aiohttp_client, env="production")
    form = await site.get("/clinic/sign-in")
    form_cookie = form.cookies["csrf"]
    assert form_cookie["secure"] and form_cookie["httponly"]
    assert form.headers["Strict-Transport-Security"].startswith("max-age=")
    # The test client speaks plain HTTP, so it keeps Secure cookies to itself: send the form's by hand.
    resp = await site.post(
        "/clinic/sign-in",
        allow_redirects=False,
        data={"email": OWNER_EMAIL, "password": PASSWORD, "csrf": csrf_of(await form.text())},
        headers={"Cookie": f"csrf={form_cookie.value}"},
    )
    assert resp.status == 303, await resp.text()
    cookie = resp.cookies[sessions.COOKIE]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_passwords_are_stored_only_as_scrypt_hashes(booking_pool, owner):
    async with booking_pool.acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM clinic_staff WHERE email = $1", OWNER_EMAIL)
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    assert staff.verify_password(PASSWORD, stored) and not staff.verify_password(PASSWORD + "x", stored)
    assert not staff.verify_password(PASSWORD, "not-a-hash")


async def test_operators_add_accounts_with_the_command_and_they_can_sign_in(settings, dashboard):
    with pytest.raises(SystemExit, match="at least"):
        await staff_accounts.add(settings, "spinecare", "bob@spinecare.example", "Bob", "short")
    with pytest.raises(SystemExit, match="no clinic"):
        await staff_accounts.add(settings, "nowhere", "bob@spinecare.example", "Bob", PASSWORD)
    await staff_accounts.add(settings, "spinecare", "bob@spinecare.example", "Bob Smith", PASSWORD)
    assert "SpineCare" in await signed_in(dashboard, "Bob@SpineCare.example", PASSWORD), "emails match in any case"
    with pytest.raises(SystemExit, match="another clinic"):
        await staff_accounts.add(settings, "urban-therapy", "bob@spinecare.example", "Bob", PASSWORD)
