"""The gateway's forwarding beyond small JSON: large bodies streamed both ways, the body limit kept on
streamed uploads too, and each route's own upstream timeout."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from aiohttp import web

from services.gateway.app import create_app as create_gateway
from services.gateway.proxy import BUFFER_BYTES
from services.gateway.routing import Route
from shared.web import MAX_BODY_BYTES

CHUNK = b"x" * 65536
BIG_CHUNKS = (3 * BUFFER_BYTES) // len(CHUNK)


class Upstream:
    """A stand-in service: a big answer written in parts, an echo of what it receives, a slow answer."""

    def __init__(self):
        self.release_rest = asyncio.Event()
        self.echoed = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * MAX_BODY_BYTES)
        app.router.add_get("/api/v1/clinics/big", self.big)
        app.router.add_post("/api/v1/clinics/echo", self.echo)
        app.router.add_get("/api/v1/clinics/slow", self.slow)
        return app

    async def big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(CHUNK)
        await self.release_rest.wait()
        for _ in range(BIG_CHUNKS - 1):
            await response.write(CHUNK)
        await response.write_eof()
        return response

    async def echo(self, request: web.Request) -> web.Response:
        self.echoed += 1
        body = await request.read()
        return web.json_response(
            {
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "chunked": request.headers.get("Transfer-Encoding") == "chunked",
            }
        )

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response({"late": True})


@pytest.fixture
async def upstream(aiohttp_server):
    box = Upstream()
    box.server = await aiohttp_server(box.app())
    return box


@pytest.fixture
async def gateway(aiohttp_client, settings, upstream):
    url = str(upstream.server.make_url("")).rstrip("/")
    return await aiohttp_client(
        create_gateway(
            settings.with_overrides(upstreams={"booking": url}), route_table=(Route("/api/v1/clinics", "booking", 0.5),)
        )
    )


async def test_a_large_answer_is_streamed_not_buffered(gateway, upstream):
    resp = await gateway.get("/api/v1/clinics/big")
    assert resp.status == 200 and resp.headers.get("X-Request-ID")
    first = await asyncio.wait_for(resp.content.readexactly(len(CHUNK)), timeout=5)
    assert first == CHUNK, "the first part arrives while the upstream is still writing"
    upstream.release_rest.set()
    rest = await resp.read()
    assert len(first) + len(rest) == BIG_CHUNKS * len(CHUNK)


async def test_an_unsized_upload_is_streamed_through_intact(gateway, upstream):
    payload = bytes(range(256)) * 800  # 200 KiB, under the limit

    async def parts():
        for i in range(0, len(payload), 10_000):
            yield payload[i : i + 10_000]

    resp = await gateway.post("/api/v1/clinics/echo", data=parts())
    assert resp.status == 200, await resp.text()
    echoed = await resp.json()
    assert echoed == {"length": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "chunked": True}


async def test_the_body_limit_holds_for_declared_and_streamed_uploads(gateway, upstream):
    declared = await gateway.post("/api/v1/clinics/echo", data=b"x" * (MAX_BODY_BYTES + 1))
    assert declared.status == 413 and (await declared.json())["error"]["code"] == "body_too_large"
    assert upstream.echoed == 0, "refused before anything was sent upstream"

    async def endless():
        for _ in range(MAX_BODY_BYTES // 10_000 + 5):
            yield b"y" * 10_000

    streamed = await gateway.post("/api/v1/clinics/echo", data=endless())
    assert streamed.status == 413, await streamed.text()


async def test_a_route_may_take_a_larger_body_than_the_default_and_no_more(aiohttp_client, settings, upstream):
    """A therapist's photo (2 MiB) passes where the default limit would refuse it; past the route's own, 413."""
    url = str(upstream.server.make_url("")).rstrip("/")
    larger = 2 * MAX_BODY_BYTES
    gateway = await aiohttp_client(
        create_gateway(
            settings.with_overrides(upstreams={"booking": url}),
            route_table=(Route("/api/v1/clinics", "booking", 5, max_body=larger),),
        )
    )
    photo = b"p" * (MAX_BODY_BYTES + 1)
    passed = await gateway.post("/api/v1/clinics/echo", data=photo)
    assert passed.status == 200 and (await passed.json())["length"] == len(photo)
    over = await gateway.post("/api/v1/clinics/echo", data=b"p" * (larger + 1))
    assert over.status == 413 and str(larger // 1024) in (await over.json())["error"]["message"]


async def test_a_route_slower_than_its_timeout_is_504_with_retry_after(gateway):
    began = time.monotonic()
    resp = await gateway.get("/api/v1/clinics/slow")
    assert resp.status == 504 and resp.headers["Retry-After"]
    assert (await resp.json())["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - began < 2.5, "the route's 0.5 s, not the upstream's 3 s"
