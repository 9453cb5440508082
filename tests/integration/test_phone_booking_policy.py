"""A phone booking the customer pays online follows the treatment's payment policy as their own booking does
(issue 20): under a deposit, payments is asked for the deposit only and the rest is due at the clinic; in "card"
mode a SetupIntent saves the card and nothing is charged; the policy's words and fees are kept on the booking, the
email asks for what is paid now, and the manage link's payment is the same. Paid at the clinic, nothing changes:
no card, no fees, nothing charged. Through the clinic API (the gateway) on the real database, payments against
the fake Stripe."""

from __future__ import annotations

import uuid

from jsonschema import Draft202012Validator

from services.booking.clinic_actions_spec import PHONE_BOOKED
from shared.openapi import SHARED_SCHEMAS
from tests.integration.test_booking_fees import fees_row, gbp, set_policy
from tests.integration.test_clinic_actions import URBAN, _emails, _phone_booking, token_of
from tests.support.booking import free_slots, next_weekday
from tests.support.clinic_api import bearer

DEPOSIT = {"mode": "deposit", "deposit": {"percent": 20}}
CARD_WITH_NO_SHOW_FEE = {"mode": "card", "no_show_fee": {"percent": 50}}
DEPOSIT_WORDS = "Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic."


async def _book_by_phone(gateway, keys, payment: str, email: str, slot_index: int = 0) -> dict:
    slot = (await free_slots(gateway, next_weekday(2, weeks_ahead=2)))[slot_index]
    resp = await gateway.post(
        "/api/v1/clinic/bookings", json=_phone_booking(slot["start"], payment, email=email), headers=bearer(keys[URBAN])
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


def _answered_due(body: dict) -> tuple[dict, dict]:
    """The phone booking's answer, checked against its OpenAPI schema: its payment's amount_due and due_at_clinic."""
    Draft202012Validator({**PHONE_BOOKED, "components": {"schemas": SHARED_SCHEMAS}}).validate(body)
    return body["payment"]["amount_due"], body["payment"]["due_at_clinic"]


async def _due_by_link(gateway, body: dict) -> tuple[dict, dict]:
    """What the manage link's payment (GET /api/v1/bookings/{id}/payment) says is due now and at the clinic."""
    due = await gateway.get(f"/api/v1/bookings/{body['id']}/payment", params={"token": token_of(body["manage_url"])})
    assert due.status == 200, await due.text()
    answer = await due.json()
    return answer["amount_due"], answer["due_at_clinic"]


async def _due_row(pool, booking_id: str) -> dict:
    async with pool.acquire() as conn:
        return dict(
            await conn.fetchrow(
                "SELECT status, due_at_clinic, payment_id FROM bookings WHERE id = $1", uuid.UUID(booking_id)
            )
        )


async def _payment_row(pool, booking_id: str):
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT amount, stripe_payment_intent, stripe_setup_intent, stripe_customer FROM payments "
            "WHERE purpose = 'booking' AND reference_id = $1",
            uuid.UUID(booking_id),
        )


async def test_under_a_deposit_payments_is_asked_for_the_deposit_and_the_rest_is_due_at_the_clinic(
    gateway, keys, checkout, event_path, booking_pool, payments_pool, notifications_pool
):
    await set_policy(booking_pool, DEPOSIT)
    body = await _book_by_phone(gateway, keys, "online", "deposit@example.com")
    assert body["status"] == "pending_payment"
    assert _answered_due(body) == (gbp(1300), gbp(5200)), "the clinic is told the deposit is paid now, not the price"
    assert _answered_due(body) == await _due_by_link(gateway, body)

    payment = await _payment_row(payments_pool, body["id"])
    assert payment["amount"] == 1300 and payment["stripe_customer"] is None, "the deposit, no card saved (no fee)"
    intent = await checkout.event_path.stripe.retrieve_intent(payment["stripe_payment_intent"])
    assert intent.amount == 1300, "the fake Stripe's PaymentIntent is for the deposit only"
    assert await _due_row(booking_pool, body["id"]) == {
        "status": "pending_payment",
        "due_at_clinic": 5200,
        "payment_id": await _payment_id(payments_pool, body["id"]),
    }
    row = await fees_row(booking_pool, body["id"])
    assert row == {
        "no_show_fee": None,
        "late_cancellation_fee": None,
        "save_card": False,
        "payment_policy_words": DEPOSIT_WORDS,
    }

    # The email asks for the deposit, not the price; the manage link's payment is the same deposit.
    await event_path.drain()
    [asked] = await _emails(notifications_pool, "booking_payment_requested", "deposit@example.com")
    assert (
        "To pay now (deposit):  £13.00" in asked["text_body"] and "To pay at the clinic:  £52.00" in asked["text_body"]
    )
    assert "pay the deposit of £13.00 online" in asked["text_body"] and "Pay £13.00 now" in asked["html_body"]
    assert "Pay £65.00" not in asked["html_body"]
    due = await gateway.get(f"/api/v1/bookings/{body['id']}/payment", params={"token": token_of(body["manage_url"])})
    assert due.status == 200, await due.text()
    answer = await due.json()
    assert answer["amount_due"] == gbp(1300) and answer["due_at_clinic"] == gbp(5200)
    assert answer["payment"]["stripe_payment_intent"] == payment["stripe_payment_intent"]
    assert answer["payment"]["setup"] is False and answer["payment_policy_words"] == DEPOSIT_WORDS

    # Paid: confirmed, saying the deposit was paid and the rest is due at the clinic.
    assert await checkout.pay({"payment": answer["payment"]}) == "succeeded"
    assert (await _due_row(booking_pool, body["id"]))["status"] == "confirmed"
    [confirmed] = await _emails(notifications_pool, "booking_confirmed", "deposit@example.com")
    assert "Paid: £13.00 deposit. To pay at the clinic: £52.00." in confirmed["text_body"]


