"""The clinic dashboard as a browser sees it: the gateway in front of the web pages, which call the clinic API back
through that same gateway (so both listen on ports chosen up front), and the booking and payments services behind.
Also: accounts made straight in the booking schema, and the pages' forms read back."""

from __future__ import annotations

import html
import json
import re
import uuid

import pytest

from services.booking import staff
from services.booking.seed import stable_id
from services.gateway.app import create_app as create_gateway
from services.notifications.app import create_app as create_notifications
from services.web.app import create_app as create_web
from tests.support.infra import free_port

PASSWORD = "correct horse battery"
OWNER_EMAIL = "alice@urban-therapy.example"
STAFF_EMAIL = "rita@urban-therapy.example"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def make_site(settings, aiohttp_server, aiohttp_client, **overrides):
    """A test client of the gateway, with web behind it calling the clinic API through it. `settings` must name
    running booking and payments services (the `linked` fixture's); `overrides` apply to web and the gateway."""
    web_port, gateway_port = free_port(), free_port()
    notifications = await aiohttp_server(create_notifications(settings))
    upstreams = {
        **settings.upstreams,
        "notifications": str(notifications.make_url("")).rstrip("/"),
        "web": f"http://127.0.0.1:{web_port}",
        "gateway": f"http://127.0.0.1:{gateway_port}",
    }
    both = settings.with_overrides(upstreams=upstreams, **overrides)
    await aiohttp_server(create_web(both), port=web_port)
    return await aiohttp_client(await aiohttp_server(create_gateway(both), port=gateway_port))


async def add_account(
    pool, email: str, name: str, role: str = "owner", password: str | None = PASSWORD, clinic: str = "urban-therapy"
) -> str:
    """An account of `clinic` (with a password, unless None: an invited one); its id."""
    async with pool.acquire() as conn:
        return str(
            await conn.fetchval(
                """INSERT INTO clinic_staff (id, clinic_id, email, name, password_hash, role)
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
                uuid.uuid4(),
                stable_id(clinic),
                email,
                name,
                staff.hash_password(password) if password else None,
                role,
            )
        )


async def page(resp, status: int = 200) -> str:
    text = await resp.text()
    assert resp.status == status, (resp.status, text[:3000])
    assert resp.content_type == "text/html", resp.content_type
    assert resp.headers["Cache-Control"] == "no-store", "every dashboard page"
    return html.unescape(text)


def csrf_of(text: str) -> str:
    return CSRF.search(text).group(1)


async def sign_in(site, email: str = OWNER_EMAIL, password: str = PASSWORD, *, csrf: str | None = None, headers=None):
    """The sign-in form, filled in and sent (the redirect not followed)."""
    form = await page(await site.get("/clinic/sign-in"))
    return await site.post(
        "/clinic/sign-in",
        data={"email": email, "password": password, "csrf": csrf_of(form) if csrf is None else csrf},
        headers=headers,
        allow_redirects=False,
    )


async def signed_in(site, email: str = OWNER_EMAIL, password: str = PASSWORD) -> str:
    """Signs in; the home page's text."""
    resp = await sign_in(site, email, password)
    assert resp.status == 303 and resp.headers["Location"] == "/clinic", (resp.status, await resp.text())
    return await page(await site.get("/clinic"))


async def invitation_links(booking_pool) -> dict[str, str]:
    """The set-password links the booking service has sent so far (its `staff.invited` events), by email."""
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch("SELECT envelope FROM outbox WHERE topic LIKE 'staff%' ORDER BY seq")
    links = {}
    for row in rows:
        envelope = json.loads(row["envelope"]) if isinstance(row["envelope"], str) else row["envelope"]
        if envelope.get("type") == "staff.invited":
            links[envelope["data"]["email"]] = envelope["data"]["set_password_url"]
    return links


# --- fixtures (import them into a test module to use them) -------------------------------------------------


@pytest.fixture
async def dashboard(linked, booking_server, payments_server, aiohttp_server, aiohttp_client):
    """The gateway (with the web pages behind it) as a browser without JavaScript uses the dashboard."""
    _, settings = linked
    return await make_site(settings, aiohttp_server, aiohttp_client)


@pytest.fixture
async def owner(booking_pool) -> str:
    """Urban Therapy's owner account (Alice Jones, OWNER_EMAIL / PASSWORD); its id."""
    return await add_account(booking_pool, OWNER_EMAIL, "Alice Jones", "owner")


@pytest.fixture
async def receptionist(booking_pool) -> str:
    """A staff (reception) account of Urban Therapy (Rita Patel, STAFF_EMAIL / PASSWORD); its id."""
    return await add_account(booking_pool, STAFF_EMAIL, "Rita Patel", "staff")


async def kept_session(redis, settings, cookie: str):
    """The session web keeps for this cookie's value (its token unsealed, as web reads it); None if none."""
    from services.web.dashboard.session import SessionStore

    return await SessionStore(redis, settings.redis_prefix, secure=False).load(cookie)


def form_fields(text: str, action: str) -> dict[str, str]:
    """The hidden inputs (csrf, once, confirm…) of the page's first form posting to `action`, as a browser sends them."""
    match = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', text, re.S)
    assert match, f"no form posting to {action}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(1)))
