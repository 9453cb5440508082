"""Booking and voucher emails on real PostgreSQL, Redis, Celery tasks (run in-process) and an SMTP sink:
one calendar entry per booking (REQUEST, updated REQUEST, CANCEL), the buyer's receipt, the recipient's
gift on its delivery date with a code kept out of our database and logs, the dev mailbox, a template error
that blocks nothing else, and SMTP coming back."""

from __future__ import annotations

import mailbox
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo

import jinja2
from celery.signals import task_retry

from services.booking.seed import stable_id
from services.notifications.app import create_app as create_notifications_app
from services.notifications.consumer import GROUP, make_consumer
from services.notifications.emails import rendering as emails
from services.notifications.emails.reminders import gift_due_at
from services.notifications.emails.tasks import (
    claim_due_voucher_deliveries,
    retry_countdown,
    send_email,
    send_voucher_gift,
)
from services.payments import voucher_service
from shared.events import dead_letter_key, stream_key
from shared.outbox import OutboxRelay
from tests.support.booking import book_and_pay, free_slots, next_weekday
from tests.support.events import commit_event
from tests.support.notifications import booking_event, invite_of, of_kind, run_task, sink, task_env  # noqa: F401
from tests.support.smtp import SmtpSink
from tests.support.vouchers import buy_voucher

URBAN = {
    "id": str(stable_id("urban-therapy")),
    "slug": "urban-therapy",
    "name": "Urban Therapy Clinic, London",
    "timezone": "Europe/London",
}


def token_of(manage_url: str) -> str:
    return parse_qs(urlparse(manage_url).query)["token"][0]


async def send_new_emails(event_path, sent: set) -> None:
    """What a worker would do with the email tasks the consumer enqueued since last time."""
    for email_id in event_path.enqueued_emails:
        if email_id not in sent:
            sent.add(email_id)
            assert (await run_task(send_email, str(email_id))).result == "sent"


async def live_reminders(pool, booking_id: str) -> list[tuple[int, datetime]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT offset_minutes, due_at FROM reminders WHERE booking_id = $1 AND status = 'planned' ORDER BY due_at",
            uuid.UUID(booking_id),
        )
    return [(r["offset_minutes"], r["due_at"]) for r in rows]


async def test_confirm_reschedule_cancel_keep_one_calendar_entry_and_its_reminders(
    booking, checkout, notifications_pool, task_env, sink
):
    sent: set = set()
    booked = await book_and_pay(booking, checkout)
    await send_new_emails(checkout.event_path, sent)

    [confirmation] = of_kind(sink.messages, "booking_confirmed")
    assert confirmation["To"] == "ada@example.com"
    assert confirmation["From"].addresses[0].display_name == "Urban Therapy Clinic, London"
    assert confirmation.get_body(("plain",)) is not None and confirmation.get_body(("html",)) is not None
    assert booked["manage_url"] in confirmation.get_body(("plain",)).get_content()
    param, method, first = invite_of(confirmation)
    start = datetime.fromisoformat(booked["start"])
    assert (param, method) == ("REQUEST", "REQUEST")
    assert first["UID"] == f"booking-{booked['id']}@clinic-booking" and first.decoded("DTSTART") == start
    assert await live_reminders(notifications_pool, booked["id"]) == [
        (1440, start - timedelta(hours=24)),
        (120, start - timedelta(hours=2)),
    ]

    new_start = (await free_slots(booking, next_weekday(3)))[2]["start"]
    resp = await booking.post(
        f"/api/v1/bookings/{booked['id']}/reschedule",
        json={"token": token_of(booked["manage_url"]), "start": new_start},
    )
    assert resp.status == 200, await resp.text()
    await checkout.event_path.drain()
    await send_new_emails(checkout.event_path, sent)

    [moved] = of_kind(sink.messages, "booking_rescheduled")
    _, method, second = invite_of(moved)
    moved_start = datetime.fromisoformat(new_start)
    assert method == "REQUEST" and second["UID"] == first["UID"] and second["SEQUENCE"] > first["SEQUENCE"]
    assert second.decoded("DTSTART") == moved_start
    assert emails.local_time_label(booked["start"], "Europe/London") in moved.get_body(("plain",)).get_content()
    assert await live_reminders(notifications_pool, booked["id"]) == [
        (1440, moved_start - timedelta(hours=24)),
        (120, moved_start - timedelta(hours=2)),
    ], "re-planned"

    resp = await booking.post(f"/api/v1/bookings/{booked['id']}/cancel", json={"token": token_of(booked["manage_url"])})
    assert resp.status == 200, await resp.text()
    await checkout.event_path.drain()
    await send_new_emails(checkout.event_path, sent)

    [cancelled] = of_kind(sink.messages, "booking_cancelled")
    param, method, third = invite_of(cancelled)
    assert (param, method) == ("CANCEL", "CANCEL")
    assert third["UID"] == first["UID"] and third["SEQUENCE"] > second["SEQUENCE"]
    assert await live_reminders(notifications_pool, booked["id"]) == []
    [refund] = of_kind(sink.messages, "payment_refunded")
    # Branded like the others: the clinic as sender, the customer by name, which visit it was for.
    assert refund["From"].startswith('"Urban Therapy Clinic, London"') or refund["From"].startswith("Urban Therapy")
    text = refund.get_body(("plain",)).get_content()
    assert text.startswith("Hello Ada Lovelace,") and "Deep tissue massage (60 min) with Amara Okafor on" in text


