"""The consumer's production path on real Redis, Celery, SMTP and HTTP: one Celery task per read batch
starts the batch's emails and webhook deliveries together; a failed first email goes on to send_email's
retries; the worker runtime keeps the task time limit."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import pytest
from celery.exceptions import TimeLimitExceeded
from standardwebhooks.webhooks import Webhook

from services.notifications.app import create_app as create_notifications_app
from services.notifications.consumer import make_consumer
from services.notifications.emails.tasks import retry_countdown
from services.notifications.worker.batch import send_notifications
from services.notifications.worker.runtime import Runtime
from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.events import SAMPLE_CLINIC_ID
from tests.support.infra import free_port
from tests.support.notifications import booking_event, run_task, sink, task_env  # noqa: F401  (fixtures)
from tests.support.receiver import receiver  # noqa: F401  (fixture)

QUEUE = "notifications"  # celery_app.CELERY_QUEUE


@pytest.fixture
async def endpoint(settings, aiohttp_client, receiver) -> dict:
    """An endpoint of the sample clinic for booking.created, registered through the clinic API."""
    notifications = await aiohttp_client(create_notifications_app(settings))
    resp = await notifications.post(
        "/api/v1/clinic/webhook-endpoints",
        json={"url": receiver.url, "events": ["booking.created"]},
        headers={CLINIC_ID_HEADER: SAMPLE_CLINIC_ID, INTERNAL_TOKEN_HEADER: settings.internal_token},
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def queued_tasks(redis) -> list[tuple[str, dict, list]]:
    """(task name, headers, args) of every message in the Celery queue, oldest first."""
    found = []
    for raw in reversed(await redis.lrange(QUEUE, 0, -1)):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], message["headers"], args))
    return found


async def test_a_batch_s_emails_and_webhooks_start_with_one_task_and_arrive(
    settings, redis, notifications_pool, task_env, sink, endpoint, receiver
):
    consumer = make_consumer(notifications_pool, redis, settings, name="c1")  # the production kick-off
    events = [booking_event(booking_id=str(uuid.uuid4()), email=f"guest{i}@example.com") for i in range(3)]
    for event in events:
        await consumer.handle(event)
    await consumer.after_batch()

    [(name, headers, args)] = await queued_tasks(redis)
    assert name == "notifications.send_notifications"
    email_ids, deliveries = args
    assert len(email_ids) == 3 and len(deliveries) == 3 and all(attempt == 0 for _id, attempt in deliveries)
    assert headers["argsrepr"] == "(3 emails, 3 webhook deliveries)"

    tally = (await run_task(send_notifications, *args)).result
    assert tally == {"delivered": 3, "sent": 3}
    assert sorted(m["To"] for m in sink.messages) == [f"guest{i}@example.com" for i in range(3)]
    verifier = Webhook(endpoint["secret"])
    bodies = [verifier.verify(r.body, r.headers) for r in receiver.received]
    assert sorted(b["data"]["booking_id"] for b in bodies) == sorted(e.data["booking_id"] for e in events)
    again = (await run_task(send_notifications, *args)).result
    assert again == {"skipped": 6}, "a task run twice sends nothing twice"


async def test_a_failed_first_email_goes_on_to_send_email_s_retries(
    settings, redis, notifications_pool, task_env, monkeypatch
):
    monkeypatch.setenv("SMTP_PORT", str(free_port()))  # nothing listens there
    consumer = make_consumer(notifications_pool, redis, settings, name="c1")
    await consumer.handle(booking_event())
    await consumer.after_batch()
    [(_name, _headers, args)] = await queued_tasks(redis)
    await redis.delete(QUEUE)

    assert (await run_task(send_notifications, *args)).result == {"retry": 1}

    [(name, headers, retry_args)] = await queued_tasks(redis)
    assert (name, retry_args, headers["retries"]) == ("notifications.send_email", [args[0][0]], 1)
    assert headers["eta"] is not None, f"due after the back-off ({retry_countdown(0)} s), not at once"
    async with notifications_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, attempts, last_error FROM emails WHERE id = $1", uuid.UUID(args[0][0])
        )
    assert row["status"] == "pending" and row["attempts"] == 1 and "ConnectionRefusedError" in row["last_error"]


def test_a_task_over_its_time_limit_is_cut_and_its_connection_returns_to_the_pool(task_env):
    runtime = Runtime(time_limit=0.3)
    try:

        async def stuck(conn):
            async with conn.transaction():
                await conn.execute("SELECT 1")
                await asyncio.sleep(30)

        with pytest.raises(TimeLimitExceeded):
            runtime.run(stuck)

        async def fine(conn):
            return await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
                "AND datname = current_database()"
            )

        assert runtime.run(fine) == 0, "the cut task's transaction was rolled back"
    finally:
        runtime.close()
