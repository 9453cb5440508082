"""The clinic's actions on behalf of customers, as rules: the clinic cancels and moves a confirmed booking whatever
the change window (and nothing else), a phone booking says who booked it and how it is paid, and the emails say
what the clinic did."""

from datetime import timedelta

import pytest

from services.booking.domain import (
    PHONE_PAYMENT_WINDOW,
    TRANSITIONS,
    BookingError,
    check_clinic_change,
    phone_pay_by,
)
from services.booking.reservation import Particulars
from services.notifications.emails import rendering
from shared import contracts
from tests.unit.test_booking_reservation import ADA, AMARA, BEN, CLINIC, DESCRIBED, NOW, TREATMENT, manage_url
from tests.unit.test_booking_reservation import reservation as make

SOON = NOW + timedelta(hours=2)  # inside the clinic's 24-hour change window: the customer may no longer change it


def soon(status: str = "confirmed", **changes):
    return make(status, start=SOON, end=SOON + timedelta(minutes=60), **changes)


@pytest.mark.parametrize(
    ("status", "change"),
    [(s, "cancelled") for s in TRANSITIONS if s not in ("confirmed", "pending_payment")]
    + [(s, "moved") for s in TRANSITIONS if s != "confirmed"],
)
def test_only_a_confirmed_booking_can_be_changed_and_the_refusal_names_the_status(status, change):
    """Moved: only a confirmed booking. Cancelled: also one awaiting its payment (a phone booking called off)."""
    with pytest.raises(BookingError) as refused:
        check_clinic_change(status, change)
    error = refused.value
    assert (error.status, error.code, error.details) == (409, "invalid_transition", {"status": status})
    assert f"is {status.replace('_', ' ')} and cannot be {change}" in error.message
    check_clinic_change("confirmed", change)  # no error
    if change == "cancelled":
        check_clinic_change("pending_payment", change)


def test_a_phone_booking_paid_online_waits_a_day_at_most_and_never_past_its_start():
    assert phone_pay_by(NOW + timedelta(days=5), NOW) == NOW + PHONE_PAYMENT_WINDOW
    assert phone_pay_by(SOON, NOW) == SOON


def test_the_clinic_cancels_inside_the_window_with_a_full_refund_where_the_customer_cannot():
    with pytest.raises(BookingError) as refused:
        soon().cancel(DESCRIBED, NOW)
    assert refused.value.code == "outside_change_window"

    booking = soon()
    booking.cancel_on_behalf(DESCRIBED)
    [event] = booking.events
    assert booking.status == "cancelled" and event.type == "booking.cancelled"
    changed = contracts.parse(contracts.BookingChanged, event)
    assert (changed.cancelled_by, changed.refund, changed.customer.email) == ("clinic", "full", ADA.email)
    with pytest.raises(BookingError) as again:
        booking.cancel_on_behalf(DESCRIBED)
    assert again.value.status == 409 and "is cancelled" in again.value.message
    assert len(booking.events) == 1


def test_the_clinic_moves_inside_the_window_and_says_so():
    with pytest.raises(BookingError):
        soon().reschedule(Particulars(CLINIC, TREATMENT, BEN), AMARA, SOON + timedelta(days=1), NOW, manage_url)
    booking = soon()
    later = SOON + timedelta(days=1)
    booking.move_on_behalf(Particulars(CLINIC, TREATMENT, BEN), AMARA, later, manage_url)
    [event] = booking.events
    assert event.type == "booking.rescheduled" and (booking.start, booking.therapist_id) == (later, BEN.id)
    assert event.data["rescheduled_by"] == "clinic" and event.data["previous"]["start"] == SOON.isoformat()
    assert event.data["manage_url"] == manage_url(booking.id, booking.end)
    completed = soon("completed")
    with pytest.raises(BookingError) as refused:
        completed.move_on_behalf(DESCRIBED, AMARA, later, manage_url)
    assert "is completed and cannot be moved" in refused.value.message and completed.start == SOON


