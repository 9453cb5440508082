"""The email wing's Celery tasks. Each gets only an id and re-reads its row, so a task run twice sends
nothing twice.

Three kinds of email are sent here: emails rendered when their event was handled (`emails` rows), reminders
before appointments, and gift vouchers on their delivery date. The last two are rendered at send time: a
reminder from the booking as it is then (nothing is sent for one cancelled or moved since it was planned),
a gift from the voucher fetched from payments then (its code is never stored here). Beat tasks claim what
is due, each row for one beat only, and enqueue one send task per row.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

import aiohttp
import asyncpg

from services.notifications.emails import projection, reminders, rendering, smtp, store
from services.notifications.settings import NotificationsSettings
from services.notifications.worker.celery_app import app
from services.notifications.worker.runtime import runtime
from shared.config import load_settings

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8
RETRY_BACKOFF_BASE = 5
RETRY_BACKOFF_MAX = 600
PAYMENTS_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=3)
INTERNAL_TOKEN_HEADER = "X-Internal-Token"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def retry_countdown(retries: int) -> int:
    """Seconds before the next try: 5, 10, 20, … up to 10 minutes."""
    return min(RETRY_BACKOFF_BASE * 2**retries, RETRY_BACKOFF_MAX)


@dataclass(frozen=True)
class SendFailed:
    """A send that failed for now (the SMTP server, or payments, did not take it): recorded, then retried with
    back-off. Every other outcome is a word saying what happened ('sent', 'skipped', ...), final."""

    error: str

    @classmethod
    def of(cls, exc: BaseException) -> "SendFailed":
        return cls(f"{type(exc).__name__}: {exc}")


# What a send task's attempt ended with.
SendOutcome = str | SendFailed


async def _send(settings: NotificationsSettings, row_id: uuid.UUID, email: rendering.RenderedEmail) -> None:
    """Send an email rendered at send time (no emails row): the Message-ID comes from its own row's id."""
    message = {
        "id": row_id,
        "kind": email.kind,
        "to_address": email.to_address,
        "subject": email.subject,
        "text_body": email.text_body,
        "html_body": email.html_body,
        "from_name": email.from_name,
        "attachments": [a.to_json() for a in email.attachments],
    }
    await asyncio.to_thread(smtp.send, settings, message)


def _settle(
    task,
    what: str,
    item_id: str,
    outcome: SendOutcome,
    record_failure: Callable[[asyncpg.Connection, uuid.UUID, str, bool, float], Awaitable[None]],
) -> str:
    """A failure for now (SendFailed) is recorded and retried with back-off, up to MAX_SEND_ATTEMPTS."""
    if isinstance(outcome, SendFailed):
        error = outcome.error
        give_up = task.request.retries >= MAX_SEND_ATTEMPTS
        countdown = retry_countdown(task.request.retries)
        runtime.run(lambda conn: record_failure(conn, uuid.UUID(item_id), error, give_up, countdown))
        log.warning(f"{what} send failed", extra={f"{what}_id": item_id, "error": error, "give_up": give_up})
        if not give_up:
            raise task.retry(countdown=countdown)
        return "failed"
    log.info(f"{what} task done", extra={f"{what}_id": item_id, "outcome": outcome})
    return outcome


def _render_error(exc: Exception) -> str:
    return f"render: {type(exc).__name__}: {exc}"


async def _render_and_send(
    conn: asyncpg.Connection,
    settings: NotificationsSettings,
    row_id: uuid.UUID,
    render: Callable[[], rendering.RenderedEmail],
    finish: Callable[..., Awaitable[None]],
    *,
    what: str,
    log_extra: dict,
) -> SendOutcome:
    """Render at send time and send. A render error fails the row for good (retrying would repeat it);
    an SMTP error is returned for the retry; success marks the row sent."""
    try:
        email = render()
    except Exception as exc:
        await finish(conn, row_id, "failed", _render_error(exc))
        log.error(f"{what} could not be rendered", extra={**log_extra, "error": _render_error(exc)})
        return "unrenderable"
    try:
        await _send(settings, row_id, email)
    except (OSError, smtplib.SMTPException) as exc:
        return SendFailed.of(exc)
    await finish(conn, row_id, "sent")
    return "sent"


# --- emails rendered when their event was handled ------------------------------------------------


async def send_recorded_email(
    conn: asyncpg.Connection, settings: NotificationsSettings, email_id: uuid.UUID
) -> SendOutcome:
    """Send an emails row if it is still pending: 'sent', 'skipped' (sent already, or being sent by a
    duplicate task right now), or SendFailed for an SMTP failure to retry."""
    async with conn.transaction():
        # The row lock is held while sending, so a duplicate task skips instead of sending twice.
        row = await store.lock_pending_email(conn, email_id)
        if row is None:
            return "skipped"
        try:
            await asyncio.to_thread(smtp.send, settings, row)
        except (OSError, smtplib.SMTPException) as exc:
            return SendFailed.of(exc)
        await store.mark_sent(conn, row["id"])
        return "sent"


@app.task(name="notifications.send_email", bind=True, acks_late=True, max_retries=MAX_SEND_ATTEMPTS)
def send_email(self, email_id: str) -> str:
    settings = load_settings(NotificationsSettings)
    outcome = runtime.run(lambda conn: send_recorded_email(conn, settings, uuid.UUID(email_id)))
    return _settle(self, "email", email_id, outcome, store.record_failure)


