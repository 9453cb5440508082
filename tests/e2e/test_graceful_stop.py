"""SIGTERM, as Kubernetes and docker-compose send it: a service stops accepting, finishes the requests it
has in flight, then exits cleanly. Shown on the real gateway process in front of a slow upstream (every
HTTP service runs through the same shared.web.run_service), and on a real stream consumer process (every
relay and consumer runs through the same shared.runner.run_worker), which finishes and acks its batch."""

from __future__ import annotations

import asyncio
import signal
import uuid

import aiohttp
import pytest
from aiohttp import web

from services.notifications.consumer import GROUP as CONSUMER_GROUP
from shared.events import stream_key
from shared.outbox import OutboxRelay
from tests.support.events import booking_confirmed, commit_event
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
    slow_upstream, stack_redis, tmp_path
):
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
            await asyncio.sleep(0.4)  # the request is now waiting on the upstream
            stack.send_signal("gateway", signal.SIGTERM)
            await asyncio.sleep(0.3)
            async with aiohttp.ClientSession() as fresh:  # a new connection, as a new client would open
                with pytest.raises(aiohttp.ClientConnectionError):
                    async with fresh.get(f"{gateway}/healthz") as resp:
                        await resp.read()
            assert not in_flight.done(), "still finishing the slow request"
            assert await in_flight == (200, {"finished": True})
        code = await asyncio.to_thread(stack.procs["gateway"].wait, 15)
        assert code == 0, stack.log("gateway")[-2000:]
    finally:
        stack.stop_all()


BATCH = 300


async def _count(pool, sql: str) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(sql)


async def test_a_consumer_finishes_its_batch_acks_it_and_exits_on_sigterm(
    settings, booking_pool, notifications_pool, redis, tmp_path
):
    """The notifications consumer, as its own process, is stopped while it works through a backlog: it
    finishes and acks what it read, exits 0, and on restart handles the rest, each event once."""
    for i in range(BATCH):
        event = booking_confirmed(email=f"customer{i}@example.com")
        event.data["booking_id"] = str(uuid.UUID(int=i + 1))
        await commit_event(booking_pool, event)
    relay = OutboxRelay(booking_pool, redis, schema="booking", prefix=settings.redis_prefix)
    while await relay.run_once():
        pass
    env = stack_env(settings.database_url, settings.redis_url, tmp_path)
    env["REDIS_PREFIX"] = settings.redis_prefix
    stack = Stack(env, tmp_path)
    inbox = "SELECT count(*) FROM inbox"
    try:
        stack.start("notifications-consumer")
        await wait_for(lambda: _at_least(notifications_pool, inbox, 10), timeout=30, what="the consumer to start")
        stack.send_signal("notifications-consumer", signal.SIGTERM)
        code = await asyncio.to_thread(stack.procs["notifications-consumer"].wait, 15)
        assert code == 0, stack.log("notifications-consumer")[-2000:]
        handled = await _count(notifications_pool, inbox)
        pending = (await redis.xpending(stream_key(settings.redis_prefix, "booking"), CONSUMER_GROUP))["pending"]
        assert pending == 0, "every event it had read was handled and acked before it exited"
        print(f"stopped after {handled} of {BATCH} events")

        stack.start("notifications-consumer")
        await wait_for(lambda: _at_least(notifications_pool, inbox, BATCH), timeout=60, what="the rest")
    finally:
        stack.stop_all()
    assert await _count(notifications_pool, "SELECT count(*) FROM emails") == BATCH, "one email per booking"


async def _at_least(pool, sql: str, n: int) -> bool:
    return await _count(pool, sql) >= n
