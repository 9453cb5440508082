"""The booking page's date of birth (pure): GOV.UK's three boxes into the API's "YYYY-MM-DD", or the sentence saying
what is wrong and the boxes at fault; optional, so three empty boxes are no date; the API's bounds (in the past, less
than 120 years ago, 29 February counted as the API counts it)."""

from datetime import date

import pytest

from services.web.birth_date import BirthDate, parse

TODAY = date(2026, 12, 10)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (("", "", ""), BirthDate(None)),
        ((" ", " ", " "), BirthDate(None)),
        (("27", "3", "2010"), BirthDate("2010-03-27")),
        ((" 07 ", "03", "2010"), BirthDate("2010-03-07")),
        (("27", "March", "2010"), BirthDate("2010-03-27")),
        (("27", "mar", "2010"), BirthDate("2010-03-27")),
        (("29", "2", "2024"), BirthDate("2024-02-29")),
        (("9", "12", "2026"), BirthDate("2026-12-09")),
        (("10", "12", "1906"), BirthDate("1906-12-10")),
    ],
)
def test_a_real_past_date_or_none(typed, expected):
    assert parse(*typed, TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "error", "faulty"),
    [
        (("27", "", ""), "Date of birth must include a month and year", ("month", "year")),
        (("", "3", "2010"), "Date of birth must include a day", ("day",)),
        (("", "", "2010"), "Date of birth must include a day and month", ("day", "month")),
        (("31", "4", "2010"), "Date of birth must be a real date, like 27 3 2010", ("day", "month", "year")),
        (("29", "2", "2023"), "Date of birth must be a real date, like 27 3 2010", ("day", "month", "year")),
        (("32", "3", "2010"), "Date of birth must be a real date, like 27 3 2010", ("day",)),
        (("1", "13", "2010"), "Date of birth must be a real date, like 27 3 2010", ("month",)),
        (("x", "Smarch", "2010"), "Date of birth must be a real date, like 27 3 2010", ("day", "month")),
        (("27", "3", "10"), "Year of birth must include 4 numbers, like 2010", ("year",)),
        (("27", "13", "10"), "Year of birth must include 4 numbers, like 2010", ("month", "year")),
        (("10", "12", "2026"), "Date of birth must be in the past", ("day", "month", "year")),
        (("1", "1", "2030"), "Date of birth must be in the past", ("day", "month", "year")),
        (("9", "12", "1906"), "Date of birth must be less than 120 years ago", ("year",)),
    ],
)
def test_a_wrong_date_is_said_in_a_sentence_with_the_boxes_at_fault(typed, error, faulty):
    assert parse(*typed, TODAY) == BirthDate(None, error, faulty)


def test_120_years_before_29_february_is_counted_as_the_api_counts_it():
    # 120 years before 29 February 2020 is a day 1900 does not have: 1 March 1900, as services/booking counts it.
    leap_day = date(2020, 2, 29)
    assert parse("1", "3", "1900", leap_day).value == "1900-03-01"
    assert parse("28", "2", "1900", leap_day).error == "Date of birth must be less than 120 years ago"
    assert parse("29", "2", "1908", date(2028, 2, 29)).value == "1908-02-29"
