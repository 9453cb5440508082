"""The notifications service's retention job (`notifications.prune_logs`, run in-process as a worker runs it) on real
PostgreSQL: it empties the payloads and responses of webhook deliveries no longer pending and older than
WEBHOOK_LOG_BODY_DAYS, and the bodies of emails sent or failed and older than EMAIL_BODY_DAYS, a batch at a time,
and nothing else; a pruned delivery shows no payload in the log and cannot be replayed. Every email names the
clinic of what caused it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.notifications import privacy, retention
from services.notifications.app import create_app as create_notifications_app
from services.notifications.consumer import build_handlers
from services.notifications.emails import rendering
from services.notifications.webhooks import delivery as webhook_delivery
from services.notifications.webhooks import store as webhook_store
from services.notifications.webhooks import tasks as webhook_tasks
from services.notifications.worker.celery_app import TASK_MODULES
from services.notifications.worker.celery_app import app as celery_app
from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER
from shared.events import Event
from shared.streams import HandlerContext
from tests.support.events import SAMPLE_CLINIC_ID
from tests.support.notifications import booking_event, run_task, task_env, voucher_purchased  # noqa: F401
from tests.support.receiver import receiver  # noqa: F401  (fixture)

CLINIC = SAMPLE_CLINIC_ID
NOW = datetime.now(timezone.utc)


async def handle(pool, settings, event: Event) -> None:
    """An event through the notifications consumer's handlers, in its own transaction (nothing started)."""

    async def ignore(*_args):
        pass

    handlers = build_handlers(settings, ignore, ignore)
    async with pool.acquire() as conn, conn.transaction():
        await handlers[event.type](HandlerContext(conn), event)


async def endpoint(pool, url: str = "http://127.0.0.1:9/hook", alert_email: str | None = None) -> uuid.UUID:
    async with pool.acquire() as conn:
        row = await webhook_store.insert_endpoint(
            conn, uuid.UUID(CLINIC), url, "", ["booking.created"], alert_email, "whsec_" + "A" * 32
        )
    return row["id"]


async def delivery(pool, settings, *, status: str, age: timedelta) -> uuid.UUID:
    """A booking.created delivery made `age` ago, in `status`, with one attempt whose receiver answered."""
    event = booking_event(booking_id=str(uuid.uuid4()))
    await handle(pool, settings, event)
    async with pool.acquire() as conn:
        delivery_id = await conn.fetchval("SELECT id FROM webhook_deliveries WHERE event_id = $1", event.id)
        await conn.execute(
            "UPDATE webhook_deliveries SET status = $2, created_at = $3 WHERE id = $1", delivery_id, status, NOW - age
        )
        await conn.execute(
            "INSERT INTO webhook_attempts (delivery_id, status_code, latency_ms, response) VALUES ($1, 500, 5, 'nope')",
            delivery_id,
        )
    return delivery_id


async def email(pool, settings, *, status: str, age: timedelta) -> uuid.UUID:
    """A booking confirmation (text, HTML and invite) made `age` ago, in `status`."""
    event = booking_event(booking_id=str(uuid.uuid4()))
    await handle(pool, settings, event)
    async with pool.acquire() as conn:
        return await conn.fetchval(
            "UPDATE emails SET status = $2, created_at = $3 WHERE event_id = $1 RETURNING id",
            event.id,
            status,
            NOW - age,
        )


async def rows(pool, table: str) -> dict:
    async with pool.acquire() as conn:
        return {r["id"]: dict(r) for r in await conn.fetch(f"SELECT * FROM {table}")}


async def responses(pool) -> dict:
    async with pool.acquire() as conn:
        return {r["delivery_id"]: r["response"] for r in await conn.fetch("SELECT * FROM webhook_attempts")}


@pytest.fixture
async def old_and_new(task_env, notifications_pool):
    """Deliveries and emails on each side of the default limits (30 and 365 days), in each state."""
    await endpoint(notifications_pool)
    pool, day = notifications_pool, timedelta(days=1)
    return {
        "deliveries": {
            "old_delivered": await delivery(pool, task_env, status="delivered", age=31 * day),
            "old_failed": await delivery(pool, task_env, status="failed", age=90 * day),
            "old_pending": await delivery(pool, task_env, status="pending", age=31 * day),
            "recent_failed": await delivery(pool, task_env, status="failed", age=29 * day),
        },
        "emails": {
            "old_sent": await email(pool, task_env, status="sent", age=366 * day),
            "old_failed": await email(pool, task_env, status="failed", age=400 * day),
            "old_pending": await email(pool, task_env, status="pending", age=366 * day),
            "recent_sent": await email(pool, task_env, status="sent", age=364 * day),
        },
    }