@app.task(name="notifications.requeue_lost_emails", acks_late=True)
def requeue_lost_emails() -> int:
    async def sweep(conn: asyncpg.Connection) -> list[uuid.UUID]:
        return await store.claim_lost_emails(conn, load_settings(NotificationsSettings).lost_task_seconds)

    ids = runtime.run(sweep)
    for email_id in ids:
        send_email.delay(str(email_id))
    if ids:
        log.warning("re-enqueued lost emails", extra={"count": len(ids)})
    return len(ids)


# --- reminders -----------------------------------------------------------------------------------


def _enqueue_due(claim, task, what: str, now: str | None) -> int:
    """Claim the rows due at `now` (ISO 8601; default: the clock) and enqueue one send task for each.
    The claim is a database update, so two beats never take the same row."""
    at = datetime.fromisoformat(now) if now else _now()
    lost_after = load_settings(NotificationsSettings).lost_task_seconds
    ids = runtime.run(lambda conn: claim(conn, at, lost_after))
    for row_id in ids:
        task.delay(str(row_id))
    if ids:
        log.info(f"claimed due {what}", extra={"count": len(ids)})
    return len(ids)


@app.task(name="notifications.claim_due_reminders", acks_late=True)
def claim_due_reminders(now: str | None = None) -> int:
    """Beat: enqueue a send task for each due reminder."""
    return _enqueue_due(store.claim_due_reminders, send_reminder, "reminders", now)


@app.task(name="notifications.send_reminder", bind=True, acks_late=True, max_retries=MAX_SEND_ATTEMPTS)
def send_reminder(self, reminder_id: str) -> str:
    settings = load_settings(NotificationsSettings)

    async def attempt(conn: asyncpg.Connection) -> SendOutcome:
        async with conn.transaction():
            found = await store.lock_claimed_reminder(conn, uuid.UUID(reminder_id))
            if found is None:
                return "skipped"
            row, booking = found
            why = reminders.reminder_obsolete(
                row["planned_start"], booking and booking.status, booking and booking.start, _now()
            )
            if why is None and not booking.customer_email:
                why = "no customer email"
            if why is not None:
                await store.finish_reminder(conn, row["id"], "skipped", why)
                return "obsolete"
            return await _render_and_send(
                conn,
                settings,
                row["id"],
                lambda: rendering.booking_reminder(booking, timedelta(minutes=row["offset_minutes"])),
                store.finish_reminder,
                what="reminder",
                log_extra={"reminder_id": reminder_id},
            )

    return _settle(self, "reminder", reminder_id, runtime.run(attempt), store.record_reminder_failure)


# --- gift vouchers on their delivery date --------------------------------------------------------


class PaymentsUnavailable(Exception):
    pass


async def fetch_voucher_delivery(settings: NotificationsSettings, voucher_id: uuid.UUID) -> dict | None:
    """What the gift email needs, the code included, from payments' internal API; None if no such voucher."""
    url = f"{settings.upstream('payments')}/internal/v1/vouchers/{voucher_id}/delivery"
    async with aiohttp.ClientSession(timeout=PAYMENTS_TIMEOUT) as session:
        async with session.get(url, headers={INTERNAL_TOKEN_HEADER: settings.internal_token}) as resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise PaymentsUnavailable(f"payments answered {resp.status}")
            return await resp.json()


@app.task(name="notifications.claim_due_voucher_deliveries", acks_late=True)
def claim_due_voucher_deliveries(now: str | None = None) -> int:
    """Beat: enqueue a send task for each gift email whose delivery date has come."""
    return _enqueue_due(store.claim_due_voucher_deliveries, send_voucher_gift, "voucher deliveries", now)


@app.task(name="notifications.send_voucher_gift", bind=True, acks_late=True, max_retries=MAX_SEND_ATTEMPTS)
def send_voucher_gift(self, delivery_id: str) -> str:
    settings = load_settings(NotificationsSettings)

    async def attempt(conn: asyncpg.Connection) -> SendOutcome:
        async with conn.transaction():
            row = await store.lock_claimed_voucher_delivery(conn, uuid.UUID(delivery_id))
            if row is None:
                return "skipped"
            try:
                delivery = await fetch_voucher_delivery(settings, row["voucher_id"])
            except (aiohttp.ClientError, asyncio.TimeoutError, PaymentsUnavailable) as exc:
                return SendFailed.of(exc)
            if delivery is None:
                await store.finish_voucher_delivery(conn, row["id"], "failed", "payments knows no such voucher")
                return "unknown_voucher"
            if delivery["status"] in ("void", "expired"):
                await store.finish_voucher_delivery(conn, row["id"], "cancelled", f"voucher {delivery['status']}")
                return "cancelled"
            clinic = await projection.get_clinic(conn, row["clinic_id"])
            brand = (
                rendering.Brand(clinic["name"], clinic["timezone"], clinic["slug"])
                if clinic
                else rendering.Brand(rendering.sender_name(settings.mail_from))
            )
            # Rendered here and sent; the body (and the code in it) is never written anywhere.
            return await _render_and_send(
                conn,
                settings,
                row["id"],
                lambda: rendering.voucher_gift(
                    delivery, brand, **rendering.gift_links(settings.public_url, brand, delivery)
                ),
                store.finish_voucher_delivery,
                what="gift email",
                log_extra={"delivery_id": delivery_id},
            )

    return _settle(self, "voucher_delivery", delivery_id, runtime.run(attempt), store.record_voucher_delivery_failure)
