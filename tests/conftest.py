"""Fixtures on real infrastructure: each test gets its own database (cloned from a migrated template)
and its own Redis key prefix on a private redis-server of this test run."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis import settings as hypothesis_settings

from shared import db
from tests.support.infra import clone_database, create_template_database, database_url, drop_database, running_redis
from tests.support.payments import FakeStripe
from tests.support.settings import AllSettings

REPO_ROOT = Path(__file__).resolve().parents[1]

# Property tests keep no example database in the working tree.
hypothesis_settings.register_profile("clinic", database=None)
hypothesis_settings.load_profile("clinic")


@pytest.fixture(scope="session")
async def template_db():
    name = await create_template_database()
    yield name
    await drop_database(name)


@pytest.fixture
async def db_name(template_db):
    name = await clone_database(template_db)
    yield name
    await drop_database(name)


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory):
    yield from running_redis(tmp_path_factory, "redis")


@pytest.fixture(scope="session")
def fake_stripe(tmp_path_factory):
    server = FakeStripe(tmp_path_factory.mktemp("fake-stripe"), AllSettings().stripe_webhook_secret)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(db_name, private_redis, fake_stripe, tmp_path) -> AllSettings:
    return AllSettings(
        env="test",
        database_url=database_url(db_name),
        redis_url=private_redis.url,
        celery_broker_url=private_redis.url,
        redis_prefix=f"t{uuid.uuid4().hex[:8]}:",
        mailbox_dir=str(tmp_path / "mailbox"),
        relay_poll_interval=0.05,
        consumer_block_ms=50,
        consumer_claim_idle_ms=200,
        consumer_max_attempts=3,
        db_command_timeout=5,
        stripe_api_base=fake_stripe.url,
    )


@pytest.fixture
async def redis(settings, private_redis):
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    yield client
    await client.flushall()
    await client.aclose()


@pytest.fixture
async def booking_pool(settings):
    pool = await db.create_pool(settings, "booking", min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def payments_pool(settings):
    pool = await db.create_pool(settings, "payments", min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def notifications_pool(settings):
    pool = await db.create_pool(settings, "notifications", min_size=1, max_size=4)
    yield pool
    await pool.close()


class ErrorLogWatch(logging.Handler):
    """What the error middleware logged during a test, at warning and above."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.allowed: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def allow(self, message: str) -> None:
        """For the test of that very path."""
        self.allowed.add(message)


# What the error middleware logs when a request met an error no rule answers (a 500), or a value the
# input checks should have refused reached the database: no test may cause either.
NEVER_LOGGED = {"unhandled error", "value refused by the database"}


@pytest.fixture(autouse=True)
def no_unhandled_errors():
    watch = ErrorLogWatch()
    logger = logging.getLogger("shared.errors")
    logger.addHandler(watch)
    yield watch
    logger.removeHandler(watch)
    unhandled = [
        f"{r.getMessage()} {getattr(r, 'method', '')} {getattr(r, 'path', '')}"
        for r in watch.records
        if r.getMessage() in NEVER_LOGGED - watch.allowed
    ]
    assert not unhandled, unhandled
