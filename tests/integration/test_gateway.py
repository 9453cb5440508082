"""The gateway forwards to the owning service, keeps request ids, and answers outages in the error shape."""

from __future__ import annotations

from services.gateway.app import create_app as create_gateway
from tests.support.booking import book
from tests.support.infra import free_port


async def gateway_for(aiohttp_client, settings, booking_url: str):
    return await aiohttp_client(create_gateway(settings.with_overrides(upstreams={"booking": booking_url})))


async def test_api_is_forwarded_to_the_booking_service(aiohttp_client, settings, booking_server):
    gateway = await gateway_for(aiohttp_client, settings, str(booking_server.make_url("")).rstrip("/"))
    booked = await book(gateway)
    assert booked["status"] == "pending_payment"
    resp = await gateway.get("/api/v1/clinics/urban-therapy", headers={"X-Request-ID": "gw-test-1"})
    assert resp.status == 200 and resp.headers["X-Request-ID"] == "gw-test-1"

    clinics = await gateway.get("/api/v1/clinics?x=1")
    assert clinics.status == 200 and len((await clinics.json())["clinics"]) == 2


async def test_service_errors_pass_through_unchanged(aiohttp_client, settings, booking_server):
    gateway = await gateway_for(aiohttp_client, settings, str(booking_server.make_url("")).rstrip("/"))
    resp = await gateway.post("/api/v1/holds", data=b"{oops", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_json"


async def test_service_down_is_503_with_retry_after(aiohttp_client, settings):
    gateway = await gateway_for(aiohttp_client, settings, f"http://127.0.0.1:{free_port()}")
    resp = await gateway.get("/api/v1/clinics")
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert (await resp.json())["error"]["code"] == "service_unavailable"


async def test_unknown_paths_are_json_404(aiohttp_client, settings):
    gateway = await aiohttp_client(create_gateway(settings))
    for path in ("/api/v1/unknown", "/nothing"):
        resp = await gateway.get(path)
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"


async def test_dev_mailbox_is_not_routed_in_production(aiohttp_client, settings):
    gateway = await aiohttp_client(create_gateway(settings.with_overrides(env="production")))
    assert (await gateway.get("/dev/mailbox")).status == 404


async def test_health_endpoints(aiohttp_client, settings):
    gateway = await aiohttp_client(create_gateway(settings))
    assert (await (await gateway.get("/healthz")).json())["status"] == "ok"
    assert (await gateway.get("/readyz")).status == 200


async def test_a_burst_of_holds_over_the_limit_is_429_with_retry_after(aiohttp_client, settings):
    gateway = await aiohttp_client(
        create_gateway(
            settings.with_overrides(rate_limit_holds_per_ip=3, upstreams={"booking": f"http://127.0.0.1:{free_port()}"})
        )
    )
    statuses = []
    for _ in range(5):
        resp = await gateway.post("/api/v1/holds", json={})
        statuses.append(resp.status)
    assert statuses[:3] == [503, 503, 503]  # let through (the booking service is down here)
    assert statuses[3:] == [429, 429]
    assert int(resp.headers["Retry-After"]) >= 1 and resp.headers["RateLimit-Remaining"] == "0"
    assert (await resp.json())["error"]["code"] == "rate_limited"
    other = await gateway.get("/api/v1/clinics")
    assert other.status != 429, "the stricter limit is for holds only"


async def test_successful_answers_carry_ratelimit_headers(aiohttp_client, settings, booking_server):
    gateway = await gateway_for(aiohttp_client, settings, str(booking_server.make_url("")).rstrip("/"))
    resp = await gateway.get("/api/v1/clinics")
    assert resp.status == 200 and int(resp.headers["RateLimit-Remaining"]) < int(resp.headers["RateLimit-Limit"])


async def test_cors_only_for_configured_origins(aiohttp_client, settings, booking_server):
    gateway = await aiohttp_client(
        create_gateway(
            settings.with_overrides(
                cors_origins=("https://urbantherapy.example",),
                upstreams={"booking": str(booking_server.make_url("")).rstrip("/")},
            )
        )
    )
    preflight = {"Access-Control-Request-Method": "POST"}
    ok = await gateway.options("/api/v1/holds", headers={"Origin": "https://urbantherapy.example", **preflight})
    assert ok.status == 204 and ok.headers["Access-Control-Allow-Origin"] == "https://urbantherapy.example"
    refused = await gateway.options("/api/v1/holds", headers={"Origin": "https://evil.example", **preflight})
    assert refused.status == 403 and "Access-Control-Allow-Origin" not in refused.headers
    listed = await gateway.get("/api/v1/clinics", headers={"Origin": "https://urbantherapy.example"})
    assert listed.headers["Access-Control-Allow-Origin"] == "https://urbantherapy.example"
    other = await gateway.get("/api/v1/clinics", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def _counting_upstream(aiohttp_server):
    """A stand-in booking service that counts the reads reaching it."""
    from aiohttp import web

    seen = {"reads": 0}

    async def read(request):
        seen["reads"] += 1
        return web.json_response({"clinics": []})

    app = web.Application()
    app.router.add_get("/api/v1/clinics", read)
    server = await aiohttp_server(app)
    return seen, str(server.make_url("")).rstrip("/")


async def test_a_burst_of_reads_over_the_limit_is_429_and_then_costs_no_upstream_work(
    aiohttp_client, aiohttp_server, settings
):
    seen, upstream = await _counting_upstream(aiohttp_server)
    gateway = await aiohttp_client(
        create_gateway(settings.with_overrides(rate_limit_per_ip=3, upstreams={"booking": upstream}))
    )
    statuses = [(await gateway.get("/api/v1/clinics")).status for _ in range(3)]
    assert statuses == [200, 200, 200] and seen["reads"] == 3
    refused = await gateway.get("/api/v1/clinics")
    # The first refused read ran alongside its limit check, so the upstream saw it; the answer was dropped.
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    assert (await refused.json())["error"]["code"] == "rate_limited"
    for _ in range(5):
        assert (await gateway.get("/api/v1/clinics")).status == 429
    assert seen["reads"] == 4, "once refused, a client's reads are checked before any upstream work"


async def test_a_refused_read_is_429_even_when_the_upstream_is_down(aiohttp_client, settings):
    gateway = await aiohttp_client(
        create_gateway(
            settings.with_overrides(rate_limit_per_ip=2, upstreams={"booking": f"http://127.0.0.1:{free_port()}"})
        )
    )
    statuses = [(await gateway.get("/api/v1/clinics")).status for _ in range(3)]
    assert statuses == [503, 503, 429]


async def test_an_upstream_cookie_is_the_client_s_and_never_sent_for_another_client(
    aiohttp_client, aiohttp_server, settings
):
    from aiohttp import web

    cookies_seen = []

    async def read(request):
        cookies_seen.append(request.headers.get("Cookie"))
        response = web.json_response({"clinics": []})
        response.set_cookie("upstream_pref", "a")
        return response

    app = web.Application()
    app.router.add_get("/api/v1/clinics", read)
    upstream = await aiohttp_server(app)
    # By host name, as in docker-compose or Kubernetes (a cookie jar ignores cookies from IP addresses).
    gateway = await aiohttp_client(
        create_gateway(settings.with_overrides(upstreams={"booking": f"http://localhost:{upstream.port}"}))
    )
    first = await gateway.get("/api/v1/clinics")
    assert first.cookies["upstream_pref"].value == "a", "passed on to the client that got it"
    gateway.session.cookie_jar.clear()  # another client, without that cookie
    await gateway.get("/api/v1/clinics")
    assert cookies_seen == [None, None], "the gateway keeps no cookies of its own"
