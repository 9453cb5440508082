"""No-show and late-cancellation fees, payments' side (issue 20): `booking.no_show` and `booking.cancelled` carrying
a `fee` record it once per booking and kind and charge it off session to the booking's saved card (`fee.charged`
via "off_session"); a declined card or none saved records it failed (`fee.failed` with the pay link's token); the
customer pays it from the link (`fee.charged` via "pay_link"); the audit finds a fee charged twice. Driven through
the payments consumer's handlers and public API, against the fake Stripe."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from services.payments import consumer as payments_consumer
from services.payments import voucher_service
from services.payments.stripe_gateway import StripeGateway, StripeUnavailable
from shared import contracts
from shared.invariants import check_database
from shared.streams import HandlerContext
from tests.integration.test_deposits_payments import CLINIC, a_hold, ask, succeed
from tests.integration.test_payments_saved_card import audit, cards_of, confirm_setup, fake_stripe, outbox
from tests.support.audit import fees_not_matching
from tests.support.payments import customer_pays

FEE_INVARIANT = "every fee charged is charged once"


def marked(
    booking_id: str,
    kind: str = "no_show",
    amount: int = 3250,
    *,
    series: str | None = None,
    status: str | None = None,
) -> contracts.BookingChanged:
    start = datetime.now(timezone.utc) - timedelta(hours=2)
    return contracts.BookingChanged(
        booking_id=booking_id,
        status=status or ("no_show" if kind == "no_show" else "cancelled"),
        clinic=contracts.ClinicRef(str(CLINIC), "urban-therapy", "Urban Therapy Clinic", "Europe/London"),
        treatment=contracts.TreatmentRef(str(uuid.uuid4()), "Sports massage", 60),
        therapist=contracts.Ref(str(uuid.uuid4()), "Sam"),
        start=start,
        end=start + timedelta(hours=1),
        price=contracts.Money(6500, "GBP"),
        customer=contracts.Person("Ada", "ada@example.com"),
        series=contracts.SeriesRef(series, 0) if series else None,
        cancelled_by="customer" if kind == "late_cancellation" else None,
        fee=contracts.FeeDue(kind, contracts.Money(amount, "GBP")),
    )


async def deliver(checkout, payments_pool, booking: contracts.BookingChanged, stripe_gateway=None, event=None):
    """What the payments consumer does with the event (its own transaction, as the consumer's)."""
    event_type = "booking.no_show" if booking.status == "no_show" else "booking.cancelled"
    handlers = payments_consumer.build_handlers(stripe_gateway or checkout.event_path.stripe)
    event = event or contracts.event(booking, event_type, clinic_id=booking.clinic.id)
    async with payments_pool.acquire() as conn, conn.transaction():
        await handlers[event_type](HandlerContext(conn), event)
    return event


async def saved_card_booking(booking, payments, payments_pool, checkout, settings, index: int = 0) -> dict:
    """A booking that saved the card: paid (6500) and its success recorded, as the reconciler does."""
    held = await a_hold(booking, index)
    answer = await ask(payments, settings, held, save_card=True)
    assert await customer_pays(settings.stripe_api_base, answer["stripe_payment_intent"]) == "succeeded"
    await succeed(payments_pool, checkout, settings)
    return held


async def fee_row(payments_pool, booking_id: str, kind: str = "no_show"):
    async with payments_pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT * FROM booking_fees WHERE booking_id = $1 AND kind = $2", uuid.UUID(booking_id), kind
        )


async def stripe_intent(settings, intent_id: str) -> dict:
    http, client = fake_stripe(settings)
    try:
        return (await client.v1.payment_intents.retrieve_async(intent_id)).to_dict()
    finally:
        await http.close_async()


def pay_token(settings, fee_id) -> str:
    return voucher_service.CodeKeys(settings.voucher_code_key).link_token("fee", uuid.UUID(str(fee_id)))


