"""The payments retention rules: six years after the end of the UK tax year (5 April) of a record's last money
movement, counted on UK days; Stripe's events kept well past Stripe's retries; what is referenced is anonymised."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.payments.retention_rules import (
    STRIPE_EVENTS_KEPT,
    STRIPE_RETRIES_FOR,
    Fate,
    fate,
    kept_until,
    money_kept_since,
    stripe_events_kept_since,
    tax_year_end,
)


@pytest.mark.parametrize(
    ("day", "end"),
    [
        (date(2019, 4, 5), date(2019, 4, 5)),
        (date(2019, 4, 6), date(2020, 4, 5)),
        (date(2019, 12, 31), date(2020, 4, 5)),
        (date(2020, 1, 1), date(2020, 4, 5)),
    ],
)
def test_the_tax_year_ends_on_5_april(day, end):
    assert tax_year_end(day) == end


def test_a_record_is_kept_until_5_april_six_years_after_its_tax_year():
    assert kept_until(date(2019, 4, 5)) == date(2025, 4, 5)
    assert kept_until(date(2019, 4, 6)) == date(2026, 4, 5)


@pytest.mark.parametrize(
    ("today", "since_utc"),
    [
        # On 5 April 2026 the 2019-20 tax year is still kept (its last day); the next day it is not.
        (date(2026, 4, 5), datetime(2019, 4, 5, 23, 0, tzinfo=timezone.utc)),
        (date(2026, 4, 6), datetime(2020, 4, 5, 23, 0, tzinfo=timezone.utc)),
        (date(2026, 12, 5), datetime(2020, 4, 5, 23, 0, tzinfo=timezone.utc)),
        (date(2027, 4, 5), datetime(2020, 4, 5, 23, 0, tzinfo=timezone.utc)),
    ],
)
def test_money_is_kept_from_uk_midnight_of_the_first_tax_year_still_kept(today, since_utc):
    since = money_kept_since(today)
    assert since == since_utc, "midnight BST on 6 April"
    last_past = (since - timedelta(minutes=1)).date()
    assert kept_until(last_past) < today <= kept_until(since.date())


def test_stripe_events_outlive_stripes_retries():
    assert STRIPE_EVENTS_KEPT > STRIPE_RETRIES_FOR
    now = datetime(2026, 12, 5, tzinfo=timezone.utc)
    assert stripe_events_kept_since(now) == now - timedelta(days=30)


def test_a_referenced_money_record_is_anonymised_and_any_other_deleted():
    assert fate(referenced=True) is Fate.ANONYMISE
    assert fate(referenced=False) is Fate.DELETE
    assert fate(referenced=True, moves_money=False) is Fate.DELETE, "a SetupIntent moved no money"
