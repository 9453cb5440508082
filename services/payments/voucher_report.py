"""The monthly voucher report: what was sold, redeemed, given back, expired and reactivated in one calendar
month of the clinic's wall time, by UK VAT class. Pure: no I/O; the store sums the ledger, this shapes it.

Figures come from the voucher ledger alone (every balance change is an entry, never rewritten), so a month's
report stays what it was once the month is over. A single-purpose voucher (one treatment or course: VAT known
when sold) is taxed when sold; a multi-purpose one (money) when redeemed: the rows keep the classes apart.

Amounts are money in minor units: what buyers paid for the units concerned. A money voucher's units are its
pence (paid at face value); a treatment or course voucher's sessions are valued at its price per session, the
fractions summed exactly per row and rounded once (half up)."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction
from typing import Any, Iterable
from zoneinfo import ZoneInfo

# The rows, always all three in this order (a stable table and chart): each kind has one VAT class
# (services/payments/vouchers.py decides it when a voucher is sold).
ROWS: tuple[tuple[str, str], ...] = (
    ("single_purpose", "treatment"),
    ("single_purpose", "course"),
    ("multi_purpose", "amount"),
)
# What each ledger entry counts as. `adjust` entries are written only by reactivation (voucher_service).
COLUMN_OF_ENTRY = {
    "issue": "sold",
    "redeem": "redeemed",
    "release": "returned",  # a booking let go before it was paid: the voucher gets its part back
    "refund": "returned",  # a cancelled booking
    "expire": "expired",
    "adjust": "reactivated",
}
COLUMNS = ("sold", "redeemed", "returned", "expired", "reactivated")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
FIRST_MONTH = date(2000, 1, 1)
LAST_MONTH = date(2199, 12, 1)
# A spreadsheet runs a cell that begins with one of these as a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def parse_month(text: str) -> date | None:
    """The first day of a month written YYYY-MM, or None if `text` is not one (in 2000–2199)."""
    found = _MONTH.fullmatch(text)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        return None
    first = date(int(found.group(1)), int(found.group(2)), 1)
    return first if FIRST_MONTH <= first <= LAST_MONTH else None


def month_of(now: datetime, zone: ZoneInfo) -> date:
    """The month it is now on the clinic's wall clock (its first day)."""
    return now.astimezone(zone).date().replace(day=1)


def next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def month_window(first: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the month beginning `first`, from midnight to midnight on the clinic's wall clock
    (a month that starts or ends in summer time is an hour off UTC's)."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), zone).astimezone(timezone.utc)

    return midnight(first), midnight(next_month(first))


@dataclass(frozen=True)
class LedgerSum:
    """Ledger entries of one kind, summed over vouchers sold on the same terms (store.voucher_report_sums)."""

    entry: str  # issue, redeem, release, refund, expire, adjust
    kind: str  # amount, treatment, course
    vat_class: str
    face_value: int  # the voucher's units when sold: pence, or sessions
    price_amount: int  # what its buyer paid, minor units
    entries: int
    units: int  # the entries' units summed, signed as the ledger keeps them


@dataclass
class _Figure:
    count: int = 0
    value: Fraction = Fraction(0)


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _figure(count: int, amount: int) -> dict[str, int]:
    return {"count": count, "amount": amount}


def build_report(month: date, zone: ZoneInfo, currency: str, sums: Iterable[LedgerSum]) -> dict[str, Any]:
    """The report of the month beginning `month` (in the clinic's `zone`) from its ledger sums: a row per VAT
    class and kind, with the count of entries and the money of each column (minor units of `currency`), and
    the totals of the rows."""
    figures = {row: {column: _Figure() for column in COLUMNS} for row in ROWS}
    for found in sums:
        column = COLUMN_OF_ENTRY.get(found.entry)
        row = (found.vat_class, found.kind)
        if column is None or row not in figures:
            raise ValueError(f"not a reported ledger entry: {found.entry} of a {found.vat_class} {found.kind}")
        figure = figures[row][column]
        figure.count += found.entries
        # Paid for the units: the price pro rata (a money voucher's price is its face value: units are pence).
        figure.value += Fraction(abs(found.units) * found.price_amount, found.face_value)
    shown = {
        row: {column: _figure(f.count, _round_half_up(f.value)) for column, f in columns.items()}
        for row, columns in figures.items()
    }
    # The totals add up the rows as shown (each rounded once), so the table adds up.
    totals = {
        column: _figure(
            sum(shown[row][column]["count"] for row in ROWS), sum(shown[row][column]["amount"] for row in ROWS)
        )
        for column in COLUMNS
    }
    rows = [{"vat_class": vat_class, "kind": kind, **shown[(vat_class, kind)]} for vat_class, kind in ROWS]
    start, end = month_window(month, zone)
    return {
        "month": month.strftime("%Y-%m"),
        "timezone": zone.key,
        "from": start.astimezone(zone).isoformat(),
        "to": end.astimezone(zone).isoformat(),
        "currency": currency,
        "rows": rows,
        "totals": totals,
    }


def csv_cell(value: object) -> str:
    """A cell no spreadsheet runs as a formula: text beginning = + - @ (or a tab or carriage return) gets a
    leading apostrophe."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _decimal(amount: int) -> str:
    """Minor units as the major unit with two decimals (pence as pounds), as a spreadsheet reads a number."""
    sign = "-" if amount < 0 else ""
    whole, pence = divmod(abs(amount), 100)
    return f"{sign}{whole}.{pence:02d}"


CSV_HEADER = (
    "month",
    "vat_class",
    "kind",
    "currency",
    *(f"{column}_{part}" for column in COLUMNS for part in ("count", "amount")),
)


def report_csv(report: dict[str, Any]) -> str:
    """The report as CSV: a header row, a row per VAT class and kind, then the totals (vat_class `total`).
    Amounts in the major unit (pounds, two decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    lines = [*report["rows"], {"vat_class": "total", "kind": "", **report["totals"]}]
    for line in lines:
        cells: list[object] = [report["month"], line["vat_class"], line["kind"], report["currency"]]
        for column in COLUMNS:
            cells += [line[column]["count"], _decimal(line[column]["amount"])]
        writer.writerow([csv_cell(cell) for cell in cells])
    return out.getvalue()


def csv_filename(report: dict[str, Any]) -> str:
    return f"vouchers-{report['month']}.csv"
