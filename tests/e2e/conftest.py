from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from playwright.async_api import async_playwright

from tests.support.browser import launch_chromium
from tests.support.infra import clone_database, database_url, drop_database, running_redis
from tests.support.stack import HTTP_SERVICES, Stack, stack_env


@pytest.fixture(scope="session")
def stack_redis(tmp_path_factory):
    """The stack's own Redis, apart from the one the integration tests flush."""
    yield from running_redis(tmp_path_factory, "stack-redis")


@pytest.fixture(scope="session")
async def stack_db(template_db):
    name = await clone_database(template_db)
    yield name
    await drop_database(name)


@pytest.fixture(scope="session")
def stack(stack_db, stack_redis, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stack")
    running = Stack(stack_env(database_url(stack_db), stack_redis.url, workdir), workdir)
    running.start()
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop_all()
    # However the tests treated it, no service met an error no rule answers (a 500) or refused a value at
    # the database that the input checks should have refused.
    for service in HTTP_SERVICES:
        log = running.log(service)
        assert '"unhandled error"' not in log and '"value refused by the database"' not in log, log[-5000:]


@pytest.fixture
async def stack_redis_client(stack_redis):
    client = aioredis.Redis.from_url(stack_redis.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def browser():
    """One Chromium for the session's browser tests (each test opens its own context)."""
    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        yield chromium
        await chromium.close()
