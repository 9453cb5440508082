"""The booking use cases' cases of tests/unit/test_booking_use_cases.py, against PostgreSQL: the same
tests, given a world whose unit of work is a PostgresUnitOfWork on this test's own seeded database."""

import asyncio
import random

import pytest

from services.booking import service
from services.booking.unit_of_work import PostgresUnitOfWork
from tests.support.booking_world import PostgresWorld
from tests.unit.test_booking_use_cases import *  # noqa: F401,F403 (the cases, run again with the world below)


@pytest.fixture
def world(booking_pool):
    return PostgresWorld(booking_pool)


async def test_a_cancelled_use_case_stays_cancelled(booking_pool):
    """The hold sweeper stops on cancellation and carries on after errors: a cancellation that reached it as
    an error (a rollback refused after a cancelled statement) kept it, and its app's shutdown, waiting forever."""

    async def sweep():  # as the sweeper in app.py does
        await service.expire_lapsed(PostgresUnitOfWork(booking_pool))

    for attempt in range(150):
        task = asyncio.create_task(sweep())
        await asyncio.sleep(random.uniform(0, 0.004))
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
