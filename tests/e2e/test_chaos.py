"""`make chaos` in small, inside `make test`: a minute of paid bookings (card, voucher, cancelled) through the
gateway while the booking service, a relay, the notifications consumer and the Celery worker are kill -9'd
and restarted, and Redis restarts empty. Every fault is recovered from, no request gets a 500, every paid
booking ends as its customer left it, and no invariant is violated. The run has a stack of its own (the
session's would not survive the kills unchanged)."""
from __future__ import annotations

import pytest

from tests.chaos.runner import Options, chaos_stack, render, run_chaos

pytestmark = pytest.mark.e2e
FAULTS = ("booking", "booking-relay", "notifications-consumer", "celery-worker", "redis")


@pytest.mark.timeout(240)
async def test_a_short_chaos_run_breaks_no_promise(template_db, tmp_path):
    options = Options(duration=60, rate=1.5, faults=FAULTS, settle=60)
    async with chaos_stack(template_db, tmp_path) as (stack, redis, db_url):
        result = await run_chaos(stack, redis, db_url, options)
    print(render(result))
    assert [r.fault for r in result.recoveries] == list(FAULTS)
    assert not result.failures, render(result)
