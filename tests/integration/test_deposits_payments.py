"""Deposits, payments' side (issue 20): the booking service names the most the card may pay now (`card_at_most`);
payments takes the voucher part first, the card part (at most that) by a PaymentIntent, and records the rest as due
at the clinic; the same answer on every call; a cancellation takes off what was still due and refunds what was
paid; the audit checks that the parts add up. Driven through payments' internal API, as the booking service calls it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from services.booking.seed import stable_id
from services.payments import consumer as payments_consumer
from shared import contracts
from shared.invariants import check_database
from shared.streams import HandlerContext
from tests.support.audit import charges_without_booking, open_intents_without_booking, parts_not_adding_up
from tests.support.booking import free_slots, hold
from tests.support.payments import customer_pays
from tests.support.vouchers import buy_voucher

CLINIC = stable_id("urban-therapy")
PARTS = "SELECT price, voucher_part, card_part, due_at_clinic, due_cancelled FROM booking_parts WHERE reference_id = $1"
PARTS_INVARIANT = "every booking's price is its voucher part + card part + due at the clinic"


async def audit(settings) -> list:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [
            *await charges_without_booking(conn),
            *await open_intents_without_booking(conn),
            *await parts_not_adding_up(conn),
        ]
    finally:
        await conn.close()


async def ask(payments, settings, held: dict, expect: int = 201, **fields) -> dict:
    """The booking service's request for a booking's payment (a 6500 treatment unless told)."""
    body = {
        "booking_id": held["id"],
        "clinic_id": str(CLINIC),
        "amount": 6500,
        "currency": "GBP",
        "customer_email": "ada@example.com",
        "treatment_id": held["treatment"],
        "sessions": 1,
        **fields,
    }
    resp = await payments.post(
        "/internal/v1/booking-payments", json=body, headers={"X-Internal-Token": settings.internal_token}
    )
    assert resp.status == expect, await resp.text()
    return await resp.json()


async def a_hold(booking, index: int = 0) -> dict:
    return await hold(booking, (await free_slots(booking))[index]["start"])


def gbp(amount: int) -> dict:
    return {"amount": amount, "currency": "GBP"}


async def test_a_deposit_is_the_card_part_and_the_rest_is_due_at_the_clinic(
    booking, payments, payments_pool, checkout, settings
):
    held = await a_hold(booking)
    answer = await ask(payments, settings, held, card_at_most=1300)

    assert answer["amount"] == 1300 and answer["covered"] is False and answer["voucher"] is None
    assert answer["due_at_clinic"] == gbp(5200)
    intent = await checkout.event_path.stripe.retrieve_intent(answer["stripe_payment_intent"])
    assert intent.amount == 1300, "the customer is asked for the deposit only"
    async with payments_pool.acquire() as conn:
        assert dict(await conn.fetchrow(PARTS, uuid.UUID(held["id"]))) == {
            "price": 6500,
            "voucher_part": 0,
            "card_part": 1300,
            "due_at_clinic": 5200,
            "due_cancelled": 0,
        }
        assert await conn.fetchval("SELECT amount FROM payments") == 1300


async def test_without_a_cap_the_card_pays_it_all_and_nothing_is_due_at_the_clinic(booking, payments, settings):
    answer = await ask(payments, settings, await a_hold(booking))
    assert answer["amount"] == 6500 and answer["due_at_clinic"] == gbp(0)


async def test_a_cap_above_the_price_is_the_price(booking, payments, settings):
    answer = await ask(payments, settings, await a_hold(booking), card_at_most=9000)
    assert answer["amount"] == 6500 and answer["due_at_clinic"] == gbp(0)


async def test_a_card_part_of_nothing_asks_stripe_for_nothing_and_all_is_due_at_the_clinic(
    booking, payments, payments_pool, settings
):
    answer = await ask(payments, settings, await a_hold(booking), card_at_most=0)
    assert answer["covered"] is True and answer["stripe_payment_intent"] is None and answer["amount"] == 0
    assert answer["due_at_clinic"] == gbp(6500)
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0


@pytest.mark.parametrize(
    "voucher, card, due",
    [
        (2500, 1300, 2700),  # the voucher pays less than the price less the deposit: the card pays the deposit
        (6000, 500, 0),  # it leaves less than the deposit: the card pays what is left, nothing at the clinic
        (7500, 0, 0),  # it pays it all: no card, nothing at the clinic
    ],
)
async def test_the_voucher_pays_first_then_the_card_at_most_the_deposit_then_the_clinic(
    booking, payments, payments_pool, checkout, settings, voucher, card, due
):
    _, code = await buy_voucher(payments, checkout, payments_pool, settings, amount=gbp(voucher))
    held = await a_hold(booking)
    answer = await ask(payments, settings, held, card_at_most=1300, voucher_code=code)

    assert answer["voucher"]["value"] == gbp(min(voucher, 6500))
    assert answer["amount"] == card and answer["covered"] is (card == 0)
    assert answer["due_at_clinic"] == gbp(due)
    async with payments_pool.acquire() as conn:
        parts = await conn.fetchrow(PARTS, uuid.UUID(held["id"]))
    assert (parts["voucher_part"], parts["card_part"], parts["due_at_clinic"]) == (min(voucher, 6500), card, due)
    assert await parts_not_adding_up_now(settings) == []


async def test_asking_again_gets_the_same_answer_and_another_cap_is_refused(
    booking, payments, payments_pool, checkout, settings
):
    _, code = await buy_voucher(payments, checkout, payments_pool, settings, amount=gbp(2500))
    held = await a_hold(booking)
    first = await ask(payments, settings, held, card_at_most=1300, voucher_code=code)
    again = await ask(payments, settings, held, card_at_most=1300, voucher_code=code)
    assert again == first

    nothing_now = await ask(payments, settings, held, expect=409, card_at_most=0, voucher_code=code)
    assert nothing_now["error"]["code"] == "payment_mismatch", "a retry may not turn a deposit into nothing to pay"
    more_now = await ask(payments, settings, held, expect=409, card_at_most=2000, voucher_code=code)
    assert more_now["error"]["code"] == "payment_mismatch"
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments WHERE purpose = 'booking'") == 1
        assert await conn.fetchval("SELECT count(*) FROM booking_parts") == 1
        assert await conn.fetchval("SELECT balance FROM vouchers") == 0, "the voucher was taken from once"


@pytest.mark.parametrize("bad", [-1, "some", 1.5])
async def test_a_cap_must_be_a_whole_amount_of_money(booking, payments, payments_pool, settings, bad):
    answer = await ask(payments, settings, await a_hold(booking), expect=422, card_at_most=bad)
    assert answer["error"]["code"] == "validation_failed"
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM booking_parts") == 0


# --- refunds ---------------------------------------------------------------------------------------


def cancelled(
    reference: str, price: int, *, by: str = "customer", series: str | None = None
) -> contracts.BookingChanged:
    start = datetime.now(timezone.utc) + timedelta(days=3)
    return contracts.BookingChanged(
        booking_id=reference if series is None else str(uuid.uuid4()),
        status="cancelled",
        clinic=contracts.ClinicRef(str(CLINIC), "urban-therapy", "Urban Therapy Clinic", "Europe/London"),
        treatment=contracts.TreatmentRef(str(uuid.uuid4()), "Deep tissue", 60),
        therapist=contracts.Ref(str(uuid.uuid4()), "Sam"),
        start=start,
        end=start + timedelta(hours=1),
        price=contracts.Money(price, "GBP"),
        customer=contracts.Person("Ada", "ada@example.com"),
        series=contracts.SeriesRef(series, 0) if series else None,
        cancelled_by=by,
    )


async def cancel(checkout, payments_pool, booking: contracts.BookingChanged) -> None:
    """What the payments consumer does with `booking.cancelled` (its own transaction, as the consumer's)."""
    handler = payments_consumer.build_handlers(checkout.event_path.stripe)["booking.cancelled"]
    async with payments_pool.acquire() as conn, conn.transaction():
        await handler(HandlerContext(conn), contracts.event(booking, "booking.cancelled", clinic_id=booking.clinic.id))


async def paid(payments, settings, held: dict, **fields) -> dict:
    """Asked for, and paid by the customer on (fake) Stripe, without running the event path."""
    answer = await ask(payments, settings, held, **fields)
    if answer["stripe_payment_intent"]:
        assert await customer_pays(settings.stripe_api_base, answer["stripe_payment_intent"]) == "succeeded"
    return answer


async def succeed(payments_pool, checkout, settings) -> None:
    """The payment's success recorded (the reconciler's path), its events left unpublished."""
    from services.payments import service as payments_service
    from tests.integration.conftest import issuer_for

    async with payments_pool.acquire() as conn, conn.transaction():
        await payments_service.reconcile(conn, checkout.event_path.stripe, 0, issuer_for(settings))


async def test_cancelling_a_deposit_booking_refunds_the_deposit_and_nothing_stays_due(
    booking, payments, payments_pool, checkout, settings
):
    held = await a_hold(booking)
    await paid(payments, settings, held, card_at_most=1300)
    await succeed(payments_pool, checkout, settings)

    await cancel(checkout, payments_pool, cancelled(held["id"], 6500))

    async with payments_pool.acquire() as conn:
        assert dict(await conn.fetchrow("SELECT amount, amount_refunded FROM payments")) == {
            "amount": 1300,
            "amount_refunded": 1300,
        }
        assert dict(await conn.fetchrow("SELECT amount, reason, status FROM refunds")) == {
            "amount": 1300,
            "reason": "cancelled_by_customer",
            "status": "succeeded",
        }
        assert (await conn.fetchrow(PARTS, uuid.UUID(held["id"])))["due_cancelled"] == 5200
    assert await parts_not_adding_up_now(settings) == []


async def test_the_clinic_cancelling_a_deposit_booking_restores_the_voucher_and_refunds_the_card_part(
    booking, payments, payments_pool, checkout, settings
):
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings, amount=gbp(2500))
    held = await a_hold(booking)
    await paid(payments, settings, held, card_at_most=1300, voucher_code=code)
    await succeed(payments_pool, checkout, settings)

    await cancel(checkout, payments_pool, cancelled(held["id"], 6500, by="clinic"))

    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT balance FROM vouchers WHERE id = $1", uuid.UUID(voucher["id"])) == 2500
        assert dict(await conn.fetchrow("SELECT amount, reason FROM refunds")) == {
            "amount": 1300,
            "reason": "cancelled_by_clinic",
        }
        assert (await conn.fetchrow(PARTS, uuid.UUID(held["id"])))["due_cancelled"] == 2700
    assert await parts_not_adding_up_now(settings) == []