async def _payment_id(pool, booking_id: str) -> uuid.UUID:
    async with pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT id FROM payments WHERE purpose = 'booking' AND reference_id = $1", uuid.UUID(booking_id)
        )


async def test_in_card_mode_with_a_no_show_fee_a_setup_intent_saves_the_card_and_the_fee_is_kept(
    gateway, keys, checkout, event_path, booking_pool, payments_pool, notifications_pool
):
    await set_policy(booking_pool, CARD_WITH_NO_SHOW_FEE)
    body = await _book_by_phone(gateway, keys, "online", "card@example.com", slot_index=1)
    assert body["status"] == "pending_payment"
    assert _answered_due(body) == (gbp(0), gbp(6500)), "nothing by card now: all of it at the clinic"
    assert _answered_due(body) == await _due_by_link(gateway, body)

    payment = await _payment_row(payments_pool, body["id"])
    assert payment["amount"] == 0 and payment["stripe_payment_intent"] is None
    assert payment["stripe_setup_intent"].startswith("seti_") and payment["stripe_customer"], "saved on a Customer"
    row = await fees_row(booking_pool, body["id"])
    assert (row["no_show_fee"], row["late_cancellation_fee"], row["save_card"]) == (3250, None, True)
    assert row["payment_policy_words"].startswith("Nothing to pay now; your card is saved and the £65.00")
    assert "no-show fee of £32.50" in row["payment_policy_words"]
    assert (await _due_row(booking_pool, body["id"]))["due_at_clinic"] == 6500

    await event_path.drain()
    [asked] = await _emails(notifications_pool, "booking_payment_requested", "card@example.com")
    assert asked["subject"].startswith("Please save your card to confirm your booking")
    assert "please save your card online" in asked["text_body"] and "Pay £" not in asked["text_body"]

    due = await gateway.get(f"/api/v1/bookings/{body['id']}/payment", params={"token": token_of(body["manage_url"])})
    assert due.status == 200, await due.text()
    answer = await due.json()
    assert answer["amount_due"] == gbp(0) and answer["due_at_clinic"] == gbp(6500)
    assert answer["payment"]["setup"] is True
    assert answer["payment"]["stripe_setup_intent"] == payment["stripe_setup_intent"]
    assert answer["payment"]["client_secret"].startswith(payment["stripe_setup_intent"])


async def test_paid_at_the_clinic_under_a_policy_nothing_is_asked_kept_or_charged(
    gateway, keys, booking_pool, payments_pool
):
    await set_policy(booking_pool, {"mode": "deposit", "deposit": {"percent": 20}, "no_show_fee": {"percent": 50}})
    body = await _book_by_phone(gateway, keys, "at_clinic", "clinic@example.com", slot_index=2)
    assert body["status"] == "confirmed"
    assert _answered_due(body) == (gbp(6500), gbp(6500)), "the price, all of it at the clinic, whatever the policy"
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0, "nothing charged, no payment row"
        assert await conn.fetchval("SELECT count(*) FROM stripe_customers") == 0, "no card saved"
    row = await fees_row(booking_pool, body["id"])
    assert row == {"no_show_fee": None, "late_cancellation_fee": None, "save_card": False, "payment_policy_words": None}
    assert await _due_row(booking_pool, body["id"]) == {"status": "confirmed", "due_at_clinic": 0, "payment_id": None}


async def test_in_full_the_phone_booking_s_card_pays_the_price_and_nothing_is_left_for_the_clinic(
    gateway, keys, booking_pool, payments_pool
):
    await set_policy(booking_pool, {"mode": "full"})
    body = await _book_by_phone(gateway, keys, "online", "full@example.com", slot_index=3)
    assert body["status"] == "pending_payment"
    assert _answered_due(body) == (gbp(6500), gbp(0))
    assert _answered_due(body) == await _due_by_link(gateway, body)
    assert (await _payment_row(payments_pool, body["id"]))["amount"] == 6500