async def test_a_no_show_fee_is_charged_off_session_to_the_saved_card(
    booking, payments, payments_pool, checkout, settings
):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    async with payments_pool.acquire() as conn:  # as recorded before its attaching (which failed, say)
        await conn.execute("UPDATE saved_cards SET attached_at = NULL, payment_method = 'pm_card_visa'")
    await deliver(checkout, payments_pool, marked(held["id"]))

    fee = await fee_row(payments_pool, held["id"])
    assert fee["status"] == "charged" and fee["amount"] == 3250 and fee["failure"] is None
    async with payments_pool.acquire() as conn:
        card = await conn.fetchrow("SELECT * FROM saved_cards")
    assert card["attached_at"] is not None, "attached when the fee needed it"
    assert card["payment_method"] in await cards_of(settings, card["stripe_customer"])
    charged = await stripe_intent(settings, fee["stripe_payment_intent"])
    assert charged["status"] == "succeeded" and charged["amount"] == 3250 and charged["currency"] == "gbp"
    assert charged["customer"] == card["stripe_customer"]
    assert charged["latest_charge"]["payment_method"] == card["payment_method"]
    assert charged["metadata"] == {
        "purpose": "fee",
        "fee_id": str(fee["id"]),
        "reference_id": held["id"],
        "clinic_id": str(CLINIC),
    }
    [event] = await outbox(payments_pool, "fee.charged")
    assert event["clinic_id"] == str(CLINIC)
    assert event["data"] == {
        "fee_id": str(fee["id"]),
        "booking_id": held["id"],
        "kind": "no_show",
        "amount": {"amount": 3250, "currency": "GBP"},
        "customer_email": "ada@example.com",
        "via": "off_session",
    }
    await mark_in_booking(settings, held["id"], "no_show")
    assert await audit(settings) == []


async def test_the_same_event_twice_and_a_second_mark_charge_once(booking, payments, payments_pool, checkout, settings):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    event = await deliver(checkout, payments_pool, marked(held["id"]))
    await deliver(checkout, payments_pool, marked(held["id"]), event=event)  # redelivered
    await deliver(checkout, payments_pool, marked(held["id"]))  # marked again: a new event
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM booking_fees") == 1
    assert len(await outbox(payments_pool, "fee.charged")) == 1
    assert len(await outbox(payments_pool, "fee.failed")) == 0


async def test_a_late_cancellation_refunds_what_was_paid_and_charges_the_fee(
    booking, payments, payments_pool, checkout, settings
):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    await deliver(checkout, payments_pool, marked(held["id"], "late_cancellation", 2000))

    fee = await fee_row(payments_pool, held["id"], "late_cancellation")
    assert fee["status"] == "charged" and fee["amount"] == 2000
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT amount_refunded FROM payments WHERE purpose = 'booking'") == 6500
    [event] = await outbox(payments_pool, "fee.charged")
    assert event["data"]["kind"] == "late_cancellation" and event["data"]["via"] == "off_session"


async def test_a_course_session_is_charged_to_the_card_its_series_saved(
    booking, payments, payments_pool, checkout, settings
):
    series = str(uuid.uuid4())
    course = {"id": series, "treatment": (await a_hold(booking))["treatment"]}
    answer = await ask(payments, settings, course, amount=36000, sessions=6, save_card=True)
    await customer_pays(settings.stripe_api_base, answer["stripe_payment_intent"])
    await succeed(payments_pool, checkout, settings)

    session = str(uuid.uuid4())
    await deliver(checkout, payments_pool, marked(session, series=series))
    fee = await fee_row(payments_pool, session)
    assert fee["status"] == "charged" and str(fee["paid_for"]) == series


