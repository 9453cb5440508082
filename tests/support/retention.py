"""The daily retention jobs as their tests drive them from outside: the app's background run of today, and an
operator's run by hand (`python -m services.<service>.retention`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from tests.conftest import REPO_ROOT
from tests.support.infra import wait_for


async def todays_run_finished(pool) -> None:
    """Wait until today's (UTC) run of the service whose `pool` this is has finished."""
    today = datetime.now(timezone.utc).date()

    async def finished():
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT finished_at FROM retention_runs WHERE run_on = $1", today)

    await wait_for(finished, what="today's retention run")


def by_hand(service: str, database_url: str, *args: str) -> dict:
    """`python -m services.<service>.retention *args` against `database_url`: the counts it printed."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", f"services.{service}.retention", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
