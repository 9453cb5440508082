"""The asyncio side of the Celery worker: one event loop in a thread of its own, with a PostgreSQL pool and a
kept HTTP session, shared by every task the worker's pool threads run.

The worker runs Celery's threads pool: tasks arrive without the prefork pool's pipe to a child process, and
what they wait on (PostgreSQL, SMTP, receivers) is waited on side by side on this loop. A task thread hands
its coroutine over and blocks on the answer. Celery's own time limits need the prefork pool, so the limit
is kept here: a task's coroutine is cancelled when it runs longer (its transaction rolls back, its row stays
pending and the sweepers give it another go).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable, TypeVar

import asyncpg
import uvloop
from celery.exceptions import TimeLimitExceeded

from services.notifications.emails import smtp
from services.notifications.settings import NotificationsSettings
from shared import db
from shared.config import load_settings

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[asyncpg.Connection], Awaitable[T]]

TASK_TIME_LIMIT = 60.0
# Connections: one per job in flight (an email job holds its row lock while the SMTP server answers).
DB_POOL_SIZE = 24


class Runtime:
    def __init__(self, time_limit: float = TASK_TIME_LIMIT) -> None:
        self.time_limit = time_limit
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: asyncpg.Pool | None = None
        self._pool_ready: asyncio.Lock | None = None

    # --- for task threads ---------------------------------------------------------------------

    def run(self, job: Job[T]) -> T:
        """Run `job(conn)` on the loop with a connection of the pool; its result, or its exception."""
        return self._submit(self._with_conn(job))

    def run_all(self, jobs: list[Job]) -> list:
        """Run the jobs side by side, each with a connection of its own; each one's result or exception."""

        async def together():
            return await asyncio.gather(*(self._with_conn(job) for job in jobs), return_exceptions=True)

        return self._submit(together())

    def _submit(self, coro: Awaitable[T]) -> T:
        future = asyncio.run_coroutine_threadsafe(self._limited(coro), self._running_loop())
        return future.result()

    async def _limited(self, coro: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.time_limit):
                return await coro
        except TimeoutError:
            raise TimeLimitExceeded(self.time_limit) from None

    # --- on the loop ----------------------------------------------------------------------------

    async def _with_conn(self, job: Job[T]) -> T:
        pool = await self._db_pool()
        async with pool.acquire() as conn:
            return await job(conn)

    async def _db_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_ready:
                if self._pool is None:
                    self._pool = await db.create_pool(
                        load_settings(NotificationsSettings), "notifications", min_size=1, max_size=DB_POOL_SIZE
                    )
        return self._pool

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = uvloop.new_event_loop()
                # SMTP sends (smtplib) wait in these threads, one per kept connection at most.
                loop.set_default_executor(ThreadPoolExecutor(smtp.MAX_CONNECTIONS, thread_name_prefix="smtp"))
                self._pool_ready = asyncio.Lock()
                self._thread = threading.Thread(target=loop.run_forever, name="notifications-loop", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    # --- life cycle -------------------------------------------------------------------------------

    def close(self, *cleanups: Callable[[], Awaitable[None]]) -> None:
        """Run `cleanups` on the loop (e.g. closing kept sessions), close the pool, stop the loop."""
        with self._lock:
            loop, thread = self._loop, self._thread
        if loop is None:
            return

        async def shut() -> None:
            for cleanup in cleanups:
                await cleanup()
            if self._pool is not None:
                await self._pool.close()

        try:
            asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout=10)
        except Exception:
            log.exception("worker runtime did not close cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        self.reset()

    def reset(self) -> None:
        """Forget the loop and pool (after a fork: they belong to the parent)."""
        with self._lock:
            self._loop = self._thread = self._pool = self._pool_ready = None


runtime = Runtime()