async def test_a_card_saved_by_a_setup_intent_is_charged(booking, payments, payments_pool, checkout, settings):
    held = await a_hold(booking)
    answer = await ask(payments, settings, held, save_card=True, card_at_most=0)
    await confirm_setup(settings, answer["stripe_setup_intent"])
    await payments.post(f"/api/v1/stripe/setup-intents/{answer['stripe_setup_intent']}/refresh")
    await deliver(checkout, payments_pool, marked(held["id"]))
    assert (await fee_row(payments_pool, held["id"]))["status"] == "charged"


async def test_a_declined_off_session_charge_is_failed_with_a_pay_link(
    booking, payments, payments_pool, checkout, settings
):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    async with payments_pool.acquire() as conn:
        customer = await conn.fetchval("SELECT stripe_customer FROM saved_cards")
    http, client = fake_stripe(settings)
    try:  # the saved card is one the bank declines off session
        failing = await client.v1.payment_methods.attach_async(
            "pm_card_chargeCustomerFail", params={"customer": customer}
        )
    finally:
        await http.close_async()
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE saved_cards SET payment_method = $1, attached_at = now()", failing.id)

    await deliver(checkout, payments_pool, marked(held["id"]))

    fee = await fee_row(payments_pool, held["id"])
    assert fee["status"] == "failed" and fee["failure"] == "Your card was declined"
    assert fee["stripe_payment_intent"] is None
    [event] = await outbox(payments_pool, "fee.failed")
    assert event["data"] == {
        "fee_id": str(fee["id"]),
        "booking_id": held["id"],
        "kind": "no_show",
        "amount": {"amount": 3250, "currency": "GBP"},
        "customer_email": "ada@example.com",
        "failure": "Your card was declined",
        "pay_token": pay_token(settings, fee["id"]),
    }
    assert await outbox(payments_pool, "fee.charged") == []


async def test_no_saved_card_is_a_failed_fee(booking, payments, payments_pool, checkout, settings):
    held = await a_hold(booking)
    await ask(payments, settings, held)  # paid without saving the card
    await deliver(checkout, payments_pool, marked(held["id"]))
    fee = await fee_row(payments_pool, held["id"])
    assert fee["status"] == "failed" and fee["failure"] == "No card was saved for this booking"
    [event] = await outbox(payments_pool, "fee.failed")
    assert event["data"]["pay_token"] == pay_token(settings, fee["id"])


async def test_stripe_unavailable_records_nothing_so_the_event_is_retried(
    booking, payments, payments_pool, checkout, settings
):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    async with payments_pool.acquire() as conn:  # already attached: the charge is the first call to Stripe
        await conn.execute("UPDATE saved_cards SET attached_at = now()")
    down = StripeGateway(settings.with_overrides(stripe_api_base="http://127.0.0.1:9"))
    try:
        with pytest.raises(StripeUnavailable):
            await deliver(checkout, payments_pool, marked(held["id"]), stripe_gateway=down)
    finally:
        await down.close()
    assert await fee_row(payments_pool, held["id"]) is None
    await deliver(checkout, payments_pool, marked(held["id"]))  # the retry charges it
    assert (await fee_row(payments_pool, held["id"]))["status"] == "charged"


async def test_an_event_without_a_fee_charges_nothing(booking, payments, payments_pool, checkout, settings):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    plain = marked(held["id"])
    await deliver(checkout, payments_pool, contracts.BookingChanged(**{**plain.__dict__, "fee": None}))
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM booking_fees") == 0


# --- the pay link ------------------------------------------------------------------------------------


async def failed_fee(booking, payments, payments_pool, checkout, settings) -> tuple[dict, asyncpg.Record]:
    held = await a_hold(booking)
    await ask(payments, settings, held)
    await deliver(checkout, payments_pool, marked(held["id"]))
    return held, await fee_row(payments_pool, held["id"])


