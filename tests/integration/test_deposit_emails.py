"""The confirmation email of a booking paid by a deposit (issue 20): what was paid now and what is due at the
clinic, in the text and the HTML part, sent through the consumer, a Celery task run in-process and an SMTP sink;
a booking paid in full, and a phone booking paid at the clinic, say what they said before (the event's
`due_at_clinic` is shared/contracts.BookingChanged's)."""

from __future__ import annotations

from services.notifications.consumer import make_consumer
from services.notifications.emails import rendering as emails
from services.notifications.emails.tasks import send_email
from tests.support.notifications import booking_event, of_kind, run_task, sink, task_env  # noqa: F401

GBP = "GBP"


async def _ignore(_email_id) -> None:
    return None


async def _sent_confirmation(settings, redis, notifications_pool, sink, **extra):  # noqa: F811
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=_ignore)
    event = booking_event(**extra)
    await consumer.handle(event)
    async with notifications_pool.acquire() as conn:
        email_id = await conn.fetchval("SELECT id FROM emails WHERE event_id = $1", event.id)
    assert (await run_task(send_email, str(email_id))).result == "sent"
    [message] = of_kind(sink.messages, "booking_confirmed")
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


async def test_a_deposit_booking_email_says_what_was_paid_and_what_is_due_at_the_clinic(
    settings,
    redis,
    notifications_pool,
    task_env,
    sink,  # noqa: F811
):
    text, html = await _sent_confirmation(
        settings, redis, notifications_pool, sink, due_at_clinic={"amount": 5200, "currency": GBP}
    )
    said = "Paid: £13.00 deposit. To pay at the clinic: £52.00."
    assert said in text and said in html
    assert "nothing has been charged online" not in text


async def test_a_voucher_then_a_deposit_counts_only_the_card_as_paid():
    # £65.00: a £20.00 voucher first, then the card's £13.00 deposit; £32.00 at the clinic.
    voucher = {
        "code_hint": "…WXYZ",
        "value": {"amount": 2000, "currency": GBP},
        "remaining": {"amount": 0, "currency": GBP},
    }
    data = {**booking_event().data, "voucher": voucher, "due_at_clinic": {"amount": 3200, "currency": GBP}}
    text = emails.booking_confirmed(data).text_body
    assert "Your gift voucher …WXYZ paid £20.00" in text
    assert "Paid: £13.00 deposit. To pay at the clinic: £32.00." in text
    # A voucher that paid the whole deposit and more: nothing by card, the rest at the clinic.
    voucher["value"] = {"amount": 6000, "currency": GBP}
    data["due_at_clinic"] = {"amount": 500, "currency": GBP}
    text = emails.booking_confirmed(data).text_body
    assert "To pay at the clinic: £5.00." in text and "deposit." not in text


async def test_paid_in_full_and_paid_at_the_clinic_emails_are_unchanged(
    settings,
    redis,
    notifications_pool,
    task_env,
    sink,  # noqa: F811
):
    text, html = await _sent_confirmation(
        settings, redis, notifications_pool, sink, due_at_clinic={"amount": 0, "currency": GBP}
    )
    assert "To pay at the clinic" not in text and "deposit" not in text and "To pay at the clinic" not in html
    # A phone booking to be paid on the day keeps its own sentence, whatever is said due at the clinic.
    data = {**booking_event().data, "payment": "at_clinic", "due_at_clinic": {"amount": 6500, "currency": GBP}}
    text = emails.booking_confirmed(data).text_body
    assert "Please pay £65.00 at the clinic on the day" in text and "To pay at the clinic:" not in text
