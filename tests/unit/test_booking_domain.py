import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.booking.domain import (
    BookingError,
    Clinic,
    Course,
    Customer,
    Therapist,
    Treatment,
    booking_event_data,
    check_change_allowed,
    check_hold_usable,
    course_session_prices,
    new_hold,
    outcome_change,
)

CLINIC = Clinic(
    uuid.uuid4(),
    "urban-therapy",
    "Urban Therapy Clinic, London",
    "Europe/London",
    hold_minutes=10,
    change_window_hours=24,
    policy_message="Call us within 24 hours.",
)
TREATMENT = Treatment(
    uuid.uuid4(), "Swedish massage", 60, 6000, "GBP", buffer_before_minutes=5, buffer_after_minutes=15
)
THERAPIST = Therapist(uuid.uuid4(), "Amara Okafor")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def test_a_hold_blocks_the_treatment_plus_buffers_and_expires():
    start = NOW + timedelta(days=1)
    hold = new_hold(CLINIC, TREATMENT, THERAPIST.id, start, NOW)
    assert hold.end - hold.start == timedelta(minutes=60)
    assert hold.blocked.start == start - timedelta(minutes=5)
    assert hold.blocked.end == start + timedelta(minutes=75)
    assert hold.expires_at == NOW + timedelta(minutes=10)


def test_hold_usability():
    check_hold_usable("held", NOW + timedelta(minutes=1), NOW)
    with pytest.raises(BookingError) as used:
        check_hold_usable("confirmed", None, NOW)
    with pytest.raises(BookingError) as expired:
        check_hold_usable("held", NOW, NOW)
    assert (used.value.code, expired.value.code) == ("hold_used", "hold_expired")
    assert used.value.status == expired.value.status == 409


def test_change_window():
    check_change_allowed(CLINIC, "confirmed", NOW + timedelta(hours=24), NOW)
    with pytest.raises(BookingError) as late:
        check_change_allowed(CLINIC, "confirmed", NOW + timedelta(hours=23, minutes=59), NOW)
    assert late.value.code == "outside_change_window" and late.value.message == "Call us within 24 hours."
    with pytest.raises(BookingError) as cancelled:
        check_change_allowed(CLINIC, "cancelled", NOW + timedelta(days=3), NOW)
    assert cancelled.value.code == "not_changeable"


def test_course_price_is_split_without_losing_a_penny():
    course = Course(uuid.uuid4(), "Sciatica course", TREATMENT.id, 6, 2, 4, 34501, "GBP")
    prices = course_session_prices(course)
    assert sum(prices) == 34501 and prices[0] == 5751 and set(prices[1:]) == {5750}


def test_event_data_carries_what_emails_and_webhooks_need_and_no_health_data():
    data = booking_event_data(
        booking_id=uuid.uuid4(),
        status="confirmed",
        clinic=CLINIC,
        treatment=TREATMENT,
        therapist=THERAPIST,
        start=NOW,
        end=NOW + timedelta(hours=1),
        customer=Customer("Ada", "ada@example.com"),
        price_amount=6000,
        currency="GBP",
    )
    assert data["clinic"]["timezone"] == "Europe/London"
    assert data["customer"] == {"name": "Ada", "email": "ada@example.com"}
    assert set(data) == {
        "booking_id",
        "status",
        "clinic",
        "treatment",
        "therapist",
        "start",
        "end",
        "price",
        "customer",
    }


@pytest.mark.parametrize("outcome", ["completed", "no_show"])
def test_an_outcome_is_recorded_once_on_a_confirmed_visit_that_has_started(outcome):
    start = NOW - timedelta(minutes=1)
    assert outcome_change("confirmed", outcome, start, NOW) is True
    assert outcome_change(outcome, outcome, start, NOW) is False, "a repeat changes nothing"
    with pytest.raises(BookingError) as early:
        outcome_change("confirmed", outcome, NOW + timedelta(minutes=1), NOW)
    assert (early.value.status, early.value.code) == (409, "visit_not_started")
    for status in (
        "held",
        "pending_payment",
        "cancelled",
        "expired",
        {"completed": "no_show"}.get(outcome, "completed"),
    ):
        with pytest.raises(BookingError) as refused:
            outcome_change(status, outcome, start, NOW)
        assert (refused.value.status, refused.value.code) == (409, "invalid_transition")
