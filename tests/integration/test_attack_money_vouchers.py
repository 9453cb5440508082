"""Attacks on the money paths of vouchers: a voucher part must follow its booking whatever order things happen in."""

from __future__ import annotations

import uuid

import stripe

from services.booking import service as booking_service
from services.booking.unit_of_work import PostgresUnitOfWork
from services.payments import service as payments_service
from tests.integration.conftest import issuer_for
from tests.support.booking import booking_body, free_slots, hold
from tests.support.payments import customer_pays
from tests.support.vouchers import buy_voucher


async def ledger(pool, voucher_id) -> list[tuple[str, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT entry, units FROM voucher_ledger WHERE voucher_id = $1 ORDER BY id", uuid.UUID(voucher_id)
        )
    return [(r["entry"], r["units"]) for r in rows]


async def book_with_voucher(booking, code: str, slot_index: int = 0) -> dict:
    slots = await free_slots(booking)
    held = await hold(booking, slots[slot_index]["start"])
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"], voucher_code=code))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def let_time_run_out(pool, booking_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(booking_id)
        )
        assert await booking_service.expire_lapsed(PostgresUnitOfWork.on(conn)) == 1


async def status_of(pool, booking_id: str) -> str:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(booking_id))


async def test_a_booking_lapsing_with_a_voucher_part_gives_it_back_and_the_card_can_no_longer_pay(
    booking, payments, booking_pool, payments_pool, checkout, settings
):
    """£60 voucher + £5 card; the booking lapses unpaid, so the voucher part goes back. Paying the £5 afterwards
    used to re-book the £65 visit for £5 (the voucher spendable again): the card may not pay any more."""
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    pending = await book_with_voucher(booking, code)
    assert pending["payment"]["amount"] == 500
    await let_time_run_out(booking_pool, pending["id"])
    await checkout.event_path.drain()
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("redeem", -6000), ("release", 6000)]

    assert await late_payment(settings, pending) == "refused"
    await checkout.reconcile()

    assert await status_of(booking_pool, pending["id"]) == "expired"
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM payments WHERE purpose = 'booking'") == "canceled"
    assert await audit_clean(settings)


async def test_a_card_paying_the_rest_as_the_booking_lapses_keeps_the_voucher_part(
    booking, payments, booking_pool, payments_pool, checkout, settings
):
    """The card pays the £5 just as the booking lapses (its expiry not yet handled by payments): the booking is
    re-booked for its time, and the voucher part stays taken."""
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    pending = await book_with_voucher(booking, code)
    await let_time_run_out(booking_pool, pending["id"])
    assert await customer_pays(settings.stripe_api_base, pending["payment"]["stripe_payment_intent"]) == "succeeded"

    await checkout.reconcile()

    assert await status_of(booking_pool, pending["id"]) == "confirmed"
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("redeem", -6000)]
    assert await audit_clean(settings)


async def test_a_declined_card_then_a_lapse_leaves_no_payable_intent(
    booking, payments, booking_pool, payments_pool, checkout, settings
):
    """A declined card leaves the PaymentIntent open at Stripe (another card may pay it): a lapse must close it too,
    or a later payment re-books the visit with the voucher part given back."""
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    pending = await book_with_voucher(booking, code)
    assert await checkout.pay(pending, card="pm_card_chargeCustomerFail") == "declined"
    await webhook_says_payment_failed(checkout, pending)
    await let_time_run_out(booking_pool, pending["id"])
    await checkout.event_path.drain()

    # (Real Stripe takes another card on the same PaymentIntent; the fake cannot, so ask Stripe what it holds.)
    intent = await checkout.event_path.stripe.retrieve_intent(pending["payment"]["stripe_payment_intent"])
    assert intent.status == "canceled"
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM payments WHERE purpose = 'booking'") == "canceled"
    assert await status_of(booking_pool, pending["id"]) == "expired"
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("redeem", -6000), ("release", 6000)]
    assert await audit_clean(settings)


async def webhook_says_payment_failed(checkout, pending: dict) -> None:
    """Stripe's `payment_intent.payment_failed` webhook for the decline: our payment is then "failed"."""
    intent = await checkout.event_path.stripe.retrieve_intent(pending["payment"]["stripe_payment_intent"])
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "payment_intent.payment_failed",
        "data": {
            "object": {
                "id": intent.id,
                "status": intent.status,
                "amount": intent.amount,
                "currency": intent.currency,
                "metadata": intent.metadata,
            }
        },
    }
    async with checkout.payments_pool.acquire() as conn, conn.transaction():
        assert await payments_service.handle_stripe_event(conn, event, issuer_for(checkout.settings))
        assert await conn.fetchval("SELECT status FROM payments WHERE purpose = 'booking'") == "failed"


async def late_payment(settings, pending: dict) -> str:
    """The customer pays the card part after all (a tab left open): Stripe's answer, or "refused"."""
    try:
        return await customer_pays(settings.stripe_api_base, pending["payment"]["stripe_payment_intent"])
    except stripe.InvalidRequestError:  # a cancelled PaymentIntent can no longer be paid
        return "refused"


async def audit_clean(settings) -> bool:
    import asyncpg

    from tests.support.audit import charges_without_booking, parts_not_adding_up

    conn = await asyncpg.connect(settings.database_url)
    try:
        found = [*await charges_without_booking(conn), *await parts_not_adding_up(conn)]
    finally:
        await conn.close()
    assert found == []
    return True
