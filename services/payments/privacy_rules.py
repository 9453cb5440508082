"""Data-protection rules of the payments service, with no I/O: which of a customer's gift vouchers are still in
progress (so they cannot be erased yet), and how an erased value and an email in a log line are shown.

What is kept when a customer is erased, and why: payments and refunds whole (HMRC: six years; the email the
receipt went to included, so a later export still finds them); a voucher sale's money (amounts, VAT class,
ledger, redemptions), so the voucher stays redeemable by its code; no-show and late-cancellation fees whole, as
payments (their email included). What goes: the buyer's and the recipient's names and emails on the voucher, its
gift message, that email in the buyer's delivery changes, and which Stripe Customer (saved cards) was the email's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from shared.gift_delivery import due_at

# What an erased value in a kept row reads.
ERASED = "[erased]"
VOUCHERS_IN_PROGRESS = "customer_has_vouchers_in_progress"
# Payments does not know when notifications actually sent a gift email, only when it is due (08:00 on its
# delivery day, clinic time: shared.gift_delivery). It counts as sent this long after that: the scheduler's
# claim and the send task's retries (5 s doubling to 10 min, 8 tries: about 20 minutes) fit inside it.
GIFT_SEND_GRACE = timedelta(hours=1)

AWAITING_PAYMENT = "awaiting_payment"
GIFT_NOT_SENT = "gift_email_not_sent"


def subject_email(email: str) -> str:
    """How a customer's email is matched: trimmed, case-insensitive."""
    return email.strip().lower()


def masked(email: str) -> str:
    """An email as a log line may show it: 'j***@example.com'."""
    local, at, domain = email.strip().partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


@dataclass(frozen=True)
class VoucherInProgress:
    """What the rule needs of one of the customer's vouchers."""

    voucher_id: uuid.UUID
    roles: tuple[str, ...]  # "buyer", "recipient", or both
    status: str
    payment_status: str | None  # of the voucher's own purchase
    deliver_on: date
    timezone: str


def in_progress(voucher: VoucherInProgress, now: datetime) -> str | None:
    """Why this voucher cannot lose its people yet, or None.

    - Awaiting payment: the payment may still succeed, and then the voucher is issued and its gift email and
      receipt go to these very people. Not once its payment was cancelled (final: it is never issued); the
      reconciler cancels a purchase left unpaid (domain.UNPAID_VOUCHER_EXPIRES_AFTER), so this never lasts.
    - Issued but its gift email not yet sent (due at 08:00 on the delivery day, plus GIFT_SEND_GRACE): the email
      needs the recipient's address and name and the buyer's name and message."""
    if voucher.status == "awaiting_payment":
        return None if voucher.payment_status == "canceled" else AWAITING_PAYMENT
    if voucher.status == "active" and now < due_at(voucher.deliver_on, ZoneInfo(voucher.timezone)) + GIFT_SEND_GRACE:
        return GIFT_NOT_SENT
    return None


def _day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B} {day.year}"


def vouchers_blocker(vouchers: Iterable[VoucherInProgress], now: datetime) -> dict[str, Any] | None:
    """The blocker for the vouchers still in progress ({code, message, details}), or None if there are none."""
    found = []
    for voucher in vouchers:
        reason = in_progress(voucher, now)
        if reason is not None:
            found.append((voucher, reason))
    if not found:
        return None
    unpaid = sum(1 for _, reason in found if reason == AWAITING_PAYMENT)
    unsent = sorted({v.deliver_on for v, reason in found if reason == GIFT_NOT_SENT})
    parts = []
    if unpaid:
        parts.append(f"{unpaid} still awaiting payment" if unpaid > 1 else "one still awaiting payment")
    if unsent:
        parts.append(f"gift emails not sent yet (due on {', '.join(_day(d) for d in unsent)})")
    message = (
        f"This customer has gift vouchers still in progress: {'; '.join(parts)}. "
        "Erase their data once each payment has gone through and each gift email has been sent."
    )
    details = {
        "vouchers": [
            {
                "voucher_id": str(v.voucher_id),
                "roles": list(v.roles),
                "reason": reason,
                "deliver_on": v.deliver_on.isoformat(),
            }
            for v, reason in found
        ]
    }
    return {"code": VOUCHERS_IN_PROGRESS, "message": message, "details": details}
