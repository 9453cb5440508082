"""Celery tasks. Each gets only an id and re-reads its row, so a task run twice sends nothing twice."""
from __future__ import annotations

import asyncio
import logging
import smtplib
import uuid

import asyncpg
from celery.signals import worker_process_init

from services.notifications import smtp, store
from services.notifications.celery_app import app
from shared import db
from shared.config import load_settings

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
RETRY_BACKOFF_MAX = 600


class _Runtime:
    """One event loop and one PostgreSQL connection per worker process, made on first use (after fork)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.conn: asyncpg.Connection | None = None

    def reset(self) -> None:
        self.loop, self.conn = None, None

    def run(self, fn):
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(self._with_conn(fn))

    async def _with_conn(self, fn):
        if self.conn is None or self.conn.is_closed():
            self.conn = await db.connect(load_settings(), "notifications")
        return await fn(self.conn)


runtime = _Runtime()


@worker_process_init.connect
def _fresh_runtime_after_fork(**_kwargs) -> None:
    runtime.reset()


@app.task(name="notifications.send_email", bind=True, acks_late=True, max_retries=MAX_SEND_ATTEMPTS)
def send_email(self, email_id: str) -> str:
    settings = load_settings()

    async def attempt(conn: asyncpg.Connection) -> str:
        async with conn.transaction():
            # The row lock is held while sending, so a duplicate task skips instead of sending twice.
            row = await store.lock_pending_email(conn, uuid.UUID(email_id))
            if row is None:
                return "skipped"
            try:
                await asyncio.to_thread(smtp.send, settings, row)
            except (OSError, smtplib.SMTPException) as exc:
                return f"error:{type(exc).__name__}: {exc}"
            await store.mark_sent(conn, row["id"])
            return "sent"

    outcome = runtime.run(attempt)
    if outcome.startswith("error:"):
        give_up = self.request.retries >= MAX_SEND_ATTEMPTS
        runtime.run(lambda conn: store.record_failure(conn, uuid.UUID(email_id), outcome[6:], give_up))
        log.warning("email send failed", extra={"email_id": email_id, "error": outcome[6:], "give_up": give_up})
        if not give_up:
            raise self.retry(countdown=min(2 ** self.request.retries * 5, RETRY_BACKOFF_MAX))
        return "failed"
    log.info("email task done", extra={"email_id": email_id, "outcome": outcome})
    return outcome


@app.task(name="notifications.requeue_lost_emails", acks_late=True)
def requeue_lost_emails() -> int:
    async def sweep(conn: asyncpg.Connection) -> list[uuid.UUID]:
        return await store.claim_lost_emails(conn)

    ids = runtime.run(sweep)
    for email_id in ids:
        send_email.delay(str(email_id))
    if ids:
        log.warning("re-enqueued lost emails", extra={"count": len(ids)})
    return len(ids)