async def test_the_pay_link_shows_the_fee_and_takes_its_payment_once(
    booking, payments, payments_pool, checkout, settings
):
    held, fee = await failed_fee(booking, payments, payments_pool, checkout, settings)
    token = pay_token(settings, fee["id"])

    resp = await payments.get(f"/api/v1/fees/{fee['id']}", params={"token": token})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert await resp.json() == {
        "id": str(fee["id"]),
        "kind": "no_show",
        "amount": {"amount": 3250, "currency": "GBP"},
        "status": "failed",
        "booking_id": held["id"],
        "clinic_id": str(CLINIC),
        "created_at": fee["created_at"].isoformat(),
        "failure": "No card was saved for this booking",
    }

    resp = await payments.post(f"/api/v1/fees/{fee['id']}/pay", json={"token": token})
    assert resp.status == 200, await resp.text()
    pay = await resp.json()
    assert set(pay) == {"client_secret", "stripe_payment_intent", "amount", "status"}
    assert pay["amount"] == {"amount": 3250, "currency": "GBP"} and pay["status"] == "requires_payment"
    assert pay["client_secret"].startswith(pay["stripe_payment_intent"])
    again = await (await payments.post(f"/api/v1/fees/{fee['id']}/pay", json={"token": token})).json()
    assert again == pay, "asked again before paying: the same payment"

    assert await customer_pays(settings.stripe_api_base, pay["stripe_payment_intent"]) == "succeeded"
    await succeed(payments_pool, checkout, settings)

    assert (await fee_row(payments_pool, held["id"]))["status"] == "paid"
    [event] = await outbox(payments_pool, "fee.charged")
    assert event["data"]["via"] == "pay_link" and event["data"]["fee_id"] == str(fee["id"])
    assert await outbox(payments_pool, "payment.succeeded") == [], "a fee's payment is no booking's payment"
    resp = await payments.get(f"/api/v1/fees/{fee['id']}", params={"token": token})
    assert (await resp.json())["status"] == "paid"
    resp = await payments.post(f"/api/v1/fees/{fee['id']}/pay", json={"token": token})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "fee_already_paid"

    await mark_in_booking(settings, held["id"], "no_show")
    assert await audit(settings) == []


async def test_a_failed_pay_link_payment_is_replaced(booking, payments, payments_pool, checkout, settings):
    _, fee = await failed_fee(booking, payments, payments_pool, checkout, settings)
    token = pay_token(settings, fee["id"])
    first = await (await payments.post(f"/api/v1/fees/{fee['id']}/pay", json={"token": token})).json()
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE payments SET status = 'failed' WHERE purpose = 'fee'")
    second = await (await payments.post(f"/api/v1/fees/{fee['id']}/pay", json={"token": token})).json()
    assert second["stripe_payment_intent"] != first["stripe_payment_intent"]
    assert second["status"] == "requires_payment"
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments WHERE purpose = 'fee'") == 1


async def test_a_fee_charged_off_session_cannot_be_paid_again(booking, payments, payments_pool, checkout, settings):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    await deliver(checkout, payments_pool, marked(held["id"]))
    fee = await fee_row(payments_pool, held["id"])
    resp = await payments.post(f"/api/v1/fees/{fee['id']}/pay", json={"token": pay_token(settings, fee["id"])})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "fee_already_paid"


@pytest.mark.parametrize("how", ["wrong token", "no token", "another fee's token", "not a uuid"])
async def test_a_bad_pay_link_is_not_found(booking, payments, payments_pool, checkout, settings, how):
    _, fee = await failed_fee(booking, payments, payments_pool, checkout, settings)
    fee_id, token = str(fee["id"]), pay_token(settings, fee["id"])
    if how == "wrong token":
        token = token[:-2] + "xx"
    elif how == "no token":
        token = ""
    elif how == "another fee's token":
        token = pay_token(settings, uuid.uuid4())
    else:
        fee_id = "nope"
    resp = await payments.get(f"/api/v1/fees/{fee_id}", params={"token": token})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "fee_not_found"
    resp = await payments.post(f"/api/v1/fees/{fee_id}/pay", json={"token": token or "x"})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "fee_not_found"


