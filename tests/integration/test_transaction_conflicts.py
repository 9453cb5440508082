"""The database's own refusals as the error middleware answers them: a transaction that loses a real
deadlock is run again, one that keeps losing is a 503 with Retry-After, a value out of a column's range
is a 422; never a 500."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from shared.db import CONFLICT_ATTEMPTS, retry_conflicts
from shared.web import create_base_app

# Two advisory lock keys the test's transactions take in opposite orders.
FIRST, SECOND = 7_301_001, 7_301_002


async def test_the_loser_of_a_real_deadlock_is_run_again_and_succeeds(booking_pool):
    attempts: list[int] = []
    holds_first = asyncio.Event()
    other_holds_second = asyncio.Event()

    @retry_conflicts
    async def use_case(conn: asyncpg.Connection) -> str:
        attempts.append(len(attempts) + 1)
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", FIRST)
            holds_first.set()
            await other_holds_second.wait()
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SECOND)  # waits first: PostgreSQL picks it
        return "done"

    async def other(conn: asyncpg.Connection) -> None:
        await holds_first.wait()
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SECOND)
            other_holds_second.set()
            await asyncio.sleep(0.2)  # let the use case wait on SECOND
            await conn.execute("SELECT pg_advisory_xact_lock($1)", FIRST)

    async with booking_pool.acquire() as a, booking_pool.acquire() as b:
        result, _ = await asyncio.gather(use_case(a), other(b))
    assert result == "done" and attempts == [1, 2]


async def test_a_request_that_keeps_losing_is_503_busy(settings, aiohttp_client):
    calls = 0

    @retry_conflicts
    async def always_deadlocked(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")

    app = create_base_app(settings, "test", with_redis=False)
    app.router.add_post("/work", always_deadlocked)
    resp = await (await aiohttp_client(app)).post("/work")
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == "busy"
    assert calls == CONFLICT_ATTEMPTS


async def test_a_value_the_database_refuses_is_422_and_a_warning_not_a_500(
    settings, booking_pool, aiohttp_client, no_unhandled_errors
):
    no_unhandled_errors.allow("value refused by the database")

    async def store_a_count(request: web.Request) -> web.Response:
        async with booking_pool.acquire() as conn:  # an integer column's range, which no check knew
            await conn.fetchval("SELECT $1::integer", 10**12)
        return web.json_response({})

    app = create_base_app(settings, "test", with_redis=False)
    app.router.add_post("/count", store_a_count)
    resp = await (await aiohttp_client(app)).post("/count")
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "invalid_value"
    [record] = [r for r in no_unhandled_errors.records if r.getMessage() == "value refused by the database"]
    assert record.levelname == "WARNING" and record.exc_info is None
