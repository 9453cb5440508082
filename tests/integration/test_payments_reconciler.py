"""The payments reconciler's housekeeping: a gift-voucher purchase left unpaid is cancelled after a day (at Stripe
too), so it no longer blocks its buyer's erasure, unless Stripe says it was paid meanwhile, when it is issued; saved
cards Stripe refuses to attach back off and are given up, never holding up the others; and the clinic fees list has
its index. Against the fake Stripe and this test's own database."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
import stripe

from services.payments import service as payments_service
from services.payments import store
from services.payments.domain import ATTACH_FIRST_RETRY, ATTACH_TRIES, UNPAID_VOUCHER_EXPIRES_AFTER
from services.payments.stripe_gateway import StripeGateway
from tests.integration.conftest import issuer_for
from tests.integration.test_payments_saved_card import outbox
from tests.integration.test_privacy_payments import ADA, URBAN, erase, erased
from tests.support.payments import customer_pays
from tests.support.vouchers import purchase_body

# --- gift-voucher purchases left unpaid ------------------------------------------------------------------------


async def start_purchase(payments) -> dict:
    """Ada opens the voucher pay page (a PaymentIntent is made for her) and walks away."""
    resp = await payments.post("/api/v1/vouchers", json=purchase_body())
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def started_ago(payments_pool, voucher: dict, age: timedelta) -> None:
    """Time passes: the purchase (its voucher and its payment) started `age` ago."""
    voucher_id = uuid.UUID(voucher["id"])
    async with payments_pool.acquire() as conn:
        await conn.execute(
            "UPDATE payments SET created_at = now() - $2::interval WHERE reference_id = $1", voucher_id, age
        )
        await conn.execute("UPDATE vouchers SET created_at = now() - $2::interval WHERE id = $1", voucher_id, age)


async def purchase_state(payments_pool, checkout, voucher: dict) -> tuple[str, str, str]:
    """(the voucher's status, its payment's status, its PaymentIntent's status at Stripe)."""
    async with payments_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT v.status AS voucher, p.status AS payment FROM vouchers v "
            "JOIN payments p ON p.purpose = 'voucher' AND p.reference_id = v.id WHERE v.id = $1",
            uuid.UUID(voucher["id"]),
        )
    intent = await checkout.event_path.stripe.retrieve_intent(voucher["payment"]["stripe_payment_intent"])
    return row["voucher"], row["payment"], intent.status


async def test_an_abandoned_purchase_is_cancelled_after_a_day_and_its_buyer_can_then_be_erased(
    payments, payments_pool, checkout, settings
):
    unpaid = await start_purchase(payments)
    await started_ago(payments_pool, unpaid, UNPAID_VOUCHER_EXPIRES_AFTER + timedelta(minutes=1))
    assert (await erase(payments, settings, ADA, dry_run=False)).status == 409, "still awaiting payment"

    await checkout.reconcile()  # the reconciler's round

    assert await purchase_state(payments_pool, checkout, unpaid) == ("awaiting_payment", "canceled", "canceled")
    [event] = await outbox(payments_pool, "payment.canceled")
    assert event["data"]["purpose"] == "voucher" and event["data"]["reference_id"] == unpaid["id"]
    assert await outbox(payments_pool, "voucher.purchased") == [], "never issued"
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT code_hash FROM vouchers WHERE id = $1", uuid.UUID(unpaid["id"])) is None
    assert (await erased(payments, settings, ADA))["erased"]["vouchers_bought"] == 1

    # Too late for the buyer to pay it now: Stripe refuses a cancelled PaymentIntent, so nothing is charged.
    with pytest.raises(stripe.InvalidRequestError):
        await customer_pays(settings.stripe_api_base, unpaid["payment"]["stripe_payment_intent"])