async def test_dev_mailbox_shows_the_text_html_and_invite_of_each_email(
    settings, redis, notifications_pool, task_env, sink, aiohttp_client
):
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=_ignore)
    event = booking_event(name="Ada <Lovelace>")
    await consumer.handle(event)
    async with notifications_pool.acquire() as conn:
        email_id = await conn.fetchval("SELECT id FROM emails WHERE event_id = $1", event.id)
    assert (await run_task(send_email, str(email_id))).result == "sent"
    [message] = sink.messages
    mailbox.Maildir(settings.mailbox_dir, create=True).add(message.as_bytes())

    client = await aiohttp_client(create_notifications_app(settings))
    [shown] = (await (await client.get("/dev/mailbox/messages")).json())["messages"]
    assert "Hello Ada <Lovelace>," in shown["text"] and "Hello Ada &lt;Lovelace&gt;," in shown["html"]
    [invite] = shown["attachments"]
    assert invite["filename"] == "invite.ics" and invite["method"] == "REQUEST" and "METHOD:REQUEST" in invite["text"]

    page = await (await client.get("/dev/mailbox")).text()
    assert '<pre class="text">' in page and "Hello Ada &lt;Lovelace&gt;," in page
    # The HTML part sits in a sandboxed iframe, escaped once more as an attribute value.
    assert '<iframe class="html" sandbox="" srcdoc="' in page and "Hello Ada &amp;lt;Lovelace&amp;gt;," in page
    assert "invite.ics (text/calendar, REQUEST)" in page and "BEGIN:VEVENT" in page


async def _ignore(_email_id) -> None:
    return None


async def test_a_gift_moved_by_its_buyer_goes_on_the_new_day_to_the_new_address_only(
    payments, payments_pool, checkout, notifications_pool, linked, settings, redis, task_env, sink, monkeypatch
):
    ports, _ = linked
    monkeypatch.setenv("PAYMENTS_URL", f"http://127.0.0.1:{ports['payments']}")
    await checkout.event_path.consumers[0].handle(booking_event(clinic=URBAN))
    tomorrow = datetime.now(ZoneInfo("Europe/London")).date() + timedelta(days=1)
    later = tomorrow + timedelta(days=3)
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings, deliver_on=tomorrow.isoformat())
    await send_new_emails(checkout.event_path, set())
    # The receipt's link, and the change it lets the buyer make.
    [receipt] = of_kind(sink.messages, "voucher_receipt")
    link = re.search(rf"/vouchers/{voucher['id']}/change\?token=(\S+)", receipt.get_body(("plain",)).get_content())
    changed = await payments.patch(
        f"/api/v1/vouchers/{voucher['id']}/delivery",
        json={
            "token": unquote(link.group(1)),
            "recipient_email": "grace.new@example.com",
            "deliver_on": later.isoformat(),
        },
    )
    assert changed.status == 200, await changed.text()
    await checkout.event_path.drain()

    old_due, new_due = gift_due_at(tomorrow), gift_due_at(later)
    assert (await run_task(claim_due_voucher_deliveries, old_due.isoformat())).result == 0, "not on the old day"
    assert (await run_task(claim_due_voucher_deliveries, new_due.isoformat())).result == 1
    async with notifications_pool.acquire() as conn:
        delivery_id = await conn.fetchval(
            "SELECT id FROM voucher_deliveries WHERE voucher_id = $1", uuid.UUID(voucher["id"])
        )
    assert (await run_task(send_voucher_gift, str(delivery_id))).result == "sent"
    [gift] = of_kind(sink.messages, "voucher_gift")
    assert gift["To"] == "grace.new@example.com" and code in gift.get_body(("plain",)).get_content()


