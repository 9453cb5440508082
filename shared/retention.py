"""What every service's daily retention job shares: one run a day whichever replica gets there first, a dry run
that changes nothing, the background task that checks hourly, and the run by hand.

The day is claimed by inserting its row of the service's own `retention_runs` table (run_on date PRIMARY KEY,
started_at, finished_at, counts jsonb) in the run's transaction: another replica's run of the same day waits for
that transaction, then finds the day taken; a run that fails rolls back and claims no day. Each service says what
its run does (`Apply`: in the run's transaction, the counts of what it did)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import date, datetime, timezone
from typing import AsyncIterator, Awaitable, Callable, Protocol

import asyncpg
from aiohttp import web

from shared import db
from shared.config import Settings, load_settings
from shared.db import Connection
from shared.keys import DB

log = logging.getLogger(__name__)
# How often a service looks whether today's run is done (it runs at most once a day).
RETENTION_CHECK_INTERVAL = 3600.0

Counts = dict[str, int]
Apply = Callable[[Connection, date, datetime], Awaitable[Counts]]
# The background task of a service's app that runs the day (daily_ctx).
RETENTION = web.AppKey("retention", asyncio.Task)


class ServiceRun(Protocol):
    """A service's `run_retention` (its `apply` given to run_once): today's run from the app's background task, or an
    operator's run by hand. The counts, or None if another replica has the day."""

    def __call__(
        self, pool: asyncpg.Pool, *, today: date, now: datetime, dry_run: bool = ..., claim: bool = ...
    ) -> Awaitable[Counts | None]: ...


class _DryRun(Exception):
    """Raised inside a dry run's transaction to roll it back."""


async def claim_day(conn: Connection, day: date) -> bool:
    """In the run's transaction: True if this run has the day. Another replica's claim of the same day waits for
    this transaction, then finds the day taken (or takes it, if this run failed and rolled back)."""
    claimed = await conn.fetchval(
        "INSERT INTO retention_runs (run_on) VALUES ($1) ON CONFLICT (run_on) DO NOTHING RETURNING run_on", day
    )
    return claimed is not None


async def finish_day(conn: Connection, day: date, counts: Counts) -> None:
    await conn.execute(
        "UPDATE retention_runs SET finished_at = clock_timestamp(), counts = $2 WHERE run_on = $1", day, counts
    )


async def run_once(
    pool: asyncpg.Pool,
    apply: Apply,
    *,
    service: str,
    today: date,
    now: datetime,
    dry_run: bool = False,
    claim: bool = True,
) -> Counts | None:
    """Today's run: the counts of what `apply` did, or None if another run has the day already. `claim` False (an
    operator's run by hand): run whether or not the day was run, and record no day. A dry run claims no day and
    changes nothing: the counts of what a run would do now."""
    async with pool.acquire() as conn:
        if dry_run:
            counts: Counts = {}
            try:
                async with conn.transaction():
                    counts = await apply(conn, today, now)
                    raise _DryRun()
            except _DryRun:
                return counts
        async with conn.transaction():
            if claim and not await claim_day(conn, today):
                return None
            counts = await apply(conn, today, now)
            if claim:
                await finish_day(conn, today, counts)
    log.info("retention run", extra={"service": service, "run_on": today.isoformat(), **counts})
    return counts


async def delete_in_batches(delete: Callable[[int], Awaitable[int]], batch: int) -> int:
    """`delete(batch)` (deleting at most `batch` rows) again until it deletes fewer: how many in all. A backlog is
    never one statement."""
    deleted = 0
    while True:
        done = await delete(batch)
        deleted += done
        if done < batch:
            return deleted


async def _daily(app: web.Application, run: ServiceRun, interval: float) -> None:
    while True:
        now = datetime.now(timezone.utc)
        try:
            await run(app[DB], today=now.date(), now=now)
        except Exception as exc:  # the database may be down for a while: the next check tries again
            log.warning("retention run failed", extra={"error": repr(exc)})
        await asyncio.sleep(interval)


def daily_ctx(run: ServiceRun, interval: float) -> Callable[[web.Application], AsyncIterator[None]]:
    """A service app's background task (a cleanup_ctx): today's run, if no replica has done it, checked every
    `interval` seconds; the task is kept under RETENTION."""

    async def retention(app: web.Application) -> AsyncIterator[None]:
        app[RETENTION] = asyncio.create_task(_daily(app, run, interval))
        yield
        app[RETENTION].cancel()
        try:
            await app[RETENTION]
        except asyncio.CancelledError:
            pass

    return retention


def command_line(service: str, settings_class: type[Settings], run: ServiceRun, argv: list[str] | None = None) -> None:
    """`python -m services.<service>.retention [--dry-run]`: a run now, whether or not the day's was done (no day
    recorded), or with --dry-run what it would do; the counts printed as JSON."""
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{service}.retention", description=f"The {service} service's retention job, by hand."
    )
    parser.add_argument("--dry-run", action="store_true", help="print what a run would do now, and change nothing")
    args = parser.parse_args(argv)
    counts = asyncio.run(_by_hand(load_settings(settings_class), service, run, args.dry_run))
    print(json.dumps({"dry_run": args.dry_run, **(counts or {})}))


async def _by_hand(settings: Settings, service: str, run: ServiceRun, dry_run: bool) -> Counts | None:
    pool = await db.create_pool(settings, service, min_size=1, max_size=1)
    try:
        now = datetime.now(timezone.utc)
        return await run(pool, today=now.date(), now=now, dry_run=dry_run, claim=False)
    finally:
        await pool.close()
