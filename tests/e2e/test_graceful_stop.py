"""SIGTERM, as Kubernetes and docker-compose send it: a service stops accepting, finishes the requests it
has in flight, then exits cleanly. Shown on the real gateway process in front of a slow upstream (every
HTTP service runs through the same shared.web.run_service)."""
from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest
from aiohttp import web

from tests.support.infra import database_url, wait_for
from tests.support.stack import Stack, stack_env

pytestmark = pytest.mark.e2e
SLOW_SECONDS = 1.5


@pytest.fixture
async def slow_upstream(aiohttp_server):
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW_SECONDS)
        return web.json_response({"finished": True})

    app = web.Application()
    app.router.add_get("/api/v1/clinics/slow", slow)
    return await aiohttp_server(app)


async def test_the_gateway_finishes_in_flight_requests_refuses_new_ones_and_exits_on_sigterm(
        slow_upstream, stack_redis, tmp_path):
    env = stack_env(database_url("unused"), stack_redis.url, tmp_path)
    env["BOOKING_URL"] = str(slow_upstream.make_url("")).rstrip("/")
    stack = Stack(env, tmp_path)
    stack.start("gateway")
    gateway = stack.url("gateway")
    try:
        async with aiohttp.ClientSession() as http:
            async def up() -> bool:
                try:
                    async with http.get(f"{gateway}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(up, timeout=30, what="the gateway to start")

            async def slow_request():
                async with http.get(f"{gateway}/api/v1/clinics/slow") as resp:
                    return resp.status, await resp.json()

            in_flight = asyncio.create_task(slow_request())
            await asyncio.sleep(0.4)                     # the request is now waiting on the upstream
            stack.send_signal("gateway", signal.SIGTERM)
            await asyncio.sleep(0.3)
            async with aiohttp.ClientSession() as fresh:   # a new connection, as a new client would open
                with pytest.raises(aiohttp.ClientConnectionError):
                    async with fresh.get(f"{gateway}/healthz") as resp:
                        await resp.read()
            assert not in_flight.done(), "still finishing the slow request"
            assert await in_flight == (200, {"finished": True})
        code = await asyncio.to_thread(stack.procs["gateway"].wait, 15)
        assert code == 0, stack.log("gateway")[-2000:]
    finally:
        stack.stop_all()
