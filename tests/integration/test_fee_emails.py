"""The customer's emails about a booking's fee (issue 20), on real PostgreSQL, Redis, the payments outbox relay, the
notifications consumer, the Celery send task (in-process) and an SMTP sink: `fee.charged` is a receipt (charged to
the saved card, or paid from the pay link), `fee.failed` says why and links to the pay page with the fee's token;
both go out in the clinic's name, to the customer by name, naming the visit (from the booking projection), in text
and HTML, once per event. The confirmation email of a "card saved only" booking says what is paid at the clinic and
the policy's words (fees included); a late cancellation's email says its fee. The events are built with
shared.contracts, as payments and booking write them."""

from __future__ import annotations

import logging
import uuid
from email.utils import parseaddr

from services.notifications.consumer import make_consumer
from services.notifications.emails import rendering
from services.notifications.emails.handlers import email_handlers
from services.notifications.emails.tasks import send_email
from shared import contracts
from shared.events import Event
from shared.outbox import OutboxRelay
from shared.streams import HandlerContext
from tests.support.events import SAMPLE_CLINIC_ID, commit_event
from tests.support.notifications import booking_event, of_kind, run_task, sink, task_env  # noqa: F401  (fixtures)

GBP = "GBP"
CLINIC_NAME = "Urban Therapy Clinic, London"
VISIT = "Deep tissue massage (60 min) with Amara Okafor on Tuesday 1 December 2026, 10:00 (Europe/London, GMT)"
NO_SHOW_REASON = (
    "The appointment was missed, and the clinic's payment policy, agreed when booking, charges a no-show fee."
)
CARD_WORDS = (
    "Nothing to pay now; your card is saved and the £65.00 is paid at the clinic. If you miss the appointment, a "
    "no-show fee of £32.50 is charged to your saved card. Cancelling less than 24 hours before costs a "
    "late-cancellation fee of £20.00."
)


def fee_event(
    event_type: str,
    booking_id: str,
    *,
    kind: str = "no_show",
    amount: int = 3250,
    email: str | None = "ada@example.com",
    **extra,
) -> Event:
    outcome = contracts.FeeOutcome(
        fee_id=str(uuid.uuid4()),
        booking_id=booking_id,
        kind=kind,
        amount=contracts.Money(amount, GBP),
        customer_email=email,
        **extra,
    )
    return contracts.event(outcome, event_type, clinic_id=SAMPLE_CLINIC_ID)


class Path:
    """Events as payments writes them (its outbox), relayed to their stream and handled by the notifications
    consumer; the emails it started, sent by the Celery task to the SMTP sink."""

    def __init__(self, settings, redis, payments_pool, notifications_pool):
        self.enqueued: list[uuid.UUID] = []
        self.payments_pool = payments_pool
        self.relay = OutboxRelay(payments_pool, redis, schema="payments", prefix=settings.redis_prefix)
        self.consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=self._record, name="test")

    async def _record(self, email_id: uuid.UUID) -> None:
        self.enqueued.append(email_id)

    async def publish(self, *events: Event) -> None:
        await self.consumer.ensure_groups()
        for event in events:
            await commit_event(self.payments_pool, event)
        await self.relay.run_once()
        while await self.consumer.run_once(block_ms=10):
            pass

    async def send_all(self) -> None:
        for email_id in self.enqueued:
            assert (await run_task(send_email, str(email_id))).result == "sent"
        self.enqueued.clear()


def parts(message) -> tuple[str, str]:
    return tuple(message.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))


async def stored(notifications_pool, event: Event) -> list[dict]:
    async with notifications_pool.acquire() as conn:
        rows = await conn.fetch("SELECT kind, clinic_id, to_address FROM emails WHERE event_id = $1", event.id)
    return [dict(r) for r in rows]


