"""When a gift's email goes and how the pages and the receipt say it: at 08:00 clinic time on its day, or
at once when bought for today after that hour; in words, with the zone named."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from shared import gift_delivery

LONDON = ZoneInfo("Europe/London")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def test_it_is_due_at_eight_in_the_clinics_zone_in_winter_and_summer():
    assert gift_delivery.due_at(date(2026, 12, 4), LONDON) == at("2026-12-04T08:00:00+00:00")
    assert gift_delivery.due_at(date(2027, 6, 4), LONDON) == at("2027-06-04T07:00:00+00:00")  # BST


def test_a_gift_for_today_bought_before_the_hour_waits_for_it():
    words = gift_delivery.in_words("Sam", date(2026, 12, 4), LONDON, at("2026-12-04T07:59:00+00:00"))
    assert words == "will be emailed to Sam at 08:00 on Friday 4 December (UK time)"


def test_a_gift_for_today_bought_after_the_hour_goes_at_once():
    assert gift_delivery.goes_at_once(date(2026, 12, 4), LONDON, at("2026-12-04T08:00:00+00:00"))
    words = gift_delivery.in_words("Sam", date(2026, 12, 4), LONDON, at("2026-12-04T15:30:00+00:00"))
    assert words == "will be emailed to Sam straight away"


def test_a_later_day_names_the_year_only_when_it_is_another_year():
    bought = at("2026-12-04T15:30:00+00:00")
    assert gift_delivery.in_words("Sam", date(2026, 12, 24), LONDON, bought).endswith(
        "on Thursday 24 December (UK time)"
    )
    assert gift_delivery.in_words("Sam", date(2027, 1, 2), LONDON, bought).endswith(
        "on Saturday 2 January 2027 (UK time)"
    )


def test_the_day_is_the_clinics_not_utcs():
    # 23:30 UTC on 31 May is already 1 June in London, yet before its 08:00 (07:00 UTC): the gift waits.
    assert not gift_delivery.goes_at_once(date(2027, 6, 1), LONDON, at("2027-05-31T23:30:00+00:00"))
    assert gift_delivery.goes_at_once(date(2027, 6, 1), LONDON, at("2027-06-01T07:00:00+00:00"))
