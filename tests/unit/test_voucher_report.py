"""The monthly voucher report's arithmetic (services/payments/voucher_report.py): months on the clinic's
clock across summer time, sessions valued at what was paid for them and rounded once per row, the CSV and
its guard against formulas; and how the endpoint reads an Accept header."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.payments.clinic_vouchers import prefers_csv
from services.payments.voucher_report import (
    CSV_HEADER,
    LedgerSum,
    build_report,
    csv_cell,
    csv_filename,
    month_of,
    month_window,
    parse_month,
    report_csv,
)

LONDON = ZoneInfo("Europe/London")
JULY = date(2026, 7, 1)


@pytest.mark.parametrize(
    ("text", "month"),
    [("2026-07", JULY), ("2000-01", date(2000, 1, 1)), ("2199-12", date(2199, 12, 1))],
)
def test_months_are_written_year_dash_month(text, month):
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-7", "26-07", "2026-07-01", "1999-12", "2200-01", ""])
def test_anything_else_is_not_a_month(text):
    assert parse_month(text) is None


def test_a_month_runs_midnight_to_midnight_on_the_clinics_clock():
    assert month_window(JULY, LONDON) == (
        datetime(2026, 6, 30, 23, tzinfo=timezone.utc),
        datetime(2026, 7, 31, 23, tzinfo=timezone.utc),
    )
    # March begins in winter time and ends in summer time: an hour short.
    start, end = month_window(date(2026, 3, 1), LONDON)
    assert start == datetime(2026, 3, 1, tzinfo=timezone.utc) and end - start == timedelta(days=31, hours=-1)
    # December's end is the next year's January.
    assert month_window(date(2026, 12, 1), ZoneInfo("UTC"))[1] == datetime(2027, 1, 1, tzinfo=timezone.utc)


def test_this_month_is_the_clinics():
    late_june_utc = datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc)
    assert month_of(late_june_utc, LONDON) == JULY
    assert month_of(late_june_utc, ZoneInfo("UTC")) == date(2026, 6, 1)


def entry(entry: str, kind: str = "amount", units: int = 1000, entries: int = 1, face=None, price=None) -> LedgerSum:
    vat = "multi_purpose" if kind == "amount" else "single_purpose"
    face = face if face is not None else (units if entry == "issue" and kind == "amount" else 6)
    price = price if price is not None else face if kind == "amount" else 34500
    return LedgerSum(entry, kind, vat, face, price, entries, units)


def test_every_row_is_shown_in_order_even_empty():
    report = build_report(JULY, LONDON, "GBP", [])
    assert [(r["vat_class"], r["kind"]) for r in report["rows"]] == [
        ("single_purpose", "treatment"),
        ("single_purpose", "course"),
        ("multi_purpose", "amount"),
    ]
    assert report["totals"]["sold"] == {"count": 0, "amount": 0}
    assert (report["from"], report["to"]) == ("2026-07-01T00:00:00+01:00", "2026-08-01T00:00:00+01:00")


def test_money_is_pence_sessions_are_worth_what_was_paid_for_them():
    report = build_report(
        JULY,
        LONDON,
        "GBP",
        [
            entry("issue", units=5000, face=5000, price=5000),
            entry("redeem", units=-3500, entries=2, face=5000, price=5000),
            entry("refund", units=1500, face=5000, price=5000),
            entry("release", units=500, face=5000, price=5000),
            entry("issue", kind="course", units=6),
            entry("redeem", kind="course", units=-1),
            entry("expire", kind="course", units=-5),
            entry("adjust", kind="course", units=2),
        ],
    )
    amount, course = report["rows"][2], report["rows"][1]
    assert amount["sold"] == {"count": 1, "amount": 5000}
    assert amount["redeemed"] == {"count": 2, "amount": 3500}
    assert amount["returned"] == {"count": 2, "amount": 2000}  # refunds and releases alike
    assert course["sold"] == {"count": 1, "amount": 34500}
    assert course["redeemed"] == {"count": 1, "amount": 5750}
    assert course["expired"] == {"count": 1, "amount": 28750}
    assert course["reactivated"] == {"count": 1, "amount": 11500}
    assert report["totals"]["sold"] == {"count": 2, "amount": 39500}


def test_thirds_of_a_penny_are_summed_exactly_and_rounded_once_half_up():
    # Three sessions of a £100 course: 3333⅓p each; three used are £100, not £99.99.
    thirds = [entry("redeem", kind="course", units=-1, face=3, price=10000) for _ in range(3)]
    assert build_report(JULY, LONDON, "GBP", thirds)["rows"][1]["redeemed"] == {"count": 3, "amount": 10000}
    # One session of a 4-session £10.02 course: 250.5p, rounded half up.
    half = [entry("redeem", kind="course", units=-1, face=4, price=1002)]
    assert build_report(JULY, LONDON, "GBP", half)["rows"][1]["redeemed"]["amount"] == 251


def test_an_entry_the_report_does_not_know_is_an_error_not_a_silent_gap():
    with pytest.raises(ValueError):
        build_report(JULY, LONDON, "GBP", [entry("gift")])
    with pytest.raises(ValueError):
        build_report(JULY, LONDON, "GBP", [LedgerSum("issue", "amount", "single_purpose", 1, 1, 1, 1)])


@pytest.mark.parametrize("dangerous", ["=1+1", "+44", "-5", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_is_made_text(dangerous):
    assert csv_cell(dangerous) == "'" + dangerous


@pytest.mark.parametrize("plain", ["single_purpose", "2026-07", "345.00", "", "a=b", 0])
def test_other_cells_are_left_alone(plain):
    assert csv_cell(plain) == str(plain)


def test_the_csv_has_a_header_the_rows_and_the_totals_in_pounds():
    report = build_report(JULY, LONDON, "GBP", [entry("issue", kind="course", units=6), entry("issue", units=2505)])
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    assert rows[0] == list(CSV_HEADER) and len(rows) == 5
    by_name = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert by_name[1]["sold_amount"] == "345.00" and by_name[2]["sold_amount"] == "25.05"
    assert by_name[3]["vat_class"] == "total" and by_name[3]["sold_amount"] == "370.05"
    assert {row["month"] for row in by_name} == {"2026-07"}
    assert csv_filename(report) == "vouchers-2026-07.csv"


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("", False),
        ("application/json", False),
        ("*/*", False),
        ("text/csv", True),
        ("text/csv, */*", True),
        ("text/csv, application/json", False),
        ("application/json;q=0.5, text/csv", True),
        ("text/csv;q=0.2, application/json", False),
        ("text/csv;q=0", False),
        ("text/csv;q=abc", False),
        ("TEXT/CSV", True),
    ],
)
def test_csv_only_when_the_client_prefers_it(accept, csv_wanted):
    assert prefers_csv(accept) is csv_wanted