async def test_cancelling_one_session_of_a_course_on_deposit_takes_it_off_what_is_due_and_refunds_nothing(
    booking, payments, payments_pool, checkout, settings
):
    series = str(uuid.uuid4())  # a course of six: payments knows it by the series it was asked about
    course = {"id": series, "treatment": (await a_hold(booking))["treatment"]}
    await paid(payments, settings, course, amount=36000, sessions=6, card_at_most=7200)
    await succeed(payments_pool, checkout, settings)

    await cancel(checkout, payments_pool, cancelled(series, 6000, series=series))
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM refunds") == 0, "only what was not yet paid is taken off"
        assert (await conn.fetchrow(PARTS, uuid.UUID(series)))["due_cancelled"] == 6000

    for _ in range(4):  # four more: 30000 taken off what was due (28800), the rest of them from the deposit
        await cancel(checkout, payments_pool, cancelled(series, 6000, series=series))
    async with payments_pool.acquire() as conn:
        assert (await conn.fetchrow(PARTS, uuid.UUID(series)))["due_cancelled"] == 28800
        assert await conn.fetchval("SELECT amount_refunded FROM payments") == 1200
    await cancel(checkout, payments_pool, cancelled(series, 6000, series=series))
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT amount_refunded FROM payments") == 7200, "the whole deposit, no more"


