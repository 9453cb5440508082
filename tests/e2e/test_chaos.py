"""`make chaos` in small, inside `make test`: a minute of paid bookings (card, voucher, cancelled) through the
gateway while the booking service, a relay, the notifications consumer and the Celery worker are kill -9'd
and restarted, Redis restarts empty, PostgreSQL crashes and restarts, and the SMTP sink and the clinic's webhook
receiver stall. Every fault is recovered from and the invariant checker finds nothing after it, no request gets
a 500, every paid booking ends as its customer left it, every confirmation email and webhook arrives, and no
invariant is violated at the end. The run has a stack of its own, on a PostgreSQL cluster of its own (the
session's would not survive the kills unchanged, and the machine's PostgreSQL is never restarted)."""

from __future__ import annotations

import pytest

from tests.chaos.runner import Options, chaos_stack, render, run_chaos

pytestmark = pytest.mark.e2e
FAULTS = (
    "booking",
    "booking-relay",
    "postgres",
    "notifications-consumer",
    "celery-worker",
    "redis",
    "smtp-stall",
    "webhook-stall",
)


@pytest.mark.timeout(240)
async def test_a_short_chaos_run_breaks_no_promise(tmp_path):
    options = Options(duration=60, rate=1.5, faults=FAULTS, settle=60, stall=5)
    async with chaos_stack(tmp_path) as rig:
        result = await run_chaos(rig, options)
    print(render(result))
    assert [r.fault for r in result.recoveries] == list(FAULTS)
    assert all(r.findings is not None for r in result.recoveries), "the checker ran after every fault"
    assert not result.failures, render(result)