async def test_a_fee_charged_to_the_saved_card_is_receipted_once_in_the_clinic_s_name_naming_the_visit(
    settings, redis, payments_pool, notifications_pool, task_env, sink
):
    path = Path(settings, redis, payments_pool, notifications_pool)
    booked = booking_event(booking_id=str(uuid.uuid4()))
    await path.consumer.handle(booked)  # the booking projection knows the visit
    path.enqueued.clear()
    charged = fee_event("fee.charged", booked.data["booking_id"], via="off_session")
    await path.publish(charged)  # through the "fee" stream
    await path.send_all()

    [receipt] = of_kind(sink.messages, "fee_charged")
    assert receipt["To"] == "ada@example.com"
    assert receipt["From"].addresses[0].display_name == CLINIC_NAME
    assert receipt["From"].addresses[0].addr_spec == parseaddr(settings.mail_from)[1]
    assert receipt["Subject"] == f"Receipt: no-show fee of £32.50, {CLINIC_NAME}"
    text, html = parts(receipt)
    assert text.startswith("Hello Ada Lovelace,")
    assert f"We charged the no-show fee of £32.50 for your {VISIT} to your saved card. {NO_SHOW_REASON}" in text
    assert "This email is your receipt." in text and f"Fee reference: {charged.data['fee_id']}" in text
    assert f"We charged the no-show fee of <strong>£32.50</strong> for your {VISIT} to your saved card." in html
    assert "<p>Hello Ada Lovelace,</p>" in html
    assert await stored(notifications_pool, charged) == [
        {"kind": "fee_charged", "clinic_id": SAMPLE_CLINIC_ID, "to_address": "ada@example.com"}
    ]

    # Once per event: the stream delivering it again, or the handler run twice (a second consumer), adds nothing.
    assert not await path.consumer.handle(charged)
    handler = email_handlers(path._record, mail_from=settings.mail_from, public_url=settings.public_url)["fee.charged"]
    for _ in range(2):
        async with notifications_pool.acquire() as conn, conn.transaction():
            await handler(HandlerContext(conn), charged)
    assert path.enqueued == [] and len(await stored(notifications_pool, charged)) == 1


async def test_a_fee_paid_from_the_pay_link_thanks_the_customer(
    settings, redis, payments_pool, notifications_pool, task_env, sink
):
    path = Path(settings, redis, payments_pool, notifications_pool)
    booked = booking_event(booking_id=str(uuid.uuid4()))
    await path.consumer.handle(booked)
    path.enqueued.clear()
    paid = fee_event("fee.charged", booked.data["booking_id"], kind="late_cancellation", amount=2000, via="pay_link")
    await path.publish(paid)
    await path.send_all()

    [receipt] = of_kind(sink.messages, "fee_charged")
    assert receipt["Subject"] == f"Receipt: late-cancellation fee of £20.00, {CLINIC_NAME}"
    text, html = parts(receipt)
    assert f"Thank you: you have paid the late-cancellation fee of £20.00 for your {VISIT}." in text
    assert "to your saved card" not in text and "cancelled too close to its time" in text
    assert "Thank you: you have paid the late-cancellation fee of <strong>£20.00</strong>" in html


async def test_a_failed_fee_says_why_and_links_to_its_pay_page_with_its_token(
    settings, redis, payments_pool, notifications_pool, task_env, sink, caplog
):
    caplog.set_level(logging.DEBUG)
    path = Path(settings, redis, payments_pool, notifications_pool)
    booked = booking_event(booking_id=str(uuid.uuid4()))
    await path.consumer.handle(booked)
    path.enqueued.clear()
    token = "pt_" + uuid.uuid4().hex
    failed = fee_event(
        "fee.failed", booked.data["booking_id"], failure="your bank declined the charge", pay_token=token
    )
    await path.publish(failed)
    await path.send_all()

    [message] = of_kind(sink.messages, "fee_failed")
    assert message["To"] == "ada@example.com" and message["From"].addresses[0].display_name == CLINIC_NAME
    assert message["Subject"] == f"Please pay the no-show fee of £32.50, {CLINIC_NAME}"
    pay_url = f"{settings.public_url}/fees/{failed.data['fee_id']}?token={token}"
    text, html = parts(message)
    assert (
        f"We could not charge the no-show fee of £32.50 for your {VISIT} to your saved card. "
        f"Your bank declined the charge. {NO_SHOW_REASON}\n\nPlease pay it here:\n{pay_url}\n"
    ) in text
    assert f'<a href="{pay_url}">Please pay it here</a>' in html
    assert "Your bank declined the charge." in html
    assert await stored(notifications_pool, failed) == [
        {"kind": "fee_failed", "clinic_id": SAMPLE_CLINIC_ID, "to_address": "ada@example.com"}
    ]
    # The token opens the customer's pay page: in the email, never in our logs.
    ours = [r for r in caplog.records if r.name.startswith(("services", "shared", "celery"))]
    assert ours and not any(token in r.getMessage() or token in str(r.__dict__) for r in ours)


