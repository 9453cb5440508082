"""The notifications service's daily retention job (Celery beat, `notifications.prune_logs`): deletes what is
no longer needed of old messages while keeping their record.

- Clinic webhook deliveries no longer pending, made over settings.webhook_log_body_days ago (30 by default):
  payload → '{}' with payload_pruned_at, and their attempts' response bodies → NULL. The delivery log keeps when,
  what type, and how each try went; such a delivery can no longer be replayed (409 `delivery_pruned`).
- Emails sent or failed, made over settings.email_body_days ago (365 by default): text, HTML and attachments
  emptied, with body_pruned_at; address, subject, kind and status stay.

A batch at a time, each its own short transaction (a large table is never pruned in one), until a batch comes
back short. Safe to run twice at once (batches skip each other's rows) and to stop halfway (the rest is pruned
next time)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

import asyncpg

from services.notifications import privacy_store as store
from services.notifications.settings import NotificationsSettings
from services.notifications.worker.celery_app import app
from services.notifications.worker.runtime import runtime
from shared.config import load_settings

log = logging.getLogger(__name__)
PRUNE_BATCH = 1000

Prune = Callable[[asyncpg.Connection, datetime, int], Awaitable[int]]


@dataclass(frozen=True)
class Cutoffs:
    """What was made before these is pruned."""

    deliveries: datetime
    emails: datetime

    @classmethod
    def at(cls, now: datetime, settings: NotificationsSettings) -> Cutoffs:
        return cls(
            deliveries=now - timedelta(days=settings.webhook_log_body_days),
            emails=now - timedelta(days=settings.email_body_days),
        )


def _prune_all(prune: Prune, made_before: datetime) -> int:
    """Batches until one comes back short; each batch is one statement, on the worker's runtime (whose time
    limit is per batch, so a long backlog is not cut short)."""
    total = 0
    while True:
        pruned = runtime.run(lambda conn: prune(conn, made_before, PRUNE_BATCH))
        total += pruned
        if pruned < PRUNE_BATCH:
            return total


@app.task(name="notifications.prune_logs", acks_late=True)
def prune_logs(now: str | None = None) -> dict[str, int]:
    """Beat, daily: prune old webhook payloads and email bodies. `now` (ISO 8601): the clock, for tests."""
    cutoffs = Cutoffs.at(
        datetime.fromisoformat(now) if now else datetime.now(timezone.utc), load_settings(NotificationsSettings)
    )
    counts = {
        "webhook_deliveries": _prune_all(store.prune_delivery_payloads, cutoffs.deliveries),
        "emails": _prune_all(store.prune_email_bodies, cutoffs.emails),
    }
    log.info("retention: old bodies pruned", extra=counts)
    return counts