async def test_the_job_prunes_exactly_the_old_finished_ones(old_and_new, notifications_pool):
    deliveries_before = await rows(notifications_pool, "webhook_deliveries")
    emails_before = await rows(notifications_pool, "emails")

    result = await run_task(retention.prune_logs)

    assert result.result == {"webhook_deliveries": 2, "emails": 2}
    deliveries, answers = await rows(notifications_pool, "webhook_deliveries"), await responses(notifications_pool)
    for name, delivery_id in old_and_new["deliveries"].items():
        row, before = deliveries[delivery_id], deliveries_before[delivery_id]
        if name in ("old_delivered", "old_failed"):
            assert row["payload"] == {} and row["payload_pruned_at"] is not None, name
            assert answers[delivery_id] is None, name
            # The log's record stays: type, status, tries, when.
            for column in ("event_type", "status", "attempts", "created_at", "last_status", "last_error"):
                assert row[column] == before[column], (name, column)
        else:
            assert row == before, name
            assert answers[delivery_id] == "nope", name
    emails = await rows(notifications_pool, "emails")
    for name, email_id in old_and_new["emails"].items():
        row, before = emails[email_id], emails_before[email_id]
        if name in ("old_sent", "old_failed"):
            assert (row["text_body"], row["html_body"], row["attachments"]) == ("", None, []), name
            assert row["body_pruned_at"] is not None, name
            for column in ("to_address", "subject", "kind", "status", "created_at", "clinic_id"):
                assert row[column] == before[column], (name, column)
        else:
            assert row == before and before["attachments"] and before["html_body"], name

    # A customer's export says a pruned email's text is gone.
    async with notifications_pool.acquire() as conn:
        exported = {e["id"]: e for e in (await privacy.export(conn, uuid.UUID(CLINIC), "ada@example.com"))["emails"]}
    assert exported[str(old_and_new["emails"]["old_sent"])]["text_body"] is None
    assert "Deep tissue" in exported[str(old_and_new["emails"]["recent_sent"])]["text_body"]

    assert (await run_task(retention.prune_logs)).result == {"webhook_deliveries": 0, "emails": 0}, "done already"


async def test_it_goes_a_batch_at_a_time_to_the_end_with_the_configured_days(task_env, notifications_pool, monkeypatch):
    monkeypatch.setattr(retention, "PRUNE_BATCH", 2)
    monkeypatch.setenv("WEBHOOK_LOG_BODY_DAYS", "7")
    monkeypatch.setenv("EMAIL_BODY_DAYS", "10")
    await endpoint(notifications_pool)
    old = [await delivery(notifications_pool, task_env, status="delivered", age=timedelta(days=8)) for _ in range(5)]
    old_emails = [await email(notifications_pool, task_env, status="sent", age=timedelta(days=11)) for _ in range(5)]
    kept = await delivery(notifications_pool, task_env, status="delivered", age=timedelta(days=6))
    kept_email = await email(notifications_pool, task_env, status="sent", age=timedelta(days=9))

    assert (await run_task(retention.prune_logs)).result == {"webhook_deliveries": 5, "emails": 5}

    deliveries, emails = await rows(notifications_pool, "webhook_deliveries"), await rows(notifications_pool, "emails")
    assert {i for i, d in deliveries.items() if d["payload_pruned_at"]} == set(old)
    assert {i for i, e in emails.items() if e["body_pruned_at"]} == set(old_emails)
    assert deliveries[kept]["payload"] and emails[kept_email]["text_body"]


def test_beat_runs_it_daily():
    assert "services.notifications.retention" in TASK_MODULES
    schedule = celery_app.conf.beat_schedule["prune-logs"]
    assert schedule["task"] == retention.prune_logs.name == "notifications.prune_logs"
    assert schedule["schedule"].hour == {3} and schedule["schedule"].minute == {30}


# --- the delivery log and replays -------------------------------------------------------------------------------


@pytest.fixture
async def notifications(task_env, aiohttp_client):
    return await aiohttp_client(create_notifications_app(task_env))