async def test_a_fee_goes_to_the_event_s_address_else_the_booking_s_else_nobody(
    settings, redis, payments_pool, notifications_pool, task_env, sink
):
    path = Path(settings, redis, payments_pool, notifications_pool)
    booked = booking_event(booking_id=str(uuid.uuid4()), email="grace@example.com", name="Grace Hopper")
    await path.consumer.handle(booked)
    path.enqueued.clear()
    # A visit we never heard of: the event's address, no visit named.
    unknown = fee_event("fee.failed", str(uuid.uuid4()), failure="The bank asked for authentication.", pay_token="t")
    # No address on the event: the booking's.
    from_booking = fee_event("fee.charged", booked.data["booking_id"], email=None, via="off_session")
    # Neither: nobody to tell, and the event is handled all the same.
    nobody = fee_event("fee.charged", str(uuid.uuid4()), email=None, via="off_session")
    await path.publish(unknown, from_booking, nobody)
    await path.send_all()

    [message] = of_kind(sink.messages, "fee_failed")
    text, _html = parts(message)
    assert message["To"] == "ada@example.com" and text.startswith("Hello,\n")
    assert (
        "We could not charge the no-show fee of £32.50 to your saved card. The bank asked for authentication." in text
    )
    [receipt] = of_kind(sink.messages, "fee_charged")
    assert receipt["To"] == "grace@example.com" and parts(receipt)[0].startswith("Hello Grace Hopper,")
    assert await stored(notifications_pool, nobody) == []
    async with notifications_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", nobody.id) == 1


async def test_a_card_saved_only_confirmation_says_what_is_paid_at_the_clinic_and_the_fees(
    settings, redis, notifications_pool, task_env, sink
):
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=_ignore)
    booked = booking_event(due_at_clinic={"amount": 6500, "currency": GBP}, payment_policy_words=CARD_WORDS)
    await consumer.handle(booked)
    async with notifications_pool.acquire() as conn:
        email_id = await conn.fetchval("SELECT id FROM emails WHERE event_id = $1", booked.id)
    assert (await run_task(send_email, str(email_id))).result == "sent"
    [message] = of_kind(sink.messages, "booking_confirmed")
    text, html = parts(message)
    for part in (text, html):
        assert "To pay at the clinic: £65.00." in part
        assert f"Payment policy: {CARD_WORDS}" in part
        assert "deposit" not in part and "Paid:" not in part


async def test_the_policy_words_show_under_any_policy_and_not_for_a_plain_booking():
    full_with_fee = (
        "Pay £65.00 now. If you miss the appointment, a no-show fee of £32.50 is charged to your saved card."
    )
    data = {**booking_event().data, "payment_policy_words": full_with_fee}
    email = rendering.booking_confirmed(data)
    assert f"Payment policy: {full_with_fee}" in email.text_body and "To pay at the clinic" not in email.text_body
    plain = rendering.booking_confirmed(booking_event().data)
    assert "Payment policy" not in plain.text_body and "Payment policy" not in plain.html_body


async def test_a_late_cancellation_s_email_says_its_fee_and_an_ordinary_one_does_not():
    fee = {"kind": "late_cancellation", "amount": {"amount": 2000, "currency": GBP}}
    late = rendering.booking_cancelled(booking_event("booking.cancelled", refund="full", fee=fee).data)
    said = "a late-cancellation fee of {} to your saved card, separately: we will email you its receipt."
    assert said.format("£20.00") in late.text_body and said.format("<strong>£20.00</strong>") in late.html_body
    assert "You will get back everything you paid for it" in late.text_body
    ordinary = rendering.booking_cancelled(booking_event("booking.cancelled", refund="full").data)
    assert "late-cancellation fee" not in ordinary.text_body and "late-cancellation fee" not in ordinary.html_body


async def _ignore(_email_id) -> None:
    return None
