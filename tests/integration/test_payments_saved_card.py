"""Saved cards, payments' side (issue 20): a booking whose policy charges fees (or takes the card only) asks with
`save_card`: its PaymentIntent belongs to the customer's Stripe Customer (one per clinic and email), and once paid the
card is the booking's saved card, attached to the Customer (the fake attaches nothing on confirm). With nothing to
pay by card, a SetupIntent saves it: answered like a card payment with `setup: true`; its success (the pay page's
refresh, as the fake sends no events) emits `payment.succeeded` of amount 0 so the booking confirms."""

from __future__ import annotations

import json
import uuid

import asyncpg
import stripe

from services.payments import service as payments_service
from tests.integration.test_deposits_payments import a_hold, ask, succeed
from tests.integration.test_stripe_webhook import stripe_signature
from tests.support.audit import charges_without_booking, fees_not_matching, parts_not_adding_up
from tests.support.payments import customer_pays


def fake_stripe(settings):
    http = stripe.AIOHTTPClient()
    return http, stripe.StripeClient(
        "sk_test_browser", http_client=http, base_addresses={"api": settings.stripe_api_base}
    )


async def cards_of(settings, customer: str) -> list[str]:
    """The cards the fake Stripe lists as attached to the Customer."""
    http, client = fake_stripe(settings)
    try:
        found = await client.v1.payment_methods.list_async(params={"customer": customer, "type": "card"})
        return [pm.id for pm in found.data]
    finally:
        await http.close_async()


async def confirm_setup(settings, setup_intent: str, card: str = "pm_card_visa") -> str:
    """What Stripe.js (or the offline card form) does on the pay page: confirm the SetupIntent with the card."""
    http, client = fake_stripe(settings)
    try:
        setup = await client.v1.setup_intents.confirm_async(setup_intent, params={"payment_method": card})
        return setup.status
    finally:
        await http.close_async()


async def outbox(payments_pool, event_type: str) -> list[dict]:
    async with payments_pool.acquire() as conn:
        rows = await conn.fetch("SELECT envelope FROM outbox WHERE envelope->>'type' = $1 ORDER BY seq", event_type)
    return [json.loads(r["envelope"]) if isinstance(r["envelope"], str) else r["envelope"] for r in rows]


async def audit(settings) -> list:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [*await charges_without_booking(conn), *await parts_not_adding_up(conn), *await fees_not_matching(conn)]
    finally:
        await conn.close()


async def test_a_card_saving_payment_belongs_to_the_customer_and_saves_the_card_attached(
    booking, payments, payments_pool, checkout, settings
):
    held = await a_hold(booking)
    answer = await ask(payments, settings, held, save_card=True)
    assert answer["amount"] == 6500 and answer["setup"] is False and answer["stripe_setup_intent"] is None

    async with payments_pool.acquire() as conn:
        customer = await conn.fetchval("SELECT stripe_customer FROM stripe_customers")
        assert await conn.fetchval("SELECT stripe_customer FROM payments") == customer
    intent = await checkout.event_path.stripe.retrieve_intent(answer["stripe_payment_intent"])
    assert intent.customer == customer, "the PaymentIntent is the customer's, so its card can be saved"

    assert await customer_pays(settings.stripe_api_base, answer["stripe_payment_intent"]) == "succeeded"
    # Stripe's webhook for it: the card is recorded and, right after, attached to the Customer.
    http, client = fake_stripe(settings)
    try:
        paid = (await client.v1.payment_intents.retrieve_async(answer["stripe_payment_intent"])).to_dict()
    finally:
        await http.close_async()
    event = {"id": f"evt_{uuid.uuid4().hex}", "type": "payment_intent.succeeded", "data": {"object": paid}}
    payload = json.dumps(event).encode()
    resp = await payments.post(
        "/api/v1/stripe/webhook",
        data=payload,
        headers={"Stripe-Signature": stripe_signature(payload, settings.stripe_webhook_secret)},
    )
    assert resp.status == 200

    async with payments_pool.acquire() as conn:
        card = await conn.fetchrow("SELECT * FROM saved_cards WHERE reference_id = $1", uuid.UUID(held["id"]))
    assert card is not None and card["stripe_customer"] == customer and card["attached_at"] is not None
    assert await cards_of(settings, customer) == [card["payment_method"]]


async def test_one_customer_per_clinic_and_email_whatever_its_case(booking, payments, payments_pool, settings):
    await ask(payments, settings, await a_hold(booking, 0), save_card=True)
    await ask(payments, settings, await a_hold(booking, 1), save_card=True, customer_email="ADA@Example.com")
    await ask(payments, settings, await a_hold(booking, 2), save_card=True, customer_email="bob@example.com")
    await ask(payments, settings, await a_hold(booking, 3))  # no card to save: no Customer
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stripe_customers") == 2
        assert await conn.fetchval("SELECT count(DISTINCT stripe_customer) FROM payments") == 2
        assert await conn.fetchval("SELECT count(*) FROM payments WHERE stripe_customer IS NULL") == 1