async def test_a_declined_purchase_not_tried_again_is_cancelled_too(payments, payments_pool, checkout, settings):
    unpaid = await start_purchase(payments)
    stripe_intent = unpaid["payment"]["stripe_payment_intent"]
    assert await customer_pays(settings.stripe_api_base, stripe_intent, "pm_card_chargeCustomerFail") == "declined"
    async with payments_pool.acquire() as conn:  # as Stripe's payment_intent.payment_failed webhook records it
        await conn.execute("UPDATE payments SET status = 'failed' WHERE stripe_payment_intent = $1", stripe_intent)
    await started_ago(payments_pool, unpaid, UNPAID_VOUCHER_EXPIRES_AFTER + timedelta(minutes=1))

    await checkout.reconcile()

    assert await purchase_state(payments_pool, checkout, unpaid) == ("awaiting_payment", "canceled", "canceled")
    assert (await erased(payments, settings, ADA))["erased"]["vouchers_bought"] == 1


async def test_a_purchase_younger_than_a_day_is_left_to_be_paid(payments, payments_pool, checkout, settings):
    unpaid = await start_purchase(payments)
    await started_ago(payments_pool, unpaid, UNPAID_VOUCHER_EXPIRES_AFTER - timedelta(minutes=5))

    await checkout.reconcile()

    assert await purchase_state(payments_pool, checkout, unpaid) == (
        "awaiting_payment",
        "requires_payment",
        "requires_payment_method",
    )
    assert (await erase(payments, settings, ADA, dry_run=False)).status == 409
    assert await customer_pays(settings.stripe_api_base, unpaid["payment"]["stripe_payment_intent"]) == "succeeded"


async def test_a_purchase_paid_at_stripe_meanwhile_is_issued_not_cancelled(payments, payments_pool, checkout, settings):
    unpaid = await start_purchase(payments)
    await started_ago(payments_pool, unpaid, UNPAID_VOUCHER_EXPIRES_AFTER + timedelta(hours=1))
    # Ada pays just as the day runs out; neither its webhook nor the reconciler's check has come yet.
    assert await customer_pays(settings.stripe_api_base, unpaid["payment"]["stripe_payment_intent"]) == "succeeded"

    async with payments_pool.acquire() as conn, conn.transaction():
        expired = await payments_service.expire_unpaid_vouchers(conn, checkout.event_path.stripe, issuer_for(settings))

    assert expired == 0
    assert await purchase_state(payments_pool, checkout, unpaid) == ("active", "succeeded", "succeeded")
    [purchased] = await outbox(payments_pool, "voucher.purchased")
    assert purchased["data"]["voucher_id"] == unpaid["id"]
    assert await outbox(payments_pool, "payment.canceled") == []


# --- attaching saved cards --------------------------------------------------------------------------------------

REFUSED_CARD = "pm_card_visa_chargeDeclined"  # the fake Stripe declines attaching it, every time


async def save_cards(payments_pool, checkout, *cards: str) -> list[uuid.UUID]:
    """Saved cards of bookings (in this order, oldest first), none attached yet; their booking ids."""
    customer = await checkout.event_path.stripe.create_customer(metadata={}, idempotency_key=str(uuid.uuid4()))
    booking_ids = []
    async with payments_pool.acquire() as conn:
        for card in cards:
            booking_ids.append(uuid.uuid4())
            await store.save_card(
                conn, reference_id=booking_ids[-1], clinic_id=uuid.UUID(URBAN), customer=customer, payment_method=card
            )
    return booking_ids


async def attach_round(payments_pool, stripe, limit: int = 20) -> int:
    async with payments_pool.acquire() as conn, conn.transaction():
        return await payments_service.attach_saved_cards(conn, stripe, limit)


async def card(payments_pool, booking_id: uuid.UUID):
    async with payments_pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT *, next_attach_at - clock_timestamp() AS wait FROM saved_cards WHERE reference_id = $1", booking_id
        )


async def due_now(payments_pool) -> None:
    """Time passes: every card waiting for its next try is due."""
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE saved_cards SET next_attach_at = now() WHERE attached_at IS NULL")


