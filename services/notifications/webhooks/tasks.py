"""Celery tasks of clinic webhooks: one attempt of a delivery, and the dispatcher that finds due retries
(and deliveries whose task was lost). Tasks get only ids and re-read their rows."""

from __future__ import annotations

import logging
import uuid
from typing import Awaitable, Callable

import asyncpg

from services.notifications.emails import store as email_store
from services.notifications.emails.rendering import RenderedEmail
from services.notifications.emails.tasks import send_email
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks import delivery, store
from services.notifications.worker.celery_app import app
from services.notifications.worker.runtime import runtime
from shared.config import load_settings

log = logging.getLogger(__name__)
DISPATCH_BATCH = 500


async def alert_clinic(conn: asyncpg.Connection, endpoint: dict) -> Callable[[], Awaitable[None]] | None:
    """The clinic's email that `endpoint` was disabled (its `clinic_id`'s email), recorded in the caller's
    transaction, and what sends it once that has committed (delivery.Alert)."""
    if not endpoint["alert_email"]:
        return None
    email = RenderedEmail(
        kind="webhook_endpoint_disabled",
        to_address=endpoint["alert_email"],
        subject="Your webhook endpoint has been disabled",
        text_body=(
            f"Deliveries to {endpoint['url']} have failed for more than five days, so we have disabled this "
            "endpoint. Fix the receiver, enable the endpoint again and replay the failed deliveries from the "
            "delivery log.\n"
        ),
        html_body=None,
    )
    clinic_id = endpoint.get("clinic_id")
    email_id = await email_store.insert_email(conn, uuid.uuid4(), email, clinic_id=clinic_id and str(clinic_id))
    if email_id is None:
        return None

    async def send() -> None:
        send_email.delay(str(email_id))

    return send


async def attempt_delivery(
    conn: asyncpg.Connection, settings: NotificationsSettings, delivery_id: str, attempt: int
) -> str:
    """Attempt number `attempt` of a delivery, on the worker's kept-alive session."""
    return await delivery.attempt(
        conn, uuid.UUID(delivery_id), attempt, settings, alert_clinic, session=delivery.kept_session.get(settings)
    )


@app.task(name="notifications.deliver_webhook", acks_late=True)
def deliver_webhook(delivery_id: str, attempt: int) -> str:
    settings = load_settings(NotificationsSettings)
    outcome = runtime.run(lambda conn: attempt_delivery(conn, settings, delivery_id, attempt))
    log.info("webhook attempt", extra={"delivery_id": delivery_id, "attempt": attempt, "outcome": outcome})
    return outcome


@app.task(name="notifications.dispatch_webhooks", acks_late=True)
def dispatch_webhooks() -> int:
    """Beat: enqueue every delivery due for an attempt (retries, replays, lost first attempts)."""
    # A claimed delivery whose task never ran is claimed again after this long.
    stale = load_settings(NotificationsSettings).lost_task_seconds

    async def claim(conn: asyncpg.Connection):
        async with conn.transaction():
            return await store.claim_due_deliveries(conn, DISPATCH_BATCH, stale)

    due = runtime.run(claim)
    for delivery_id, attempt in due:
        deliver_webhook.delay(str(delivery_id), attempt)
    return len(due)