async def test_without_save_card_the_payment_has_no_customer(booking, payments, checkout, settings):
    answer = await ask(payments, settings, await a_hold(booking))
    intent = await checkout.event_path.stripe.retrieve_intent(answer["stripe_payment_intent"])
    assert intent.customer is None and answer["setup"] is False


async def test_saving_a_card_with_nothing_to_pay_is_a_setup_intent_confirmed_by_refresh(
    booking, payments, payments_pool, settings
):
    held = await a_hold(booking)
    answer = await ask(payments, settings, held, save_card=True, card_at_most=0)

    assert answer["setup"] is True and answer["covered"] is False and answer["amount"] == 0
    assert answer["status"] == "requires_payment" and answer["id"] is not None
    assert answer["stripe_setup_intent"].startswith("seti_") and answer["stripe_payment_intent"] is None
    assert answer["client_secret"].startswith(answer["stripe_setup_intent"] + "_secret")
    assert answer["due_at_clinic"] == {"amount": 6500, "currency": "GBP"}
    again = await ask(payments, settings, held, save_card=True, card_at_most=0)
    assert again == answer, "asked again, the same SetupIntent"

    assert await confirm_setup(settings, answer["stripe_setup_intent"]) == "succeeded"
    resp = await payments.post(f"/api/v1/stripe/setup-intents/{answer['stripe_setup_intent']}/refresh")
    assert resp.status == 200 and await resp.json() == {"status": "succeeded"}

    [event] = await outbox(payments_pool, "payment.succeeded")
    assert event["data"] == {
        "payment_id": answer["id"],
        "purpose": "booking",
        "reference_id": held["id"],
        "amount": {"amount": 0, "currency": "GBP"},
        "stripe_payment_intent": answer["stripe_setup_intent"],
    }
    async with payments_pool.acquire() as conn:
        card = await conn.fetchrow("SELECT * FROM saved_cards WHERE reference_id = $1", uuid.UUID(held["id"]))
        customer = await conn.fetchval("SELECT stripe_customer FROM stripe_customers")
    assert card["attached_at"] is not None and await cards_of(settings, customer) == [card["payment_method"]]

    resp = await payments.post(f"/api/v1/stripe/setup-intents/{answer['stripe_setup_intent']}/refresh")
    assert await resp.json() == {"status": "succeeded"}
    assert len(await outbox(payments_pool, "payment.succeeded")) == 1, "refreshed again: announced once"


async def test_a_setup_intent_is_confirmed_by_the_reconciler_too(booking, payments, payments_pool, checkout, settings):
    answer = await ask(payments, settings, await a_hold(booking), save_card=True, card_at_most=0)
    await confirm_setup(settings, answer["stripe_setup_intent"])
    await succeed(payments_pool, checkout, settings)
    assert [e["data"]["payment_id"] for e in await outbox(payments_pool, "payment.succeeded")] == [answer["id"]]


async def test_a_setup_intent_left_unconfirmed_is_cancelled_with_its_booking(
    booking, payments, payments_pool, checkout, settings
):
    held = await a_hold(booking)
    answer = await ask(payments, settings, held, save_card=True, card_at_most=0)
    async with payments_pool.acquire() as conn, conn.transaction():
        status = await payments_service.cancel_open_payment(
            conn, checkout.event_path.stripe, uuid.UUID(held["id"]), "test"
        )
    assert status == "canceled"
    [event] = await outbox(payments_pool, "payment.canceled")
    assert event["data"]["stripe_payment_intent"] == answer["stripe_setup_intent"]


async def test_refreshing_an_unknown_setup_intent_is_not_found(payments):
    for setup_intent in ("seti_unknown123", "pi_123", "seti_%20x"):
        resp = await payments.post(f"/api/v1/stripe/setup-intents/{setup_intent}/refresh")
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "setup_intent_not_found"


async def test_without_save_card_nothing_to_pay_is_still_covered(booking, payments, payments_pool, settings):
    answer = await ask(payments, settings, await a_hold(booking), card_at_most=0)
    assert answer["covered"] is True and answer["setup"] is False and answer["id"] is None
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stripe_customers") == 0


async def test_a_card_saved_for_a_confirmed_booking_passes_the_audit(booking, payments, payments_pool, settings):
    held = await a_hold(booking)
    answer = await ask(payments, settings, held, save_card=True, card_at_most=0)
    await confirm_setup(settings, answer["stripe_setup_intent"])
    await payments.post(f"/api/v1/stripe/setup-intents/{answer['stripe_setup_intent']}/refresh")
    assert await audit(settings) == []
