"""How the dashboard's voucher pages say the payments API's answers (services/web/dashboard/voucher_views.py):
balances and ledger changes in money or sessions, the list's filter and pages, the report's months (bounded by
the months the API reports on and by today on the clinic's clock) and its chart's bars to one scale."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from services.web.dashboard import voucher_views as views

MONEY = {"amount": 4000, "currency": "GBP"}
SESSIONS = {"sessions": 3}
LONDON = ZoneInfo("Europe/London")


def test_balances_and_changes_in_money_or_sessions():
    assert views.remaining_words(MONEY) == "£40.00 left"
    assert views.remaining_words({"amount": 0, "currency": "GBP"}) == "Nothing left"
    assert views.remaining_words(SESSIONS) == "3 sessions left"
    assert views.remaining_words({"sessions": 1}) == "1 session left"
    assert views.change_words(6000, MONEY) == "+£60.00"
    assert views.change_words(-2000, MONEY) == "\u2212£20.00", "a real minus sign"
    assert views.change_words(-1, SESSIONS) == "\u22121 session"
    assert views.balance_words(0, MONEY) == "Nothing" and views.balance_words(2, SESSIONS) == "2 sessions"


def test_entries_statuses_and_a_reactivations_reason_in_words():
    assert views.entry_words("redeem") == "Used for a booking"
    assert views.entry_words("something_new") == "Something new", "an entry added later still reads"
    assert views.status_words("awaiting_payment") == "Not paid yet" and views.status_words("void") == "Cancelled"
    assert views.note_words("adjust", "reactivated: in hospital") == "Reason: in hospital"
    assert views.note_words("redeem", "reactivated: x") == "reactivated: x"


def test_the_list_is_filtered_by_status_and_shown_a_page_at_a_time():
    vouchers = [{"id": str(n), "status": "active" if n % 3 else "expired"} for n in range(120)]
    assert views.counts_by_status(vouchers) == {"active": 80, "expired": 40, "void": 0, "awaiting_payment": 0}
    assert len(views.filtered(vouchers, "expired")) == 40 and len(views.filtered(vouchers, None)) == 120
    first = views.page_of(vouchers, 1)
    assert (first.number, first.pages, first.first, first.last, first.total) == (1, 3, 1, 50, 120)
    last = views.page_of(vouchers, 3)
    assert (last.first, last.last, len(last.items)) == (101, 120, 20)
    assert views.page_of(vouchers, 4) is None
    empty = views.page_of([], 1)
    assert (empty.pages, empty.first, empty.last, empty.items) == (1, 0, 0, [])
    assert views.page_number(None) == 1 and views.page_number("2") == 2
    assert [views.page_number(t) for t in ("0", "-1", "x", "1.5", "9" * 9)] == [None] * 5


@pytest.mark.parametrize(
    "text, first",
    [
        ("2026-07", date(2026, 7, 1)),
        ("2000-01", date(2000, 1, 1)),
        ("2199-12", date(2199, 12, 1)),
        ("1999-12", None),
        ("2200-01", None),
        ("2026-13", None),
        ("2026-00", None),
        ("2026-7", None),
        ("July 2026", None),
        ("２０２６-07", None),
        ("", None),
    ],
)
def test_a_month_is_written_as_the_api_takes_it(text, first):
    assert views.parse_month(text) == first


def test_the_months_around_a_month_stop_at_the_api_s_first_and_at_this_month():
    now = datetime(2026, 7, 31, 23, 30, tzinfo=timezone.utc)  # already 1 August in London
    assert views.previous_month(date(2026, 1, 1)) == date(2025, 12, 1)
    assert views.previous_month(date(2000, 1, 1)) is None
    assert views.next_month(date(2026, 7, 1), now, LONDON) == date(2026, 8, 1), "London's clock, not UTC's"
    assert views.next_month(date(2026, 8, 1), now, LONDON) is None
    assert views.next_month(date(2026, 7, 1), now, ZoneInfo("UTC")) is None
    assert views.month_words(date(2026, 7, 1)) == "July 2026" and views.month_key(date(2026, 7, 1)) == "2026-07"


def report(**amounts) -> dict:
    def row(kind: str, vat_class: str) -> dict:
        return {
            "vat_class": vat_class,
            "kind": kind,
            **{
                c: {"count": 1 if amounts.get(f"{kind}_{c}") else 0, "amount": amounts.get(f"{kind}_{c}", 0)}
                for c in views.COLUMNS
            },
        }

    return {
        "currency": "GBP",
        "rows": [row("treatment", "single_purpose"), row("course", "single_purpose"), row("amount", "multi_purpose")],
    }


def test_the_chart_draws_every_figure_to_one_scale():
    groups = views.chart(report(amount_sold=6000, course_sold=34500, amount_redeemed=1))
    assert [g.label for g in groups] == ["Sold", "Redeemed", "Returned", "Expired", "Reactivated"]
    sold = {bar.label: (bar.percent, bar.amount, bar.css) for bar in groups[0].bars}
    assert sold == {
        "Treatment vouchers": (0.0, "£0.00", "bar--treatment"),
        "Course vouchers": (100.0, "£345.00", "bar--course"),
        "Money vouchers": (17.4, "£60.00", "bar--amount"),
    }
    assert groups[1].bars[2].percent == 0.5, "a penny is still a visible bar"
    assert all(bar.percent == 0 for group in views.chart(report()) for bar in group.bars), "nothing sold: no bars"


def test_a_figure_and_its_count_in_words():
    assert views.figure_words("sold", {"count": 3, "amount": 45500}, "GBP") == ("£455.00", "3 vouchers")
    assert views.figure_words("redeemed", {"count": 1, "amount": 2000}, "GBP") == ("£20.00", "1 redemption")