async def test_a_refused_card_waits_and_the_next_is_attached_in_the_next_round(payments_pool, checkout):
    refused, fine = await save_cards(payments_pool, checkout, REFUSED_CARD, "pm_card_visa")
    stripe = checkout.event_path.stripe

    assert await attach_round(payments_pool, stripe, limit=1) == 0  # the oldest, refused
    first = await card(payments_pool, refused)
    assert first["attach_attempts"] == 1 and "declined" in first["last_attach_error"]
    assert first["attached_at"] is None and first["attach_gave_up_at"] is None
    assert ATTACH_FIRST_RETRY - timedelta(minutes=1) < first["wait"] <= ATTACH_FIRST_RETRY

    assert await attach_round(payments_pool, stripe, limit=1) == 1, "the refused card waits its turn"
    assert (await card(payments_pool, fine))["attached_at"] is not None
    assert (await card(payments_pool, refused))["attach_attempts"] == 1


async def test_a_refused_card_does_not_stop_the_round(payments_pool, checkout):
    refused, fine = await save_cards(payments_pool, checkout, REFUSED_CARD, "pm_card_visa")
    assert await attach_round(payments_pool, checkout.event_path.stripe) == 1
    assert (await card(payments_pool, fine))["attached_at"] is not None
    assert (await card(payments_pool, refused))["attach_attempts"] == 1


async def test_after_its_last_refusal_a_card_is_given_up_and_never_tried_again(payments_pool, checkout, caplog):
    caplog.set_level(logging.WARNING, logger="services.payments.service")
    [refused] = await save_cards(payments_pool, checkout, REFUSED_CARD)
    stripe = checkout.event_path.stripe
    waits = []
    for _ in range(ATTACH_TRIES):
        await due_now(payments_pool)
        assert await attach_round(payments_pool, stripe) == 0
        waits.append((await card(payments_pool, refused))["wait"])
    assert waits[1] > waits[0] * 1.9, "each wait longer than the last"

    given_up = await card(payments_pool, refused)
    assert given_up["attach_attempts"] == ATTACH_TRIES and given_up["attach_gave_up_at"] is not None
    [record] = [r for r in caplog.records if r.getMessage().startswith("gave up attaching a saved card")]
    assert record.levelno == logging.ERROR and "declined" in record.error and record.attempts == ATTACH_TRIES

    await due_now(payments_pool)
    [later] = await save_cards(payments_pool, checkout, "pm_card_visa")
    assert await attach_round(payments_pool, stripe) == 1, "only the new card"
    assert (await card(payments_pool, refused))["attach_attempts"] == ATTACH_TRIES, "not tried again"
    assert (await card(payments_pool, later))["attached_at"] is not None


async def test_stripe_unreachable_ends_the_round_without_counting_against_the_card(payments_pool, checkout, settings):
    first, second = await save_cards(payments_pool, checkout, "pm_card_visa", "pm_card_visa")
    down = StripeGateway(settings.with_overrides(stripe_api_base="http://127.0.0.1:9"))
    try:
        assert await attach_round(payments_pool, down) == 0
    finally:
        await down.close()
    tried = await card(payments_pool, first)
    assert tried["attach_attempts"] == 0 and tried["attach_gave_up_at"] is None and tried["wait"] > timedelta(0)
    untried = await card(payments_pool, second)
    assert untried["last_attach_error"] is None and untried["wait"] <= timedelta(0), "not tried: Stripe was down"

    assert await attach_round(payments_pool, checkout.event_path.stripe) == 1, "the other goes first next round"
    assert (await card(payments_pool, second))["attached_at"] is not None


# --- the clinic fees list ---------------------------------------------------------------------------------------


async def test_the_clinic_fees_list_has_an_index_in_its_order(payments_pool):
    async with payments_pool.acquire() as conn:
        definitions = await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'payments' AND tablename = 'booking_fees'"
        )
    assert any(r["indexdef"].endswith("USING btree (clinic_id, created_at DESC, id)") for r in definitions), definitions