def as_owner(settings) -> dict:
    return {CLINIC_ID_HEADER: CLINIC, INTERNAL_TOKEN_HEADER: settings.internal_token}


async def test_a_pruned_delivery_shows_no_payload_and_cannot_be_replayed(
    old_and_new, notifications, task_env, notifications_pool, redis
):
    await run_task(retention.prune_logs)
    pruned, kept = old_and_new["deliveries"]["old_failed"], old_and_new["deliveries"]["recent_failed"]
    headers = as_owner(task_env)
    [endpoint_id] = {d["endpoint_id"] for d in (await rows(notifications_pool, "webhook_deliveries")).values()}

    log = await (
        await notifications.get(f"/api/v1/clinic/webhook-endpoints/{endpoint_id}/deliveries", headers=headers)
    ).json()
    by_id = {d["id"]: d for d in log["deliveries"]}
    assert by_id[str(pruned)]["payload"] is None and by_id[str(pruned)]["payload_pruned_at"]
    assert [a["response"] for a in by_id[str(pruned)]["attempt_log"]] == [None]
    assert by_id[str(kept)]["payload"]["type"] == "booking.created" and by_id[str(kept)]["payload_pruned_at"] is None

    resp = await notifications.post(f"/api/v1/clinic/deliveries/{pruned}/replay", headers=headers)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "delivery_pruned" and "too old to send again" in error["message"]
    resp = await notifications.post(f"/api/v1/clinic/deliveries/{uuid.uuid4()}/replay", headers=headers)
    assert resp.status == 404

    # Every failed delivery since 100 days ago: the recent one is sent again, the pruned one left and counted.
    resp = await notifications.post(
        f"/api/v1/clinic/webhook-endpoints/{endpoint_id}/replay",
        headers=headers,
        json={"since": (NOW - timedelta(days=100)).isoformat()},
    )
    assert resp.status == 202 and await resp.json() == {"replayed": 1, "skipped_pruned": 1}
    deliveries = await rows(notifications_pool, "webhook_deliveries")
    assert (deliveries[kept]["status"], deliveries[pruned]["status"]) == ("pending", "failed")
    resp = await notifications.post(f"/api/v1/clinic/deliveries/{kept}/replay", headers=headers)
    assert resp.status == 202
    await redis.delete("notifications")  # the replays' tasks, not run here


# --- every email names its clinic ---------------------------------------------------------------------------------


async def test_emails_name_the_clinic_of_what_caused_them(task_env, notifications_pool, receiver, monkeypatch, redis):
    # A booking's confirmation, a voucher's receipt.
    booked, bought = booking_event(), voucher_purchased(deliver_on="2030-01-01")
    for event in (booked, bought):
        await handle(notifications_pool, task_env, event)

    # An email that could not be rendered.
    def broken(*_args, **_kwargs):
        raise ValueError("template error")

    monkeypatch.setattr(rendering, "booking_cancelled", broken)
    cancelled = booking_event("booking.cancelled")
    await handle(notifications_pool, task_env, cancelled)

    # The clinic's alert that its endpoint was disabled after failing for days.
    receiver.answers = [(500, {}, 0)]
    await endpoint(notifications_pool, receiver.url, alert_email="it@clinic.example")
    created = booking_event(booking_id=str(uuid.uuid4()))
    await handle(notifications_pool, task_env, created)
    async with notifications_pool.acquire() as conn:
        await conn.execute("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days'")
        delivery_id = await conn.fetchval("SELECT id FROM webhook_deliveries WHERE event_id = $1", created.id)
        assert await webhook_delivery.attempt(conn, delivery_id, 0, task_env, webhook_tasks.alert_clinic) == "retry"
    await redis.delete("notifications")  # the alert's send task, not run here

    async with notifications_pool.acquire() as conn:
        found = {
            r["kind"]: r["clinic_id"]
            for r in await conn.fetch(
                "SELECT kind, clinic_id FROM emails WHERE event_id = ANY($1::uuid[]) OR kind = 'webhook_endpoint_disabled'",
                [booked.id, bought.id, cancelled.id],
            )
        }
    assert found == {
        "booking_confirmed": CLINIC,
        "voucher_receipt": CLINIC,
        "booking_cancelled": CLINIC,
        "webhook_endpoint_disabled": CLINIC,
    }
