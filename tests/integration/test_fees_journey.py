"""Issue 20's proof of the fees, through the gateway and all three services against the fake Stripe: under a
policy of a 20% deposit, a 50% no-show fee and a £20 late-cancellation fee, a customer's booking saves her card
(the Customer holds it at Stripe); the clinic marks her a no-show twice and the fee is charged off-session once,
receipted by email and announced by a signed `booking.fee_charged` webhook. A second customer's bank declines the
fee: it is recorded, she is emailed a link, and paying from it settles it. A third cancels late: her deposit is
refunded and the late fee charged. A "card saved only" booking is confirmed by its SetupIntent alone. The audit of
charges and parts finds nothing out of place at the end."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
import stripe

from services.booking.seed import stable_id
from shared.invariants import check_database
from tests.support.audit import charges_without_booking, open_intents_without_booking, parts_not_adding_up
from tests.support.booking import booking_body, free_slots, hold, move_visit, next_weekday
from tests.support.clinic_api import bearer
from tests.support.payments import customer_pays

CLINIC_ID = stable_id("urban-therapy")
POLICY = {
    "mode": "deposit",
    "deposit": {"percent": 20},
    "no_show_fee": {"percent": 50},
    "late_cancellation_fee": {"amount": {"amount": 2000, "currency": "GBP"}},
}
CARD_ONLY = {"mode": "card", "no_show_fee": {"percent": 100}}


def fake_stripe(settings) -> tuple[stripe.StripeClient, stripe.AIOHTTPClient]:
    http = stripe.AIOHTTPClient()
    return stripe.StripeClient(
        "sk_test_audit", http_client=http, base_addresses={"api": settings.stripe_api_base}
    ), http


async def _book(gateway, *, email: str, day, slot_index: int = 0) -> dict:
    slot = (await free_slots(gateway, day))[slot_index]
    held = await hold(gateway, slot["start"])
    resp = await gateway.post("/api/v1/bookings", json=booking_body(held["id"], email))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _fees(payments_pool, booking_id: str) -> list[asyncpg.Record]:
    async with payments_pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM booking_fees WHERE booking_id = $1", uuid.UUID(booking_id))


async def _emails(notifications_pool, kind: str) -> list[asyncpg.Record]:
    async with notifications_pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM emails WHERE kind = $1 ORDER BY created_at", kind)


async def _deliveries(notifications_pool, event_type: str) -> list[asyncpg.Record]:
    async with notifications_pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM webhook_deliveries WHERE event_type = $1", event_type)


async def _broken_invariants(settings) -> list:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [f for f in await check_database(conn, 0) if f.count]
    finally:
        await conn.close()


async def _audit(settings) -> list:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [
            *await charges_without_booking(conn),
            *await open_intents_without_booking(conn),
            *await parts_not_adding_up(conn),
        ]
    finally:
        await conn.close()


@pytest.fixture
async def clinic(gateway, keys):
    """urban-therapy under the fees policy, with a webhook endpoint for the fee events."""
    key = keys["urban-therapy"]
    resp = await gateway.patch("/api/v1/clinic/settings", headers=bearer(key), json={"payment_policy": POLICY})
    assert resp.status == 200, await resp.text()
    hook = await gateway.post(
        "/api/v1/clinic/webhook-endpoints",
        headers=bearer(key),
        json={"url": "http://127.0.0.1:9/hooks", "events": ["booking.fee_charged", "booking.fee_failed"]},
    )
    assert hook.status == 201, await hook.text()
    return key


async def test_a_no_show_marked_twice_is_charged_once_off_session_to_the_card_saved_when_booking(
    clinic, gateway, checkout, settings, booking_pool, payments_pool, notifications_pool
):
    booked = await _book(gateway, email="ada@example.com", day=next_weekday(1, weeks_ahead=2))
    assert booked["payment"]["amount"] == 1300, "the 20% deposit of £65"
    assert await checkout.pay(booked) == "succeeded"
    await checkout.event_path.drain()

    # Her card is saved at Stripe: the Customer payments made for her at this clinic holds it.
    async with payments_pool.acquire() as conn:
        saved = await conn.fetchrow("SELECT * FROM saved_cards WHERE reference_id = $1", uuid.UUID(booked["id"]))
    assert saved is not None
    client, http = fake_stripe(settings)
    try:
        cards = await client.v1.payment_methods.list_async(
            params={"customer": saved["stripe_customer"], "type": "card"}
        )
        assert saved["payment_method"] in [pm.id for pm in cards.data]

        await move_visit(booking_pool, booked["id"], datetime.now(timezone.utc) - timedelta(days=2))
        for _ in range(2):
            resp = await gateway.post(f"/api/v1/clinic/bookings/{booked['id']}/no-show", headers=bearer(clinic))
            assert resp.status == 200, await resp.text()
            await checkout.event_path.drain()

        [fee] = await _fees(payments_pool, booked["id"])
        assert (fee["kind"], fee["amount"], fee["status"]) == ("no_show", 3250, "charged")
        intent = await client.v1.payment_intents.retrieve_async(fee["stripe_payment_intent"])
        assert (intent.status, intent.amount, intent.customer) == ("succeeded", 3250, saved["stripe_customer"])
        assert intent.payment_method == saved["payment_method"]
        assert intent.metadata["purpose"] == "fee"
    finally:
        await http.close_async()

    [receipt] = await _emails(notifications_pool, "fee_charged")
    assert receipt["to_address"] == "ada@example.com" and "£32.50" in receipt["text_body"]
    [delivery] = await _deliveries(notifications_pool, "booking.fee_charged")
    assert delivery["payload"]["data"]["amount"] == {"amount": 3250, "currency": "GBP"}
    assert "pay_token" not in str(delivery["payload"])
    assert await _audit(settings) == []
    assert await _broken_invariants(settings) == []


async def _no_show(gateway, key: str, booking_pool, checkout, booking_id: str) -> None:
    await move_visit(booking_pool, booking_id, datetime.now(timezone.utc) - timedelta(days=1))
    resp = await gateway.post(f"/api/v1/clinic/bookings/{booking_id}/no-show", headers=bearer(key))
    assert resp.status == 200, await resp.text()
    await checkout.event_path.drain()


async def test_a_fee_the_bank_declines_is_recorded_and_emailed_with_a_link_that_pays_it(
    clinic, gateway, checkout, settings, booking_pool, payments_pool, notifications_pool
):
    booked = await _book(gateway, email="grace@example.com", day=next_weekday(2, weeks_ahead=2))
    assert await checkout.pay(booked) == "succeeded"
    await checkout.event_path.drain()
    client, http = fake_stripe(settings)
    try:
        # Her bank now refuses charges made without her: a card that attaches but declines every charge.
        async with payments_pool.acquire() as conn:
            saved = await conn.fetchrow("SELECT * FROM saved_cards WHERE reference_id = $1", uuid.UUID(booked["id"]))
            refusing = await client.v1.payment_methods.attach_async(
                "pm_card_chargeCustomerFail", params={"customer": saved["stripe_customer"]}
            )
            await conn.execute(
                "UPDATE saved_cards SET payment_method = $2 WHERE reference_id = $1", saved["reference_id"], refusing.id
            )
        await _no_show(gateway, clinic, booking_pool, checkout, booked["id"])

        [fee] = await _fees(payments_pool, booked["id"])
        assert (fee["status"], fee["amount"]) == ("failed", 3250)
        [email] = await _emails(notifications_pool, "fee_failed")
        assert email["to_address"] == "grace@example.com"
        [link] = re.findall(r"https?://\S+/fees/\S+", email["text_body"])
        fee_id, token = link.split("/fees/", 1)[1].split("?token=", 1)
        assert fee_id == str(fee["id"])
        [failed] = await _deliveries(notifications_pool, "booking.fee_failed")
        assert token not in str(failed["payload"]), "the pay link never reaches the clinic's systems"

        # She opens the link and pays: the fee is settled, receipted, and the clinic told.
        shown = await gateway.get(f"/api/v1/fees/{fee_id}", params={"token": token})
        assert shown.status == 200 and (await shown.json())["status"] == "failed"
        assert (await gateway.get(f"/api/v1/fees/{fee_id}", params={"token": token[:-2] + "xx"})).status == 404
        pay = await gateway.post(f"/api/v1/fees/{fee_id}/pay", json={"token": token})
        assert pay.status == 200, await pay.text()
        intent = (await pay.json())["stripe_payment_intent"]
        await customer_pays(settings.stripe_api_base, intent)
        await checkout.reconcile()
    finally:
        await http.close_async()

    [fee] = await _fees(payments_pool, booked["id"])
    assert fee["status"] == "paid"
    assert (await (await gateway.get(f"/api/v1/fees/{fee_id}", params={"token": token})).json())["status"] == "paid"
    again = await gateway.post(f"/api/v1/fees/{fee_id}/pay", json={"token": token})
    assert again.status == 409
    [receipt] = await _emails(notifications_pool, "fee_charged")
    assert "£32.50" in receipt["text_body"]
    [charged] = await _deliveries(notifications_pool, "booking.fee_charged")
    assert charged["payload"]["data"]["via"] == "pay_link"
    assert await _audit(settings) == []
    assert await _broken_invariants(settings) == []


async def test_a_late_cancellation_refunds_the_deposit_and_charges_the_late_fee_once(
    clinic, gateway, checkout, settings, booking_pool, payments_pool
):
    booked = await _book(gateway, email="mary@example.com", day=next_weekday(3, weeks_ahead=2))
    assert await checkout.pay(booked) == "succeeded"
    await checkout.event_path.drain()
    await move_visit(booking_pool, booked["id"], datetime.now(timezone.utc) + timedelta(hours=3))
    token = booked["manage_url"].split("token=", 1)[1]

    shown = await (await gateway.get(f"/api/v1/bookings/{booked['id']}", params={"token": token})).json()
    assert shown["late_cancellation_fee_due"] == {"amount": 2000, "currency": "GBP"}
    moved = await gateway.post(
        f"/api/v1/bookings/{booked['id']}/reschedule", json={"token": token, "start": shown["start"]}
    )
    assert moved.status == 409, "moving stays inside the clinic's window rules"
    cancelled = await gateway.post(f"/api/v1/bookings/{booked['id']}/cancel", json={"token": token})
    assert cancelled.status == 200, await cancelled.text()
    assert (await cancelled.json())["fee"] == {"amount": 2000, "currency": "GBP"}
    await checkout.event_path.drain()
    await checkout.event_path.drain()

    [fee] = await _fees(payments_pool, booked["id"])
    assert (fee["kind"], fee["amount"], fee["status"]) == ("late_cancellation", 2000, "charged")
    async with payments_pool.acquire() as conn:
        deposit = await conn.fetchrow(
            "SELECT amount, amount_refunded FROM payments WHERE purpose = 'booking' AND reference_id = $1",
            uuid.UUID(booked["id"]),
        )
    assert (deposit["amount"], deposit["amount_refunded"]) == (1300, 1300)
    assert await _audit(settings) == []
    assert await _broken_invariants(settings) == []


async def test_a_card_saved_only_booking_is_confirmed_by_its_setup_intent_and_its_fee_charged(
    gateway, keys, checkout, settings, booking_pool, payments_pool
):
    key = keys["urban-therapy"]
    resp = await gateway.patch("/api/v1/clinic/settings", headers=bearer(key), json={"payment_policy": CARD_ONLY})
    assert resp.status == 200, await resp.text()
    booked = await _book(gateway, email="ada@example.com", day=next_weekday(4, weeks_ahead=2))
    payment = booked["payment"]
    assert payment["setup"] is True and payment["amount"] == 0 and payment["due_at_clinic"]["amount"] == 6500
    client, http = fake_stripe(settings)
    try:
        # What Stripe.js does on the page: confirm the SetupIntent with her card; then the page asks payments.
        await client.v1.setup_intents.confirm_async(
            payment["stripe_setup_intent"], params={"payment_method": "pm_card_visa"}
        )
        refreshed = await gateway.post(f"/api/v1/stripe/setup-intents/{payment['stripe_setup_intent']}/refresh")
        assert refreshed.status == 200 and (await refreshed.json())["status"] == "succeeded"
        await checkout.event_path.drain()
        token = booked["manage_url"].split("token=", 1)[1]
        shown = await (await gateway.get(f"/api/v1/bookings/{booked['id']}", params={"token": token})).json()
        assert shown["status"] == "confirmed"

        await _no_show(gateway, key, booking_pool, checkout, booked["id"])
        [fee] = await _fees(payments_pool, booked["id"])
        assert (fee["amount"], fee["status"]) == (6500, "charged")
        intent = await client.v1.payment_intents.retrieve_async(fee["stripe_payment_intent"])
        assert intent.status == "succeeded" and intent.amount == 6500
    finally:
        await http.close_async()
    assert await _audit(settings) == []