def test_a_phone_booking_says_who_booked_it_and_how_it_is_paid_in_every_event():
    booking = make()
    booking.await_payment(ADA, None, NOW + timedelta(hours=24), NOW)
    booking.book_on_behalf("at_clinic")
    booking.confirm(DESCRIBED, manage_url)
    booking.cancel_on_behalf(DESCRIBED)
    for event in booking.events:
        assert (event.data["booked_by"], event.data["payment"]) == ("clinic", "at_clinic")
    with pytest.raises(ValueError):
        make().book_on_behalf("cheque")


def test_a_customers_own_booking_events_are_as_before():
    booking = make("pending_payment")
    booking.confirm(DESCRIBED, manage_url)
    assert not {"booked_by", "payment", "refund", "rescheduled_by"} & set(booking.events[0].data)


def test_only_a_phone_booking_awaiting_its_online_payment_asks_for_it():
    waiting = make("pending_payment", expires_at=NOW + timedelta(hours=24))
    waiting.book_on_behalf("online")
    waiting.request_payment(DESCRIBED, manage_url)
    [event] = waiting.events
    assert event.type == "booking.payment_requested" and event.data["status"] == "pending_payment"
    assert event.data["expires_at"] == (NOW + timedelta(hours=24)).isoformat()
    at_clinic = make("confirmed")
    at_clinic.book_on_behalf("at_clinic")
    with pytest.raises(BookingError) as refused:
        at_clinic.request_payment(DESCRIBED, manage_url)
    assert refused.value.code == "nothing_to_pay"


# --- what the customer reads --------------------------------------------------------------------


def _event_data(booking) -> dict:
    return booking.events[-1].data


def test_the_confirmation_of_a_booking_paid_at_the_clinic_says_so():
    booking = make("pending_payment")
    booking.book_on_behalf("at_clinic")
    booking.confirm(DESCRIBED, manage_url)
    email = rendering.booking_confirmed(_event_data(booking))
    assert "Please pay £60.00 at the clinic on the day" in email.text_body
    assert "£60.00</strong> at the clinic" in email.html_body
    paid = make("pending_payment")
    paid.confirm(DESCRIBED, manage_url)
    assert "at the clinic" not in rendering.booking_confirmed(_event_data(paid)).text_body


def test_the_clinics_cancellation_email_promises_the_full_refund():
    booking = soon()
    booking.cancel_on_behalf(DESCRIBED)
    email = rendering.booking_cancelled(_event_data(booking))
    assert "We have had to cancel" in email.text_body and "You will get back everything you paid" in email.text_body
    at_clinic = soon()
    at_clinic.book_on_behalf("at_clinic")
    at_clinic.cancel_on_behalf(DESCRIBED)
    assert "nothing to refund" in rendering.booking_cancelled(_event_data(at_clinic)).text_body
    own = make("confirmed")
    own.cancel(DESCRIBED, NOW)
    assert "If a refund is due" in rendering.booking_cancelled(_event_data(own)).text_body
    refund = rendering.payment_refunded(
        {
            "amount": {"amount": 6000, "currency": "GBP"},
            "reason": "cancelled_by_clinic",
            "payment_id": "p",
            "customer_email": ADA.email,
        },
        rendering.Brand(CLINIC.name),
    )
    assert "full refund for the appointment we cancelled" in refund.text_body


def test_the_move_email_says_the_clinic_moved_it():
    booking = soon()
    booking.move_on_behalf(DESCRIBED, AMARA, SOON + timedelta(days=1), manage_url)
    email = rendering.booking_rescheduled(_event_data(booking))
    assert f"{CLINIC.name} has had to move your booking" in email.text_body


def test_the_pay_link_email_carries_the_link_the_amount_and_the_time_to_pay_by():
    waiting = make("pending_payment", expires_at=NOW + timedelta(hours=24))
    waiting.book_on_behalf("online")
    waiting.request_payment(DESCRIBED, manage_url)
    email = rendering.booking_payment_requested(_event_data(waiting))
    link = manage_url(waiting.id, waiting.end)
    assert email.kind == "booking_payment_requested" and email.to_address == ADA.email
    assert link in email.text_body and f'href="{link}"' in email.html_body
    assert "£60.00" in email.text_body and "Thursday 26 November 2026, 12:00" in email.text_body
    assert not email.attachments  # the invite comes with the confirmation, once paid
