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


def deposit_paid(
    paid_now: dict[str, Any] | None, due_at_clinic: dict[str, Any] | None, *, course: bool = False
) -> str | None:
    """'Paid: £13.00 deposit. To pay at the clinic: £52.00.' for a booking paid by a deposit (issue 20); only the
    second sentence when the card paid nothing (a voucher paid the deposit); None when nothing is due at the clinic.
    A course's sessions each carry the whole course's amount due: said once, as the course's."""
    if not due_at_clinic or due_at_clinic.get("amount", 0) <= 0:
        return None
    where = "at the clinic for the whole course" if course else "at the clinic"
    rest = f"To pay {where}: {money(due_at_clinic['amount'], due_at_clinic['currency'])}."
    if paid_now and paid_now.get("amount", 0) > 0:
        return f"Paid: {money(paid_now['amount'], paid_now['currency'])} deposit. {rest}"
    return rest


def card_part(
    price: dict[str, Any], voucher: dict[str, Any] | None, due_at_clinic: dict[str, Any] | None
) -> dict[str, Any]:
    """What the card paid of `price`: the price less the voucher's money and what is due at the clinic."""
    voucher_amount = ((voucher or {}).get("value") or {}).get("amount", 0)
    due = (due_at_clinic or {}).get("amount", 0)
    return {"amount": max(0, price["amount"] - voucher_amount - due), "currency": price["currency"]}
