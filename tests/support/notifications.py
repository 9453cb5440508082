"""Notifications in tests: booking and voucher events as their producers write them, Celery tasks run
in-process against the test's database and broker, an SMTP sink, and reading invites back."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from services.notifications.webhooks import delivery as webhook_delivery
from services.notifications.worker.celery_app import app as celery_app
from services.notifications.worker.celery_app import configure
from services.notifications.worker.runtime import runtime
from shared.events import Event
from tests.support.events import SAMPLE_CLINIC_ID, booking_confirmed
from tests.support.smtp import SmtpSink


@pytest.fixture
def task_env(settings, monkeypatch):
    """Tasks read their settings from the environment, as in a worker process."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("CELERY_BROKER_URL", settings.celery_broker_url)
    configure(celery_app, settings)
    runtime.close()
    yield settings
    runtime.close(webhook_delivery.kept_session.close)


@pytest.fixture
def sink(monkeypatch):
    with SmtpSink() as running:
        monkeypatch.setenv("SMTP_PORT", str(running.port))
        yield running


def run_task(task, *args):
    # A worker runs tasks synchronously in its own thread of control; so do we.
    return asyncio.to_thread(lambda: task.apply(args=args))


def hours_from_now(hours: float) -> datetime:
    """A start on the clinic's 15-minute grid, `hours` (or a little more) ahead."""
    at = datetime.now(timezone.utc) + timedelta(hours=hours)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)


def booking_event(
    event_type: str = "booking.confirmed",
    *,
    booking_id: str | None = None,
    start: datetime | None = None,
    previous_start: datetime | None = None,
    email: str = "ada@example.com",
    name: str = "Ada Lovelace",
    occurred_at: datetime | None = None,
    manage_url: str | None = "http://127.0.0.1:8080/manage/b?token=t",
    **extra,
) -> Event:
    """booking.confirmed / rescheduled (with `previous`) / cancelled, as services/booking/domain.py writes them."""
    base = booking_confirmed(email=email, start=start)
    data = {
        **base.data,
        "booking_id": booking_id or base.data["booking_id"],
        "customer": {"name": name, "email": email},
        **extra,
    }
    if event_type == "booking.cancelled":
        data.update(status="cancelled", cancelled_by="customer")
    elif manage_url:
        data["manage_url"] = manage_url
    if event_type == "booking.rescheduled":
        previous_start = previous_start or datetime.fromisoformat(data["start"]) - timedelta(days=1)
        data["previous"] = {
            "start": previous_start.isoformat(),
            "end": (previous_start + timedelta(hours=1)).isoformat(),
            "therapist": data["therapist"],
        }
    return Event(event_type, data, clinic_id=SAMPLE_CLINIC_ID, occurred_at=occurred_at or datetime.now(timezone.utc))


def voucher_purchased(*, deliver_on: str, voucher_id: str | None = None) -> Event:
    return Event(
        "voucher.purchased",
        {
            "voucher_id": voucher_id or str(uuid.uuid4()),
            "kind": "amount",
            "title": "£60 gift voucher",
            "vat_class": "multi_purpose",
            "price": {"amount": 6000, "currency": "GBP"},
            "buyer": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "recipient": {"name": "Grace Hopper", "email": "grace@example.com"},
            "deliver_on": deliver_on,
            "expires_at": "2028-11-25T03:00:00+00:00",
            "code_hint": "…WXYZ",
        },
        clinic_id=SAMPLE_CLINIC_ID,
    )


def invite_of(message) -> tuple[str, str, object]:
    """(content type method parameter, METHOD, the VEVENT) of the .ics a message carries."""
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    calendar = Calendar.from_ical(part.get_content())
    [event] = calendar.walk("VEVENT")
    return part.get_param("method"), str(calendar["METHOD"]), event


def of_kind(messages, kind: str) -> list:
    return [m for m in messages if m["X-Clinic-Email-Kind"] == kind]


CELERY_QUEUE = "notifications"  # celery_app.CELERY_QUEUE


async def take_queued_tasks(redis, name: str | None = None) -> list[tuple[str, list]]:
    """(task name, args) of the messages waiting in the Celery queue (of task `name` only, if given), oldest
    first, taken off the queue (as a worker would take them): what a request really enqueued."""
    taken, kept = [], []
    for raw in reversed(await redis.lrange(CELERY_QUEUE, 0, -1)):
        message = json.loads(raw)
        task = message["headers"]["task"]
        if name is not None and task != name:
            kept.append(raw)
            continue
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        taken.append((task, args))
    await redis.delete(CELERY_QUEUE)
    if kept:  # back in their order (a worker takes from the list's right end)
        await redis.lpush(CELERY_QUEUE, *kept)
    return taken


async def run_queued_deliveries(redis) -> list[str]:
    """Run every webhook attempt a request enqueued, in-process (the `task_env` fixture: the test's database and
    broker), as the worker would; their outcomes ("delivered", "retry", …)."""
    from services.notifications.webhooks.tasks import deliver_webhook

    outcomes = []
    for _task, args in await take_queued_tasks(redis, "notifications.deliver_webhook"):
        outcomes.append((await run_task(deliver_webhook, *args)).result)
    return outcomes
