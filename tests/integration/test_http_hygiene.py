"""What every response carries and what every service refuses, whatever the route."""

from __future__ import annotations

from services.gateway.app import create_app as create_gateway
from shared.web import MAX_BODY_BYTES


async def test_security_headers_and_no_server_banner(settings, booking):
    for path in ("/api/v1/clinics", "/api/v1/nothing"):
        resp = await booking.get(path)
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert "Server" not in resp.headers
        assert "Strict-Transport-Security" not in resp.headers  # development: plain http on loopback


async def test_pages_get_a_content_security_policy_and_production_gets_hsts(settings, aiohttp_client):
    gateway = await aiohttp_client(create_gateway(settings.with_overrides(env="production")))
    page = await gateway.get("/docs")  # the page the gateway serves itself (the rest are web's: test_web_*.py)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_an_oversize_body_is_413_in_the_error_shape_and_writes_nothing(booking, booking_pool):
    resp = await booking.post(
        "/api/v1/holds", data=b"{" + b" " * (MAX_BODY_BYTES + 10) + b"}", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "payload_too_large"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 0
