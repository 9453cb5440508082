"""The data-protection rules of the booking service (services/booking/privacy_rules.py): how long health answers
are kept (the NHS Records Management Code: adults 8 years after the last visit; children to their 25th birthday,
or 26th if 17 at the last visit), a customer's masked email and keyed hash, and the date of birth a booking takes."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from services.booking import privacy_rules
from services.booking.domain import BookingError
from services.booking.privacy_rules import (
    date_of_birth,
    health_retain_until,
    mask_email,
    retention_anchor,
    subject_key,
    upcoming_bookings_blocker,
)

SECRET = "health-data-key-for-tests"
CLINIC = uuid.UUID("00000000-0000-0000-0000-000000000001")
OTHER_CLINIC = uuid.UUID("00000000-0000-0000-0000-000000000002")


# --- how long health answers are kept ------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "born", "kept_until", "why"),
    [
        (date(2026, 3, 14), None, date(2034, 3, 14), "no date of birth: an adult's 8 years"),
        (date(2026, 3, 14), date(1980, 6, 1), date(2034, 3, 14), "an adult: 8 years after the last visit"),
        (date(2026, 3, 14), date(2008, 3, 14), date(2034, 3, 14), "18 that very day: an adult"),
        (date(2026, 3, 14), date(2021, 1, 10), date(2046, 1, 10), "5 at the visit: to the 25th birthday"),
        (date(2026, 3, 14), date(2008, 3, 15), date(2034, 3, 15), "17 (18 tomorrow) at the visit: to the 26th"),
        (date(2026, 3, 14), date(2009, 3, 14), date(2035, 3, 14), "17 that day: to the 26th birthday"),
        (date(2026, 3, 14), date(2009, 3, 15), date(2034, 3, 15), "16 (17 tomorrow): to the 25th birthday"),
    ],
)
def test_health_answers_are_kept_for_an_adult_8_years_and_for_a_child_to_25_or_26(anchor, born, kept_until, why):
    assert health_retain_until(anchor, born) == kept_until, why


def test_a_child_is_never_kept_less_than_an_adult_would_be():
    anchor = date(2026, 7, 1)
    for years in range(0, 18):
        born = date(2026 - years, 7, 1)  # `years` old that day
        assert health_retain_until(anchor, born) >= health_retain_until(anchor, None), years


def test_29_february_counts_as_1_march_in_common_years():
    # A visit on 29 February: 8 years on is a leap year, 9 years on is not.
    assert health_retain_until(date(2024, 2, 29), None) == date(2032, 2, 29)
    assert privacy_rules.anniversary(date(2024, 2, 29), 9) == date(2033, 3, 1)
    # A child born on 29 February turns 25 on 1 March in a common year (UK law), and is kept to then.
    assert health_retain_until(date(2026, 3, 14), date(2016, 2, 29)) == date(2041, 3, 1)
    # ... and is still 17 on 28 February of the year they turn 18, so kept to the 26th birthday.
    assert privacy_rules.age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert privacy_rules.age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18
    assert health_retain_until(date(2026, 2, 28), date(2008, 2, 29)) == date(2034, 3, 1)


def test_the_anchor_is_the_last_visit_or_the_day_answered_if_later_or_if_none():
    assert retention_anchor(date(2025, 1, 5), None) == date(2025, 1, 5)
    assert retention_anchor(date(2025, 1, 5), date(2026, 2, 1)) == date(2026, 2, 1)
    # Answers given for a visit that never happened, after the last one: kept from the day they were given.
    assert retention_anchor(date(2026, 5, 1), date(2026, 2, 1)) == date(2026, 5, 1)


# --- who -----------------------------------------------------------------------------------------


def test_an_email_is_masked_to_its_first_letter_and_domain():
    assert mask_email("Jo.Bloggs@Example.com") == "j***@example.com"
    assert mask_email("  a@b.co ") == "a***@b.co"
    assert mask_email("no-at-sign") == "***"


def test_the_subject_key_is_stable_case_and_space_insensitive_and_per_clinic_and_secret():
    key = subject_key(SECRET, CLINIC, "jo@example.com")
    assert len(key) == 32
    assert subject_key(SECRET, CLINIC, "  Jo@Example.COM ") == key
    assert subject_key(SECRET, CLINIC, "jo@example.com") == key  # stable: no salt, no time
    assert subject_key(SECRET, OTHER_CLINIC, "jo@example.com") != key
    assert subject_key("another secret", CLINIC, "jo@example.com") != key
    assert subject_key(SECRET, CLINIC, "jo2@example.com") != key
    assert b"jo@example.com" not in key


def test_an_email_to_look_up_is_normalised_or_refused():
    assert privacy_rules.valid_email("  Jo@Example.com ") == "jo@example.com"
    for bad in ("", "jo", "jo@example", "jo @example.com", "a" * 250 + "@example.com"):
        with pytest.raises(BookingError) as refused:
            privacy_rules.valid_email(bad)
        assert (refused.value.status, refused.value.code) == (422, "invalid_email"), bad


# --- dates of birth ------------------------------------------------------------------------------


def test_a_date_of_birth_is_a_real_past_day_within_120_years():
    today = date(2026, 12, 5)
    assert date_of_birth("1990-04-23", today) == date(1990, 4, 23)
    assert date_of_birth("2026-12-04", today) == date(2026, 12, 4)
    assert date_of_birth("1906-12-05", today) == date(1906, 12, 5)
    for bad in ("2026-12-05", "2030-01-01", "1906-12-04", "1990-02-30", "23/04/1990", "1990-4-23", "", "١٩٩٠-٠٤-٢٣"):
        with pytest.raises(BookingError) as refused:
            date_of_birth(bad, today)
        assert (refused.value.status, refused.value.code) == (422, "invalid_date_of_birth"), bad
        assert refused.value.details["field"] == "customer.date_of_birth"


# --- what stops an erasure -----------------------------------------------------------------------


def test_upcoming_bookings_block_an_erasure_naming_each():
    assert upcoming_bookings_blocker([]) is None
    first, second = uuid.uuid4(), uuid.uuid4()
    blocker = upcoming_bookings_blocker(
        [
            (second, datetime(2026, 12, 9, 10, tzinfo=timezone.utc)),
            (first, datetime(2026, 12, 8, 10, tzinfo=timezone.utc)),
        ]
    )
    assert blocker["code"] == "customer_has_upcoming_bookings"
    assert "2 bookings still to come" in blocker["message"] and "Cancel them" in blocker["message"]
    assert [b["id"] for b in blocker["details"]["bookings"]] == [str(first), str(second)]


def test_counts_from_several_services_add_up_by_kind():
    assert privacy_rules.merge_counts({"bookings": 2}, {"payments": 3, "bookings": 1}, {}) == {
        "bookings": 3,
        "payments": 3,
    }
