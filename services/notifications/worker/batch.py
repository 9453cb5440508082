"""The task the notifications consumer starts after each read batch: the first try of every email and clinic
webhook delivery the batch's events committed to, side by side, in one task instead of one task each (a
Celery task costs more CPU than a send). Later tries are the single-item tasks' (emails/tasks.py,
webhooks/tasks.py)."""

from __future__ import annotations

import logging
import uuid

from services.notifications.emails import store
from services.notifications.emails.tasks import SendFailed, retry_countdown, send_email, send_recorded_email
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks.tasks import attempt_delivery
from services.notifications.worker.celery_app import app
from services.notifications.worker.runtime import runtime
from shared.config import load_settings

log = logging.getLogger(__name__)


def retry_email_later(email_id: str, error: str) -> None:
    """The first try of an email failed inside send_notifications: record it, and hand the email to
    send_email for the next tries, as if that task had made the first."""
    countdown = retry_countdown(0)
    runtime.run(lambda conn: store.record_failure(conn, uuid.UUID(email_id), error, False, countdown))
    send_email.apply_async((email_id,), countdown=countdown, retries=1)
    log.warning("email send failed", extra={"email_id": email_id, "error": error, "give_up": False})


@app.task(name="notifications.send_notifications", acks_late=True)
def send_notifications(email_ids: list[str], deliveries: list[list]) -> dict[str, int]:
    """The first try of what handled events committed to send: emails and clinic webhook deliveries (as
    [delivery id, attempt]), side by side. An email that fails goes on to send_email's retries; a webhook
    attempt that fails is retried on the webhook schedule by the dispatcher; any other error leaves the row
    pending for the sweepers."""
    settings = load_settings(NotificationsSettings)
    # Webhooks first: their goal is the tighter one, and a POST waits less than an SMTP conversation.
    jobs = [
        lambda conn, d=delivery_id, a=attempt: attempt_delivery(conn, settings, d, a)
        for delivery_id, attempt in deliveries
    ]
    jobs += [lambda conn, e=email_id: send_recorded_email(conn, settings, uuid.UUID(e)) for email_id in email_ids]
    outcomes = runtime.run_all(jobs)
    items = [delivery_id for delivery_id, _attempt in deliveries] + email_ids
    tally: dict[str, int] = {}
    for item, outcome in zip(items, outcomes):
        if isinstance(outcome, BaseException):
            log.error(
                "notification send crashed; its sweeper will take it again",
                extra={"item_id": item, "error": repr(outcome)[:300]},
            )
            outcome = "crashed"
        elif isinstance(outcome, SendFailed):  # only emails answer so: a failed webhook attempt is "retry"
            retry_email_later(item, outcome.error)
            outcome = "retry"
        tally[outcome] = tally.get(outcome, 0) + 1
    log.info("notifications sent", extra={"emails": len(email_ids), "deliveries": len(deliveries), **tally})
    return tally