async def test_an_unknown_fee_with_its_own_valid_token_is_not_found(payments, settings):
    fee_id = uuid.uuid4()
    resp = await payments.get(f"/api/v1/fees/{fee_id}", params={"token": pay_token(settings, fee_id)})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "fee_not_found"


# --- the audit -------------------------------------------------------------------------------------


async def mark_in_booking(settings, booking_id: str, status: str) -> None:
    """The booking service's side of the mark (these tests drive payments alone)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("UPDATE booking.bookings SET status = $2 WHERE id = $1", uuid.UUID(booking_id), status)
    finally:
        await conn.close()


async def fee_findings(settings) -> tuple[list, object]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        [finding] = [f for f in await check_database(conn, 0) if f.name.startswith(FEE_INVARIANT)]
        return await fees_not_matching(conn), finding
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "breakage",
    [
        # charged off session and paid from the link as well
        "INSERT INTO payments (id, clinic_id, purpose, reference_id, amount, currency, stripe_payment_intent, status) "
        "SELECT gen_random_uuid(), clinic_id, 'fee', id, amount, currency, 'pi_twice', 'succeeded' FROM booking_fees",
        # said paid from the link with no payment
        "UPDATE booking_fees SET status = 'paid'",
        # charged for a booking not marked no-show
        "UPDATE booking_fees SET booking_id = gen_random_uuid()",
    ],
)
async def test_the_audit_finds_a_fee_charged_twice_or_for_nothing(
    booking, payments, payments_pool, checkout, settings, breakage
):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    await deliver(checkout, payments_pool, marked(held["id"]))
    await mark_in_booking(settings, held["id"], "no_show")
    rows, finding = await fee_findings(settings)
    assert rows == [] and finding.count == 0

    async with payments_pool.acquire() as conn:
        await conn.execute(breakage)

    rows, finding = await fee_findings(settings)
    assert len(rows) == 1 and finding.count == 1


async def test_a_fee_payment_without_its_fee_paid_is_a_charge_without_a_booking(
    booking, payments, payments_pool, checkout, settings
):
    _, fee = await failed_fee(booking, payments, payments_pool, checkout, settings)
    pay = await (
        await payments.post(f"/api/v1/fees/{fee['id']}/pay", json={"token": pay_token(settings, fee["id"])})
    ).json()
    async with payments_pool.acquire() as conn:  # money taken, but the fee not recorded paid
        await conn.execute(
            "UPDATE payments SET status = 'succeeded' WHERE stripe_payment_intent = $1", pay["stripe_payment_intent"]
        )
    assert [r["purpose"] for r in await audit(settings)] == ["fee"]


# --- data protection ----------------------------------------------------------------------------------


async def test_the_export_lists_the_fees_and_erasure_keeps_them_and_forgets_the_customer(
    booking, payments, payments_pool, checkout, settings
):
    from tests.integration.test_privacy_payments import erased, export

    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    await deliver(checkout, payments_pool, marked(held["id"]))
    fee = await fee_row(payments_pool, held["id"])

    [shown] = (await export(payments, settings, "ADA@example.com"))["fees"]
    assert shown["id"] == str(fee["id"]) and shown["kind"] == "no_show" and shown["status"] == "charged"
    assert shown["amount"] == {"amount": 3250, "currency": "GBP"} and shown["booking_id"] == held["id"]

    dry = await erased(payments, settings, "ada@example.com", dry_run=True)
    assert dry["keep"]["fees"] == 1 and dry["erase"]["stripe_customers"] == 1
    done = await erased(payments, settings, "ada@example.com")
    assert done["kept"]["fees"] == 1 and done["erased"]["stripe_customers"] == 1
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stripe_customers") == 0
        assert await conn.fetchval("SELECT count(*) FROM booking_fees") == 1, "kept, as payments are (HMRC)"
