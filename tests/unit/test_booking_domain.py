import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.booking.domain import (BookingError, Clinic, Customer, Therapist, Treatment, confirmed_event_data,
                                     new_booking)

CLINIC = Clinic(uuid.uuid4(), "urban-therapy", "Urban Therapy Clinic, London", "Europe/London")
TREATMENT = Treatment(uuid.uuid4(), "Swedish massage", 60, 6000, "GBP")
THERAPIST = Therapist(uuid.uuid4(), "Amara Okafor")
CUSTOMER = Customer("Ada", "ada@example.com")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def test_a_booking_lasts_the_treatment_and_is_stored_in_utc():
    from zoneinfo import ZoneInfo
    start = datetime(2026, 12, 1, 10, 0, tzinfo=ZoneInfo("Europe/London"))
    booking = new_booking(CLINIC, TREATMENT, THERAPIST, start, CUSTOMER, NOW)
    assert booking.starts_at.tzinfo == timezone.utc
    assert booking.ends_at - booking.starts_at == timedelta(minutes=60)


@pytest.mark.parametrize("start, code", [
    (datetime(2026, 12, 1, 10, 0), "invalid_start"),
    (NOW - timedelta(minutes=1), "start_in_past"),
])
def test_refused_starts(start, code):
    with pytest.raises(BookingError) as refused:
        new_booking(CLINIC, TREATMENT, THERAPIST, start, CUSTOMER, NOW)
    assert refused.value.code == code


def test_event_data_carries_what_emails_need_and_no_more():
    booking = new_booking(CLINIC, TREATMENT, THERAPIST, NOW + timedelta(days=1), CUSTOMER, NOW)
    data = confirmed_event_data(booking)
    assert data["clinic"]["timezone"] == "Europe/London"
    assert data["customer"] == {"name": "Ada", "email": "ada@example.com"}
    assert set(data) == {"booking_id", "status", "clinic", "treatment", "therapist", "start", "end", "price",
                         "customer"}