async def test_voucher_receipt_now_and_the_gift_with_its_code_on_the_delivery_date_only(
    payments, payments_pool, checkout, notifications_pool, linked, settings, redis, task_env, sink, monkeypatch, caplog
):
    ports, _ = linked
    monkeypatch.setenv("PAYMENTS_URL", f"http://127.0.0.1:{ports['payments']}")
    caplog.set_level("DEBUG")
    ours = ("services", "shared", "celery")  # not the test's SMTP sink, which stands in for the recipient's
    # The clinic has been seen in booking events: its name and zone brand the voucher emails.
    await checkout.event_path.consumers[0].handle(booking_event(clinic=URBAN))
    tomorrow = datetime.now(ZoneInfo("Europe/London")).date() + timedelta(days=1)
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings, deliver_on=tomorrow.isoformat())
    await send_new_emails(checkout.event_path, set())

    [receipt] = of_kind(sink.messages, "voucher_receipt")
    receipt_text = receipt.as_string()
    assert receipt["To"] == "ada@example.com" and receipt["From"].addresses[0].display_name == URBAN["name"]
    assert "Grace Hopper" in receipt_text and emails.date_label(tomorrow) in receipt_text
    assert code not in receipt_text and code.replace("-", "") not in receipt_text
    assert of_kind(sink.messages, "voucher_gift") == [], "not before the delivery date"

    async with notifications_pool.acquire() as conn:
        delivery = await conn.fetchrow(
            "SELECT id, due_at, status FROM voucher_deliveries WHERE voucher_id = $1", uuid.UUID(voucher["id"])
        )
    due = gift_due_at(tomorrow)
    assert delivery["due_at"] == due and delivery["status"] == "planned"
    assert (await run_task(claim_due_voucher_deliveries)).result == 0, "today is too early"
    assert (await run_task(claim_due_voucher_deliveries, (due - timedelta(seconds=1)).isoformat())).result == 0

    assert (await run_task(claim_due_voucher_deliveries, due.isoformat())).result == 1
    assert (await run_task(claim_due_voucher_deliveries, due.isoformat())).result == 0, "claimed once"
    assert (await run_task(send_voucher_gift, str(delivery["id"]))).result == "sent"
    assert (await run_task(send_voucher_gift, str(delivery["id"]))).result == "skipped", "sent once"

    [gift] = of_kind(sink.messages, "voucher_gift")
    text = gift.get_body(("plain",)).get_content()
    assert gift["To"] == "grace@example.com" and gift["From"].addresses[0].display_name == URBAN["name"]
    assert code in text and code in gift.get_body(("html",)).get_content()
    assert "Happy birthday!" in text and "enter the code" in text and "/c/urban-therapy/book" in text
    assert "Valid until:" in text and "£60.00" in text
    # Its printable voucher and "book with this voucher" links carry the holder's token, which the
    # payments API accepts for this voucher: the code itself is in no link.
    token = re.search(rf"/vouchers/{voucher['id']}/book\?token=(\S+)", text).group(1)
    held = await payments.get(f"/api/v1/vouchers/{voucher['id']}", params={"token": unquote(token)})
    assert held.status == 200 and (await held.json())["code"] == code
    assert f"/vouchers/{voucher['id']}?token={token}" in text and not re.search(rf"\S*{code}\S*/", text)

    # The code reached the recipient and nothing of ours kept it: no notifications table, no broker
    # message, no log record.
    async with notifications_pool.acquire() as conn:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'notifications'"
            )
        ]
        dump = " ".join([str(await conn.fetch(f'SELECT t::text FROM notifications."{t}" t')) for t in tables])
    queued = [
        v for key in await redis.keys("*") if await redis.type(key) == "list" for v in await redis.lrange(key, 0, -1)
    ]
    assert any(str(delivery["id"]) in v for v in queued), "the broker's messages are looked at"
    assert {"emails", "voucher_deliveries", "reminders", "booking_projection"} <= set(tables)
    assert voucher["id"] in dump, "the dump does cover the delivery"
    for secret in (code, code.replace("-", "")):
        assert secret not in dump
        assert all(secret not in v for v in queued)
        assert all(secret not in str(vars(record)) for record in caplog.records if record.name.startswith(ours))


