"""PostgreSQL unreachable at request time: 503 with Retry-After in the error shape, no stack trace."""

from __future__ import annotations

from services.booking.app import create_app
from tests.support.booking import hold_body
from tests.support.tcp_proxy import TcpProxy


async def test_database_unreachable_is_503_with_retry_after(aiohttp_client, settings):
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    via_proxy = settings.database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    client = await aiohttp_client(create_app(settings.with_overrides(database_url=via_proxy, db_command_timeout=2)))
    assert (await client.get("/api/v1/clinics")).status == 200

    await proxy.cut()

    for method, path, kwargs in (
        ("GET", "/api/v1/clinics", {}),
        ("POST", "/api/v1/holds", {"json": hold_body("2030-01-08T10:00:00+00:00")}),
    ):
        resp = await client.request(method, path, **kwargs)
        assert resp.status == 503, await resp.text()
        assert resp.headers["Retry-After"].isdigit()
        body = await resp.json()
        assert body["error"]["code"] == "service_unavailable"
        assert "Traceback" not in await resp.text()

    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["checks"]["postgres"].startswith("error")
