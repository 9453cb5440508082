"""What the manage page says about a booking's payment, from the booking service's answer (services/web/manage.py
due_of): the amount from minor units, the pay-by time in the clinic's zone with the zone named, lapsed once that
time has passed, and received once payments has the money."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from services.web.manage import due_of

LONDON = ZoneInfo("Europe/London")


def answer(pay_by: str, status: str = "requires_payment") -> dict:
    return {
        "booking": "b",
        "status": "pending_payment",
        "pay_by": pay_by,
        "amount_due": {"amount": 6500, "currency": "GBP"},
        "payment": {"status": status, "stripe_payment_intent": "pi_1", "client_secret": "pi_1_secret_x"},
    }


def test_the_amount_and_the_pay_by_time_in_the_clinics_zone():
    due = due_of(answer("2026-07-01T13:05:00+00:00"), LONDON, datetime(2026, 6, 30, tzinfo=timezone.utc))
    assert (due.amount, due.pay_by) == ("£65.00", "Wednesday 1 July 2026, 14:05 (UK time, BST)")
    assert due.amount_due == {"amount": 6500, "currency": "GBP"}
    assert (due.intent, due.client_secret, due.lapsed, due.received) == ("pi_1", "pi_1_secret_x", False, False)
    winter = due_of(answer("2026-12-01T13:05:00+00:00"), LONDON, datetime(2026, 11, 30, tzinfo=timezone.utc))
    assert winter.pay_by == "Tuesday 1 December 2026, 13:05 (UK time, GMT)"


def test_lapsed_from_the_pay_by_time_on():
    pay_by = datetime(2026, 7, 1, 13, 5, tzinfo=timezone.utc)
    assert not due_of(answer(pay_by.isoformat()), LONDON, pay_by - timedelta(seconds=1)).lapsed
    assert due_of(answer(pay_by.isoformat()), LONDON, pay_by).lapsed


def test_a_payment_payments_has_the_money_for_is_received():
    now = datetime(2026, 6, 30, tzinfo=timezone.utc)
    for status, received in (("succeeded", True), ("processing", True), ("requires_payment", False), ("failed", False)):
        assert due_of(answer("2026-07-01T13:05:00+00:00", status), LONDON, now).received is received, status
