"""The reservation's status machine: one table decides which change is allowed, and each change records its event."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.booking.domain import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    TRANSITIONS,
    BookingError,
    Clinic,
    Customer,
    Therapist,
    Treatment,
    statuses_before,
)
from services.booking.reservation import Lapsed, Particulars, Reservation
from services.booking.store import EXPIRING, LIVE, RELEASABLE

CLINIC = Clinic(
    uuid.uuid4(),
    "urban-therapy",
    "Urban Therapy Clinic, London",
    "Europe/London",
    change_window_hours=24,
    policy_message="Call us within 24 hours.",
)
TREATMENT = Treatment(uuid.uuid4(), "Swedish massage", 60, 6000, "GBP", buffer_after_minutes=15)
AMARA = Therapist(uuid.uuid4(), "Amara Okafor", frozenset({TREATMENT.id}))
BEN = Therapist(uuid.uuid4(), "Ben Hale", frozenset({TREATMENT.id}))
DESCRIBED = Particulars(CLINIC, TREATMENT, AMARA)
ADA = Customer("Ada", "ada@example.com", "07700 900000")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
START = NOW + timedelta(days=3)


def manage_url(booking_id: uuid.UUID, end: datetime) -> str:
    return f"https://clinic.example/manage/{booking_id}?ends={end.isoformat()}"


def reservation(status: str = "held", **changes) -> Reservation:
    values = dict(
        id=uuid.uuid4(),
        clinic_id=CLINIC.id,
        treatment_id=TREATMENT.id,
        therapist_id=AMARA.id,
        start=START,
        end=START + timedelta(minutes=60),
        status=status,
        expires_at=NOW + timedelta(minutes=10) if status in ("held", "pending_payment") else None,
        price_amount=6000,
        currency="GBP",
        customer=None if status in ("held", "released") else ADA,
    )
    return Reservation(**{**values, **changes})


def test_the_table_knows_every_status_and_only_those():
    statuses = {"held", "pending_payment", "confirmed", "cancelled", "completed", "no_show", "expired", "released"}
    assert set(TRANSITIONS) == statuses and set().union(*TRANSITIONS.values()) <= statuses
    assert set(LIVE_STATUSES) <= statuses
    assert FINAL_STATUSES == ("cancelled", "completed", "no_show")
    assert statuses_before("expired") == ("held", "pending_payment")


def test_the_sql_is_written_from_the_table():
    assert LIVE == (
        "(status IN ('held', 'pending_payment', 'confirmed') AND (status = 'confirmed' OR expires_at > now()))"
    )
    assert EXPIRING == "status IN ('held', 'pending_payment')"
    assert RELEASABLE == "status IN ('held')"


def test_a_hold_awaits_its_payment_then_is_confirmed_and_announced():
    booking = reservation()
    booking.await_payment(ADA, "key-1", NOW + timedelta(minutes=15), NOW)
    assert (booking.status, booking.customer) == ("pending_payment", ADA)
    assert booking.expires_at == NOW + timedelta(minutes=15)
    assert booking.was_submitted_with("key-1") and not booking.was_submitted_with("key-2")
    assert booking.events == [], "the booking's pending payment is announced once for all its sessions"
    booking.note_payment(uuid.uuid4(), {"code_hint": "…K3Q9", "value": 1000, "remaining": 0})
    booking.confirm(DESCRIBED, manage_url)
    assert (booking.status, booking.expires_at) == ("confirmed", None)
    [event] = booking.events
    assert event.type == "booking.confirmed" and event.clinic_id == str(CLINIC.id)
    assert event.data["status"] == "confirmed" and event.data["customer"] == {"name": "Ada", "email": "ada@example.com"}
    assert event.data["manage_url"] == manage_url(booking.id, booking.end)
    assert event.data["voucher"] == {"code_hint": "…K3Q9", "value": 1000, "remaining": 0}


def test_a_used_or_expired_hold_cannot_be_booked():
    for status in ("pending_payment", "confirmed", "expired", "released", "cancelled"):
        with pytest.raises(BookingError) as used:
            reservation(status).await_payment(ADA, None, NOW + timedelta(minutes=15), NOW)
        assert (used.value.status, used.value.code) == (409, "hold_used")
    with pytest.raises(BookingError) as expired:
        reservation(expires_at=NOW).await_payment(ADA, None, NOW + timedelta(minutes=15), NOW)
    assert expired.value.code == "hold_expired"


@pytest.mark.parametrize("status", ["pending_payment", "expired", "released"])
def test_a_paid_booking_is_confirmed_even_after_its_time_ran_out(status):
    booking = reservation(status, customer=ADA)
    booking.confirm(DESCRIBED, manage_url)
    assert booking.status == "confirmed" and [e.type for e in booking.events] == ["booking.confirmed"]


@pytest.mark.parametrize("status", ["held", "confirmed", "cancelled", "completed", "no_show"])
def test_only_a_booking_awaiting_its_payment_is_confirmed(status):
    booking = reservation(status)
    with pytest.raises(BookingError) as refused:
        booking.confirm(DESCRIBED, manage_url)
    assert (refused.value.status, refused.value.code) == (409, "invalid_transition")
    assert booking.status == status and booking.events == []


def test_a_confirmed_booking_is_cancelled_within_the_window_and_announced():
    booking = reservation("confirmed")
    booking.cancel(DESCRIBED, NOW)
    assert booking.status == "cancelled"
    [event] = booking.events
    assert event.type == "booking.cancelled" and event.data["cancelled_by"] == "customer"
    assert event.data["status"] == "cancelled"


def test_a_cancel_too_late_or_of_what_is_not_a_confirmed_booking_is_refused_and_changes_nothing():
    late = reservation("confirmed", start=NOW + timedelta(hours=23))
    with pytest.raises(BookingError) as refused:
        late.cancel(DESCRIBED, NOW)
    assert refused.value.code == "outside_change_window" and refused.value.message == "Call us within 24 hours."
    assert (late.status, late.events) == ("confirmed", [])
    for status in ("held", "pending_payment", "cancelled", "completed", "expired"):
        with pytest.raises(BookingError) as not_changeable:
            reservation(status).cancel(DESCRIBED, NOW)
        assert not_changeable.value.code == "not_changeable"


def test_a_reschedule_moves_the_same_booking_and_says_where_it_was():
    booking = reservation("confirmed")
    old_start, old_end = booking.start, booking.end
    new_start = START + timedelta(days=1, hours=2)
    booking.reschedule(Particulars(CLINIC, TREATMENT, BEN), AMARA, new_start, NOW, manage_url)
    assert (booking.status, booking.therapist_id, booking.start) == ("confirmed", BEN.id, new_start)
    assert booking.end == new_start + timedelta(minutes=60)
    [event] = booking.events
    assert event.type == "booking.rescheduled" and event.data["status"] == "confirmed"
    assert event.data["therapist"] == {"id": str(BEN.id), "name": "Ben Hale"}
    assert event.data["previous"] == {
        "start": old_start.isoformat(),
        "end": old_end.isoformat(),
        "therapist": {"id": str(AMARA.id), "name": "Amara Okafor"},
    }
    assert event.data["manage_url"] == manage_url(booking.id, booking.end)


def test_a_reschedule_too_late_is_refused():
    booking = reservation("confirmed", start=NOW + timedelta(hours=2))
    with pytest.raises(BookingError) as refused:
        booking.reschedule(DESCRIBED, AMARA, START, NOW, manage_url)
    assert refused.value.code == "outside_change_window"
    assert (booking.start, booking.events) == (NOW + timedelta(hours=2), [])


@pytest.mark.parametrize("outcome", ["completed", "no_show"])
def test_an_outcome_is_recorded_once(outcome):
    booking = reservation("confirmed", start=NOW - timedelta(minutes=5))
    assert booking.record_outcome(outcome, DESCRIBED, NOW) is True
    assert booking.record_outcome(outcome, DESCRIBED, NOW) is False
    assert booking.status == outcome and [e.type for e in booking.events] == [f"booking.{outcome}"]


def test_an_expiry_or_release_marked_by_the_store_is_announced_as_payments_reads_it():
    hold_id, clinic_id, series_id, payment_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    expired = Lapsed(hold_id, clinic_id, series_id, payment_id, "expired").event
    assert expired.type == "booking.expired" and expired.clinic_id == str(clinic_id)
    assert expired.data == {"booking_id": str(hold_id), "series_id": str(series_id), "payment_id": str(payment_id)}
    released = Lapsed(hold_id, clinic_id, None, None, "released").event
    assert released.type == "booking.released"
    assert released.data == {"booking_id": str(hold_id), "series_id": None, "payment_id": None}


def test_a_course_session_is_known_by_its_series():
    series_id = uuid.uuid4()
    assert reservation(series_id=series_id, series_index=2).booking_id == series_id
    single = reservation()
    assert single.booking_id == single.id
