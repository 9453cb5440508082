"""Which of a customer's gift vouchers hold up their erasure (services/payments/privacy_rules.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from services.payments.privacy_rules import VoucherInProgress, in_progress, masked, subject_email, vouchers_blocker

SUMMER_DAY = date(2026, 7, 10)  # 08:00 in London is 07:00 UTC (BST)
WINTER_DAY = date(2026, 12, 10)  # 08:00 in London is 08:00 UTC


def voucher(status: str = "active", payment: str | None = "succeeded", deliver_on: date = SUMMER_DAY, **kw):
    return VoucherInProgress(uuid.uuid4(), kw.get("roles", ("buyer",)), status, payment, deliver_on, "Europe/London")


@pytest.mark.parametrize(
    "day, now, reason",
    [
        (SUMMER_DAY, datetime(2026, 7, 9, 12, 0, tzinfo=timezone.utc), "gift_email_not_sent"),
        (SUMMER_DAY, datetime(2026, 7, 10, 7, 59, tzinfo=timezone.utc), "gift_email_not_sent"),  # due 07:00 UTC
        (SUMMER_DAY, datetime(2026, 7, 10, 8, 0, tzinfo=timezone.utc), None),  # due + an hour: it has gone
        (WINTER_DAY, datetime(2026, 12, 10, 8, 59, tzinfo=timezone.utc), "gift_email_not_sent"),
        (WINTER_DAY, datetime(2026, 12, 10, 9, 0, tzinfo=timezone.utc), None),
    ],
)
def test_a_gift_is_in_progress_until_an_hour_after_its_email_is_due(day, now, reason):
    assert in_progress(voucher(deliver_on=day), now) == reason


@pytest.mark.parametrize(
    "status, payment, reason",
    [
        ("awaiting_payment", "requires_payment", "awaiting_payment"),
        ("awaiting_payment", "failed", "awaiting_payment"),  # the buyer may try another card
        ("awaiting_payment", None, "awaiting_payment"),
        ("awaiting_payment", "canceled", None),  # final: never issued
        ("expired", "succeeded", None),
        ("void", "succeeded", None),
    ],
)
def test_an_unpaid_purchase_is_in_progress_unless_its_payment_was_cancelled(status, payment, reason):
    far_before = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert in_progress(voucher(status, payment, deliver_on=SUMMER_DAY + timedelta(days=30)), far_before) == reason


def test_the_blocker_names_each_voucher_and_says_what_to_wait_for():
    now = datetime(2026, 7, 1, tzinfo=timezone.utc)
    unpaid, unsent, done = voucher("awaiting_payment", "requires_payment"), voucher(roles=("recipient",)), voucher()
    blocker = vouchers_blocker([unpaid, unsent, done], datetime(2026, 7, 20, tzinfo=timezone.utc))
    assert blocker is not None and blocker["code"] == "customer_has_vouchers_in_progress"
    assert [v["voucher_id"] for v in blocker["details"]["vouchers"]] == [str(unpaid.voucher_id)]
    blocker = vouchers_blocker([unpaid, unsent], now)
    assert blocker is not None
    assert blocker["message"] == (
        "This customer has gift vouchers still in progress: one still awaiting payment; gift emails not sent yet "
        "(due on Friday 10 July 2026). Erase their data once each payment has gone through and each gift email "
        "has been sent."
    )
    assert blocker["details"]["vouchers"][1] == {
        "voucher_id": str(unsent.voucher_id),
        "roles": ["recipient"],
        "reason": "gift_email_not_sent",
        "deliver_on": "2026-07-10",
    }
    assert vouchers_blocker([done], datetime(2026, 7, 20, tzinfo=timezone.utc)) is None


def test_emails_are_matched_trimmed_and_case_blind_and_logged_masked():
    assert subject_email("  Ada@Example.COM ") == "ada@example.com"
    assert masked("ada@example.com") == "a***@example.com" and masked("nonsense") == "***"
