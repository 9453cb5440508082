"""Reminders on real PostgreSQL, Celery tasks run in-process and an SMTP sink: planned 24 h and 2 h ahead
(none already due), re-planned on reschedule, nothing for a cancelled or moved booking, one email each
even with two beats claiming at once, retried while SMTP is down, and a broken one blocking no other."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import jinja2
import pytest
from celery.signals import task_retry

from services.notifications.consumer import make_consumer
from services.notifications.emails import rendering as emails
from services.notifications.emails import store
from services.notifications.emails.tasks import claim_due_reminders, send_reminder
from tests.support.notifications import booking_event, hours_from_now, run_task, sink, task_env  # noqa: F401
from tests.support.smtp import SmtpSink


async def _ignore(_email_id) -> None:
    return None


@pytest.fixture
def consumer(notifications_pool, redis, settings):
    """The notifications consumer's handlers, fed events directly (the stream itself is tested elsewhere)."""
    return make_consumer(notifications_pool, redis, settings, enqueue_email=_ignore)


async def reminders_of(pool, booking_id: str) -> list[tuple[int, datetime, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT offset_minutes, due_at, status FROM reminders WHERE booking_id = $1 "
            "ORDER BY created_at, offset_minutes DESC",
            uuid.UUID(booking_id),
        )
    return [(r["offset_minutes"], r["due_at"], r["status"]) for r in rows]


async def claimed_ids(pool) -> list[str]:
    async with pool.acquire() as conn:
        return [str(r["id"]) for r in await conn.fetch("SELECT id FROM reminders WHERE status = 'claimed'")]


async def confirm(consumer, hours: float, **kwargs):
    event = booking_event(booking_id=str(uuid.uuid4()), start=hours_from_now(hours), **kwargs)
    assert await consumer.handle(event)
    return event, datetime.fromisoformat(event.data["start"])


async def test_reminders_are_planned_before_each_booking_and_none_already_due(consumer, notifications_pool):
    days_ahead, start = await confirm(consumer, 72)
    hours_ahead, soon = await confirm(consumer, 3)
    too_soon, _ = await confirm(consumer, 1.5)

    assert await reminders_of(notifications_pool, days_ahead.data["booking_id"]) == [
        (1440, start - timedelta(hours=24), "planned"),
        (120, start - timedelta(hours=2), "planned"),
    ]
    assert await reminders_of(notifications_pool, hours_ahead.data["booking_id"]) == [
        (120, soon - timedelta(hours=2), "planned")
    ], "no '24 hours to go' email at booking time"
    assert await reminders_of(notifications_pool, too_soon.data["booking_id"]) == []


async def test_a_reschedule_replans_and_a_cancellation_cancels(consumer, notifications_pool):
    confirmed, start = await confirm(consumer, 72)
    booking_id = confirmed.data["booking_id"]
    moved = hours_from_now(120)
    assert await consumer.handle(
        booking_event("booking.rescheduled", booking_id=booking_id, start=moved, previous_start=start)
    )
    assert await reminders_of(notifications_pool, booking_id) == [
        (1440, start - timedelta(hours=24), "cancelled"),
        (120, start - timedelta(hours=2), "cancelled"),
        (1440, moved - timedelta(hours=24), "planned"),
        (120, moved - timedelta(hours=2), "planned"),
    ]

    assert await consumer.handle(booking_event("booking.cancelled", booking_id=booking_id, start=moved))
    assert {status for *_, status in await reminders_of(notifications_pool, booking_id)} == {"cancelled"}


async def test_an_older_event_handled_late_does_not_undo_a_newer_one(consumer, notifications_pool):
    booking_id = str(uuid.uuid4())
    start, moved = hours_from_now(72), hours_from_now(120)
    confirmed = booking_event(booking_id=booking_id, start=start)
    rescheduled = booking_event("booking.rescheduled", booking_id=booking_id, start=moved, previous_start=start)
    assert await consumer.handle(rescheduled)  # two consumers: the later event committed first
    assert await consumer.handle(confirmed)
    assert await reminders_of(notifications_pool, booking_id) == [
        (1440, moved - timedelta(hours=24), "planned"),
        (120, moved - timedelta(hours=2), "planned"),
    ]


async def test_a_due_reminder_is_sent_once(consumer, notifications_pool, task_env, sink):
    event, start = await confirm(consumer, 30)
    assert (await run_task(claim_due_reminders)).result == 0, "not due yet"
    day_before = (start - timedelta(hours=24)).isoformat()

    assert (await run_task(claim_due_reminders, day_before)).result == 1
    assert (await run_task(claim_due_reminders, day_before)).result == 0, "claimed once"
    [reminder_id] = await claimed_ids(notifications_pool)
    assert (await run_task(send_reminder, reminder_id)).result == "sent"
    assert (await run_task(send_reminder, reminder_id)).result == "skipped", "a task run twice sends once"

    [message] = sink.messages
    assert message["To"] == "ada@example.com" and message["X-Clinic-Email-Kind"] == "booking_reminder"
    assert message["From"].addresses[0].display_name == "Urban Therapy Clinic, London"
    assert message["Subject"] == (
        f"Reminder: Deep tissue massage (60 min) tomorrow, {emails.local_time_label(start, 'Europe/London')}"
    )
    assert event.data["manage_url"] in message.get_body(("plain",)).get_content()
    assert message.get_body(("html",)) is not None


async def test_nothing_is_sent_for_a_cancelled_or_moved_booking(consumer, notifications_pool, task_env, sink):
    # Cancelled before its reminders fall due: none is claimed.
    early, start = await confirm(consumer, 30, email="early@example.com")
    assert await consumer.handle(booking_event("booking.cancelled", booking_id=early.data["booking_id"], start=start))
    assert (await run_task(claim_due_reminders, (start - timedelta(hours=2)).isoformat())).result == 0

    # Cancelled after its reminder was claimed, before the send task ran: the task finds nothing to send.
    late, start = await confirm(consumer, 30, email="late@example.com")
    assert (await run_task(claim_due_reminders, (start - timedelta(hours=24)).isoformat())).result == 1
    [claimed] = await claimed_ids(notifications_pool)
    assert await consumer.handle(booking_event("booking.cancelled", booking_id=late.data["booking_id"], start=start))
    assert (await run_task(send_reminder, claimed)).result == "skipped"

    # A reminder that escaped re-planning (here: the booking moved behind its back) is checked against the
    # booking as it is at send time, and not sent.
    moved, start = await confirm(consumer, 30, email="moved@example.com")
    assert (await run_task(claim_due_reminders, (start - timedelta(hours=24)).isoformat())).result == 1
    [claimed] = await claimed_ids(notifications_pool)
    async with notifications_pool.acquire() as conn:
        await conn.execute(
            "UPDATE booking_projection SET starts_at = starts_at + interval '1 day' WHERE booking_id = $1",
            uuid.UUID(moved.data["booking_id"]),
        )
    assert (await run_task(send_reminder, claimed)).result == "obsolete"

    assert sink.messages == []
    async with notifications_pool.acquire() as conn:
        why = await conn.fetchval("SELECT last_error FROM reminders WHERE id = $1", uuid.UUID(claimed))
    assert why == "booking moved"


async def test_two_beats_claiming_fifty_due_reminders_at_once_send_fifty_emails(
    consumer, notifications_pool, settings, task_env, sink
):
    starts = []
    for i in range(50):
        _, start = await confirm(consumer, 3, email=f"customer{i}@example.com")  # one 2-hour reminder each
        starts.append(start)
    now = max(starts)

    async def beat() -> list:
        claimed = []
        async with notifications_pool.acquire() as conn:
            while batch := await store.claim_due_reminders(conn, now, 120, limit=4):
                claimed += batch
        return claimed

    first, second = await asyncio.gather(beat(), beat())  # two connections, two beats, the same rows
    assert len(first) + len(second) == 50 and not set(first) & set(second)

    for reminder_id in first + second:
        assert (await run_task(send_reminder, str(reminder_id))).result == "sent"
    messages = sink.messages
    assert len(messages) == 50 and len({m["To"] for m in messages}) == 50
    async with notifications_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM reminders WHERE status = 'sent'") == 50


async def test_smtp_down_the_reminder_is_retried_and_arrives_when_it_is_back(
    consumer, notifications_pool, task_env, monkeypatch
):
    later = SmtpSink()
    monkeypatch.setenv("SMTP_PORT", str(later.port))
    _, start = await confirm(consumer, 30)
    assert (await run_task(claim_due_reminders, (start - timedelta(hours=24)).isoformat())).result == 1
    [reminder_id] = await claimed_ids(notifications_pool)

    def smtp_comes_back(**_kwargs):
        later.controller.start()

    task_retry.connect(smtp_comes_back, weak=False)
    try:
        assert (await run_task(send_reminder, reminder_id)).result == "sent"
    finally:
        task_retry.disconnect(smtp_comes_back)
        later.controller.stop()
    assert len(later.messages) == 1
    async with notifications_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, attempts, last_error FROM reminders WHERE id = $1", uuid.UUID(reminder_id)
        )
    assert row["status"] == "sent" and row["attempts"] == 2 and "ConnectionRefusedError" in row["last_error"]


async def test_a_reminder_that_cannot_be_rendered_fails_alone(
    consumer, notifications_pool, task_env, sink, monkeypatch
):
    broken = jinja2.DictLoader(
        {"booking_reminder.txt": '{% if booking.customer_name == "Broken" %}{{ booking.nickname }}{% endif %}Hello'}
    )
    monkeypatch.setattr(emails._env, "loader", jinja2.ChoiceLoader([broken, emails._env.loader]))
    _, start = await confirm(consumer, 30, name="Broken", email="broken@example.com")
    await confirm(consumer, 30, email="fine@example.com")
    assert (await run_task(claim_due_reminders, (start - timedelta(hours=24)).isoformat())).result == 2

    outcomes = sorted([(await run_task(send_reminder, i)).result for i in await claimed_ids(notifications_pool)])
    assert outcomes == ["sent", "unrenderable"], "no retries for a template error, and the other one is sent"
    assert [m["To"] for m in sink.messages] == ["fine@example.com"]
    async with notifications_pool.acquire() as conn:
        failed = await conn.fetchrow("SELECT status, last_error FROM reminders WHERE status = 'failed'")
    assert failed["last_error"].startswith("render: UndefinedError")
