"""A booking that lapses while its card payment is processing: the voucher part waits on that payment, and goes back
(exactly once) if the payment then fails."""

from __future__ import annotations

import dataclasses

import pytest

from services.payments.stripe_gateway import StripeRefused
from tests.integration.test_attack_money_vouchers import (
    audit_clean,
    book_with_voucher,
    late_payment,
    ledger,
    let_time_run_out,
    status_of,
    webhook_says_payment_failed,
)
from tests.support.vouchers import buy_voucher


def stripe_has_it_processing(monkeypatch, stripe) -> None:
    """As Stripe answers for a processing PaymentIntent (the fake cannot process): it may not be cancelled, and
    retrieving it says `processing`."""
    retrieve = stripe.retrieve_intent

    async def refuse_cancel(intent_id: str):
        raise StripeRefused("You cannot cancel this PaymentIntent because it has a status of processing.")

    async def processing(intent_id: str):
        return dataclasses.replace(await retrieve(intent_id), status="processing")

    monkeypatch.setattr(stripe, "cancel_intent", refuse_cancel)
    monkeypatch.setattr(stripe, "retrieve_intent", processing)


async def test_a_processing_payment_failing_after_the_lapse_gives_the_voucher_part_back_once(
    booking, payments, booking_pool, payments_pool, checkout, settings
):
    """£60 voucher + £5 card, the card payment processing when the booking lapses: the part stays taken (the card
    may yet pay, and then the booking side re-books or refunds both parts). The payment then fails: the part goes
    back once, and the card may no longer pay."""
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    pending = await book_with_voucher(booking, code)
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE payments SET status = 'processing' WHERE purpose = 'booking'")

    with pytest.MonkeyPatch.context() as monkeypatch:
        stripe_has_it_processing(monkeypatch, checkout.event_path.stripe)
        await let_time_run_out(booking_pool, pending["id"])
        await checkout.event_path.drain()
        await checkout.reconcile()
    assert await status_of(booking_pool, pending["id"]) == "expired"
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("redeem", -6000)]

    await webhook_says_payment_failed(checkout, pending)
    await checkout.reconcile()
    await checkout.reconcile()  # once more: nothing more goes back

    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("redeem", -6000), ("release", 6000)]
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM payments WHERE purpose = 'booking'") == "canceled"
    assert await late_payment(settings, pending) == "refused"
    assert await status_of(booking_pool, pending["id"]) == "expired"
    assert await audit_clean(settings)
