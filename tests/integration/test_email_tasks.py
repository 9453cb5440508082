"""Email tasks on real Celery + Redis + SMTP: a task run twice sends once; failures are recorded and
retried; emails whose task was lost are found and enqueued again."""

from __future__ import annotations

import uuid

from services.notifications.emails import rendering as emails
from services.notifications.emails import store
from services.notifications.emails.tasks import MAX_SEND_ATTEMPTS, requeue_lost_emails, send_email
from tests.support.events import booking_confirmed
from tests.support.notifications import run_task, sink, task_env  # noqa: F401  (fixtures)


async def new_email(pool, address="ada@example.com") -> uuid.UUID:
    event = booking_confirmed(email=address)
    async with pool.acquire() as conn:
        return await store.insert_email(conn, event.id, emails.booking_confirmed(event.data))


async def email_row(pool, email_id):
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT status, attempts, last_error, sent_at FROM emails WHERE id = $1", email_id)


async def test_a_task_run_twice_sends_one_email(task_env, sink, notifications_pool):
    email_id = await new_email(notifications_pool)
    first = await run_task(send_email, str(email_id))
    second = await run_task(send_email, str(email_id))
    assert (first.result, second.result) == ("sent", "skipped")
    [message] = sink.messages
    assert message["To"] == "ada@example.com"
    assert message["Message-ID"].startswith(f"<{email_id}@")
    assert "Booking confirmed" in message["Subject"]
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None
    row = await email_row(notifications_pool, email_id)
    assert row["status"] == "sent" and row["sent_at"] is not None


async def test_smtp_down_is_retried_then_marked_failed(task_env, notifications_pool, monkeypatch):
    from tests.support.infra import free_port

    monkeypatch.setenv("SMTP_PORT", str(free_port()))  # nothing listens there
    email_id = await new_email(notifications_pool)
    # Run in-process, Celery performs the retries at once instead of after the back-off.
    result = await run_task(send_email, str(email_id))
    assert result.result == "failed"
    row = await email_row(notifications_pool, email_id)
    assert row["status"] == "failed" and row["attempts"] == MAX_SEND_ATTEMPTS + 1
    assert "ConnectionRefusedError" in row["last_error"]


async def test_lost_emails_are_enqueued_again(task_env, notifications_pool, redis):
    lost = await new_email(notifications_pool, "lost@example.com")
    fresh = await new_email(notifications_pool, "fresh@example.com")
    async with notifications_pool.acquire() as conn:
        await conn.execute("UPDATE emails SET enqueued_at = now() - interval '1 hour' WHERE id = $1", lost)

    result = await run_task(requeue_lost_emails)

    assert result.result == 1
    queued = await redis.lrange("notifications", 0, -1)
    assert len(queued) == 1 and str(lost) in queued[0] and str(fresh) not in queued[0]
    assert (await run_task(requeue_lost_emails)).result == 0, "a second sweep does not take it again"