async def test_a_deposit_paid_for_a_booking_never_written_is_refunded_in_full(
    booking, payments, payments_pool, checkout, settings
):
    held = await a_hold(booking)
    await paid(payments, settings, held, card_at_most=1300)
    await checkout.reconcile()  # the payment succeeds; the booking side finds no booking and asks for a refund
    async with payments_pool.acquire() as conn:
        assert dict(await conn.fetchrow("SELECT reason, amount FROM refunds")) == {
            "reason": "booking_never_written",
            "amount": 1300,
        }
    assert await audit(settings) == []


# --- the audit -------------------------------------------------------------------------------------


async def parts_not_adding_up_now(settings) -> list:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await parts_not_adding_up(conn)
    finally:
        await conn.close()


async def parts_invariant(settings):
    conn = await asyncpg.connect(settings.database_url)
    try:
        [finding] = [f for f in await check_database(conn, 0) if f.name.startswith(PARTS_INVARIANT)]
        return finding
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "breakage",
    [
        "UPDATE payments SET amount = 1400",  # the card took more than its part
        "UPDATE booking_parts SET due_at_clinic = 5100, card_part = 1400",  # parts add up, but not to the card
        "INSERT INTO refunds (id, payment_id, amount, reason, status) "
        "SELECT gen_random_uuid(), id, 1301, 'by hand', 'succeeded' FROM payments",  # refunded more than paid
    ],
)
async def test_the_audit_finds_parts_that_do_not_add_up(booking, payments, payments_pool, settings, breakage):
    held = await a_hold(booking)
    await ask(payments, settings, held, card_at_most=1300)
    assert await parts_not_adding_up_now(settings) == []
    assert (await parts_invariant(settings)).count == 0

    async with payments_pool.acquire() as conn:
        await conn.execute(breakage)

    [offender] = await parts_not_adding_up_now(settings)
    assert str(offender["reference_id"]) == held["id"]
    finding = await parts_invariant(settings)
    assert finding.count == 1 and finding.examples == [held["id"]]


async def test_the_audit_finds_a_price_other_than_the_bookings(booking, payments, booking_pool, settings):
    held = await a_hold(booking)
    await ask(payments, settings, held, card_at_most=1300)
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE bookings SET price_amount = 7000 WHERE id = $1", uuid.UUID(held["id"]))
    [offender] = await parts_not_adding_up_now(settings)
    assert str(offender["reference_id"]) == held["id"]
    assert (await parts_invariant(settings)).count == 1
