"""Rendering emails from event data (pure: no I/O beyond reading the packaged templates)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class RenderedEmail:
    kind: str
    to_address: str
    subject: str
    text_body: str
    html_body: str


def local_time_label(iso_utc: str, tz_name: str) -> str:
    """E.g. 'Tuesday 1 December 2026, 10:00 (Europe/London, GMT)': clinic wall time, zone named."""
    local = datetime.fromisoformat(iso_utc).astimezone(ZoneInfo(tz_name))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({tz_name}, {local.tzname()})"


def booking_confirmed(data: dict) -> RenderedEmail:
    context = {**data, "when": local_time_label(data["start"], data["clinic"]["timezone"])}
    return RenderedEmail(
        kind="booking_confirmed",
        to_address=data["customer"]["email"],
        subject=f"Booking confirmed: {data['treatment']['name']}, {context['when']}",
        text_body=_env.get_template("booking_confirmed.txt").render(context),
        html_body=_env.get_template("booking_confirmed.html").render(context),
    )


REFUND_REASONS = {
    "slot_taken_after_hold_expired": "Your payment arrived after your reserved time had been released, and "
                                     "someone else has since booked it, so we could not confirm your booking.",
    "booking_gone": "The booking this payment was for no longer exists, so nothing was booked.",
    "cancelled_by_customer": "This is for the appointment you cancelled.",
}
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


def money_label(amount: int, currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{amount / 100:,.2f}" if symbol else f"{amount / 100:,.2f} {currency.upper()}"


def payment_refunded(data: dict) -> RenderedEmail:
    context = {"amount": money_label(data["amount"]["amount"], data["amount"]["currency"]),
               "reason": REFUND_REASONS.get(data["reason"], ""), "payment_id": data["payment_id"]}
    return RenderedEmail(
        kind="payment_refunded",
        to_address=data["customer_email"],
        subject=f"Refund of {context['amount']}",
        text_body=_env.get_template("payment_refunded.txt").render(context),
        html_body=_env.get_template("payment_refunded.html").render(context),
    )
