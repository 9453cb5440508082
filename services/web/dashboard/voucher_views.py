"""How the dashboard's voucher pages say what the payments API answers (pure): statuses, kinds and ledger entries
in words, balances in money or sessions, the list's status filter and pages, the report's months, figures and
its chart's bars. No I/O: the handlers in vouchers.py fetch, this shapes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from shared.money import money

KINDS = {"amount": "Money", "treatment": "Treatment", "course": "Course"}
# The report's rows (one per VAT class and kind), named for people rather than for the tax office's codes.
KIND_ROWS = {"amount": "Money vouchers", "treatment": "Treatment vouchers", "course": "Course vouchers"}
VAT_CLASSES = {"single_purpose": "Single-purpose", "multi_purpose": "Multi-purpose"}
# The list's filter, in this order; `awaiting_payment` is a purchase whose payment has not arrived (yet).
STATUSES = {"active": "Active", "expired": "Expired", "void": "Cancelled", "awaiting_payment": "Not paid yet"}
# The filtered list's name: "No expired vouchers.", "Showing 1 to 3 of 3 cancelled vouchers."
STATUS_LISTS = {
    "active": "active vouchers",
    "expired": "expired vouchers",
    "void": "cancelled vouchers",
    "awaiting_payment": "vouchers not paid for yet",
}
ENTRIES = {
    "issue": "Issued (paid for)",
    "redeem": "Used for a booking",
    "release": "Given back: the booking was let go before it was paid",
    "refund": "Given back: the booking was cancelled",
    "expire": "Expired: what was left is no longer usable",
    "adjust": "Reactivated by the clinic",
}
# The report's columns; each figure's count in words, as the ledger counts it.
COLUMNS = ("sold", "redeemed", "returned", "expired", "reactivated")
COLUMN_LABELS = {
    "sold": "Sold",
    "redeemed": "Redeemed",
    "returned": "Returned",
    "expired": "Expired",
    "reactivated": "Reactivated",
}
COUNT_NOUNS = {
    "sold": ("voucher", "vouchers"),
    "redeemed": ("redemption", "redemptions"),
    "returned": ("return", "returns"),
    "expired": ("voucher", "vouchers"),
    "reactivated": ("voucher", "vouchers"),
}
PAGE_SIZE = 50
# The months the API reports on (services/payments/voucher_report.py): outside them, no link.
FIRST_MONTH = date(2000, 1, 1)
LAST_MONTH = date(2199, 12, 1)
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
MINUS = "\u2212"  # a real minus sign, which a screen reader says as "minus"


# --- words ---------------------------------------------------------------------------------------------


def plural(count: int, nouns: tuple[str, str]) -> str:
    return f"{count} {nouns[0] if count == 1 else nouns[1]}"


def _units(units: int, remaining: dict[str, Any]) -> str:
    """`units` of the voucher whose `remaining` (the API's shape) says its unit: pence ('£20.00') or sessions."""
    if "sessions" in remaining:
        return plural(units, ("session", "sessions"))
    return money(units, str(remaining.get("currency", "GBP")))


def remaining_words(remaining: dict[str, Any]) -> str:
    """'£45.00 left', '3 sessions left', 'Nothing left'."""
    units = int(remaining.get("sessions", remaining.get("amount", 0)) or 0)
    return f"{_units(units, remaining)} left" if units > 0 else "Nothing left"


def change_words(units: int, remaining: dict[str, Any]) -> str:
    """A ledger entry's change: '+£60.00', '−1 session'."""
    return f"{'+' if units > 0 else MINUS}{_units(abs(units), remaining)}"


def balance_words(units: int, remaining: dict[str, Any]) -> str:
    return _units(units, remaining) if units > 0 else "Nothing"


def entry_words(entry: str) -> str:
    return ENTRIES.get(entry, entry.replace("_", " ").capitalize())


def note_words(entry: str, note: str) -> str:
    """A ledger entry's note; a reactivation's is the reason the clinic gave ('reactivated: …' in the API)."""
    prefix = "reactivated: "
    return f"Reason: {note[len(prefix) :]}" if entry == "adjust" and note.startswith(prefix) else note


def status_words(status: str) -> str:
    return STATUSES.get(status, status.replace("_", " ").capitalize())


# --- the list: a status filter and pages ----------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    number: int  # from 1
    pages: int
    first: int  # the position of the first item shown, from 1 (0 when none)
    last: int
    total: int


def filtered(vouchers: Sequence[dict[str, Any]], status: str | None) -> list[dict[str, Any]]:
    return [v for v in vouchers if status is None or v.get("status") == status]


def counts_by_status(vouchers: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for voucher in vouchers:
        if voucher.get("status") in counts:
            counts[voucher["status"]] += 1
    return counts


def page_number(text: str | None) -> int | None:
    """A page's number from the address (1 if none); None if it is not a whole number from 1."""
    if text is None or text == "":
        return 1
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else None


def page_of(items: Sequence[dict[str, Any]], number: int, size: int = PAGE_SIZE) -> Page | None:
    """Page `number` of `items`; None past the last page (page 1 of nothing is an empty page)."""
    pages = max(1, -(-len(items) // size))
    if number > pages:
        return None
    start = (number - 1) * size
    shown = list(items[start : start + size])
    return Page(shown, number, pages, start + 1 if shown else 0, start + len(shown), len(items))


# --- the report: months, figures and the chart -------------------------------------------------------------


def parse_month(text: str) -> date | None:
    """The first day of a month written YYYY-MM, within the months the API reports on; else None."""
    found = _MONTH.fullmatch(text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12:
        return None
    first = date(int(found.group(1)), int(found.group(2)), 1)
    return first if FIRST_MONTH <= first <= LAST_MONTH else None


def month_key(first: date) -> str:
    return first.strftime("%Y-%m")


def month_words(first: date) -> str:
    """'July 2026'."""
    return first.strftime("%B %Y")


def previous_month(first: date) -> date | None:
    before = (first - timedelta(days=1)).replace(day=1)
    return before if before >= FIRST_MONTH else None


def next_month(first: date, now: datetime, zone: ZoneInfo) -> date | None:
    """The month after `first`, unless that is after this month on the clinic's clock (nothing to report yet)."""
    after = (first + timedelta(days=32)).replace(day=1)
    this_month = now.astimezone(zone).date().replace(day=1)
    return after if after <= min(this_month, LAST_MONTH) else None


def figure_words(column: str, figure: dict[str, int], currency: str) -> tuple[str, str]:
    """A figure's money and its count in words: ('£455.00', '3 vouchers')."""
    return money(int(figure["amount"]), currency), plural(int(figure["count"]), COUNT_NOUNS[column])


@dataclass(frozen=True)
class Bar:
    label: str
    css: str  # the kind's colour class (static/site.css)
    amount: str  # in words, beside the bar
    percent: float  # of the widest bar: the SVG rect's width attribute (no inline style: the CSP forbids it)


@dataclass(frozen=True)
class BarGroup:
    label: str
    bars: tuple[Bar, ...]


def chart(report: dict[str, Any]) -> tuple[BarGroup, ...]:
    """The report's money as bars: a group per column, a bar per kind, all to one scale (the largest figure
    fills the width; a figure above nothing is always visible). The table says the same in words."""
    currency = str(report["currency"])
    largest = max((int(row[c]["amount"]) for row in report["rows"] for c in COLUMNS), default=0)
    groups = []
    for column in COLUMNS:
        bars = []
        for row in report["rows"]:
            amount = int(row[column]["amount"])
            percent = 0.0 if largest <= 0 or amount <= 0 else max(0.5, round(100 * amount / largest, 1))
            bars.append(
                Bar(KIND_ROWS.get(row["kind"], row["kind"]), f"bar--{row['kind']}", money(amount, currency), percent)
            )
        groups.append(BarGroup(COLUMN_LABELS[column], tuple(bars)))
    return tuple(groups)