async def test_voucher_expiry_reminder_goes_to_the_recipient_without_the_code(
    payments, payments_pool, checkout, settings, task_env, sink
):
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    async with payments_pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE vouchers SET expires_at = now() + interval '20 days'")
        assert await voucher_service.announce_expiring(conn) == 1
    await checkout.event_path.drain()
    await send_new_emails(checkout.event_path, set())

    [expiring] = of_kind(sink.messages, "voucher_expiring")
    text = expiring.get_body(("plain",)).get_content()
    assert expiring["To"] == "grace@example.com" and "£60.00" in text and f"…{code[-4:]}" in text
    assert code not in expiring.as_string() and code.replace("-", "") not in expiring.as_string()


async def test_a_template_error_in_one_email_blocks_neither_other_emails_nor_the_event(
    booking_pool, notifications_pool, redis, settings, task_env, sink, monkeypatch
):
    # A template that fails for one customer only (a field no booking has).
    broken = jinja2.DictLoader(
        {
            "booking_confirmed.txt": '{% if customer.name == "Broken" %}{{ customer.nickname }}'
            "{% endif %}Hello {{ customer.name }}"
        }
    )
    monkeypatch.setattr(emails._env, "loader", jinja2.ChoiceLoader([broken, emails._env.loader]))
    enqueued = []

    async def enqueue(email_id):
        enqueued.append(email_id)

    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=enqueue, name="c1")
    await consumer.ensure_groups()
    bad = await commit_event(
        booking_pool,
        booking_event(
            booking_id=str(uuid.uuid4()), name="Broken", start=datetime.now(timezone.utc) + timedelta(days=3)
        ),
    )
    good = await commit_event(booking_pool, booking_event(booking_id=str(uuid.uuid4()), email="b@example.com"))
    await OutboxRelay(booking_pool, redis, schema="booking", prefix=settings.redis_prefix).run_once()

    assert await consumer.run_once(block_ms=100) == 2
    topic = stream_key(settings.redis_prefix, "booking")
    assert (await redis.xpending(topic, GROUP))["pending"] == 0, "both events handled and acked"
    assert await redis.xlen(dead_letter_key(settings.redis_prefix, "booking")) == 0
    async with notifications_pool.acquire() as conn:
        rows = {r["event_id"]: r for r in await conn.fetch("SELECT event_id, status, last_error FROM emails")}
        bad_reminders = await conn.fetchval(
            "SELECT count(*) FROM reminders WHERE booking_id = $1", uuid.UUID(bad.data["booking_id"])
        )
    assert rows[bad.id]["status"] == "failed" and rows[bad.id]["last_error"].startswith("render: UndefinedError")
    assert bad_reminders == 2, "the event's other effects committed"
    assert rows[good.id]["status"] == "pending" and len(enqueued) == 1
    assert (await run_task(send_email, str(enqueued[0]))).result == "sent"
    assert [m["To"] for m in sink.messages] == ["b@example.com"]


async def test_smtp_down_is_retried_with_backoff_and_the_email_arrives_when_it_is_back(
    settings, redis, notifications_pool, task_env, monkeypatch
):
    later = SmtpSink()  # its port is chosen; nothing listens there yet
    monkeypatch.setenv("SMTP_PORT", str(later.port))
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=_ignore)
    event = booking_event()
    await consumer.handle(event)
    async with notifications_pool.acquire() as conn:
        email_id = await conn.fetchval("SELECT id FROM emails WHERE event_id = $1", event.id)
    retries = []

    def smtp_comes_back(sender=None, reason=None, **_kwargs):
        retries.append(reason.when)
        later.controller.start()

    task_retry.connect(smtp_comes_back, weak=False)
    try:
        # In-process, Celery runs the retry at once (a worker would wait `countdown`); SMTP is up by then.
        result = await run_task(send_email, str(email_id))
    finally:
        task_retry.disconnect(smtp_comes_back)
        later.controller.stop()
    assert result.result == "sent"
    assert retries == [retry_countdown(0)] == [5], "one retry, scheduled with back-off"
    [message] = later.messages
    assert invite_of(message)[1] == "REQUEST"
    async with notifications_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, attempts, last_error FROM emails WHERE id = $1", email_id)
    assert row["status"] == "sent" and row["attempts"] == 2 and "ConnectionRefusedError" in row["last_error"]
