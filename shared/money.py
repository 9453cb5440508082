"""How money and what is on a voucher are said to customers (pure), by the pages and the emails alike."""

from __future__ import annotations

from typing import Any

CURRENCY_SIGNS = {"GBP": "£", "EUR": "€", "USD": "$"}


def money(amount: int, currency: str) -> str:
    """'£60.00' from minor units; another currency: '60.00 CHF'."""
    sign = CURRENCY_SIGNS.get(currency.upper())
    whole = f"{amount / 100:,.2f}"
    return f"{sign}{whole}" if sign else f"{whole} {currency.upper()}"


def voucher_value(value: dict[str, Any]) -> str:
    """A voucher's value: money ('£60.00'), or a number of sessions ('6 sessions')."""
    if "sessions" in value:
        return f"{value['sessions']} session{'s' if value['sessions'] != 1 else ''}"
    return money(value["amount"], value["currency"])


def voucher_paid(voucher: dict[str, Any] | None) -> str | None:
    """'Your gift voucher …WXYZ paid £50.00; £10.00 is left on it.' for a booking a voucher paid towards."""
    if not voucher:
        return None
    remaining = voucher["remaining"]
    nothing_left = not (remaining.get("amount") or remaining.get("sessions"))
    left = "nothing is left on it" if nothing_left else f"{voucher_value(remaining)} is left on it"
    return f"Your gift voucher {voucher['code_hint']} paid {voucher_value(voucher['value'])}; {left}."
