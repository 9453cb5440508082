"""Card saved only, and no-show and late-cancellation fees, booking's side (issue 20), through the booking and
clinic APIs on the real database and payments against the fake Stripe: the policy set and shown with its fees;
a booking under it asks payments to save the card and keeps its fees; the clinic's no-show carries the no-show fee
on its event once; a customer's cancellation inside the change window is allowed only with a late-cancellation fee,
and announced with it; the booking's answers show its fees."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import stripe

from services.booking.seed import stable_id
from tests.support.booking import booking_body, free_slots, hold, move_visit
from tests.support.clinic_api import bearer

CLINIC_ID = stable_id("urban-therapy")
SETTINGS = "/api/v1/clinic/settings"
FEES = {"no_show_fee": {"percent": 50}, "late_cancellation_fee": {"amount": {"amount": 2000, "currency": "GBP"}}}
FULL_WITH_FEES = {"mode": "full", **FEES}
CARD_ONLY = {"mode": "card", "no_show_fee": {"percent": 100}}


def gbp(amount: int) -> dict:
    return {"amount": amount, "currency": "GBP"}


async def set_policy(pool, policy: dict) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE clinics SET payment_policy = $2 WHERE id = $1", CLINIC_ID, policy)


async def create_booking(booking, day=None, slot_index: int = 0) -> dict:
    slot = (await free_slots(booking, day))[slot_index]
    held = await hold(booking, slot["start"])
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"]))
    assert resp.status == 201, await resp.text()
    return await resp.json()


def token_of(booked: dict) -> str:
    return booked["manage_url"].split("token=", 1)[1]


async def events(pool, booking_id: str, event_type: str) -> list[dict]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT envelope->'data' AS data FROM outbox WHERE envelope->>'type' = $2 "
            "AND envelope->'data'->>'booking_id' = $1 ORDER BY seq",
            booking_id,
            event_type,
        )
    return [r["data"] for r in rows]


async def fees_row(pool, booking_id: str) -> dict:
    async with pool.acquire() as conn:
        return dict(
            await conn.fetchrow(
                "SELECT no_show_fee, late_cancellation_fee, save_card, payment_policy_words FROM bookings "
                "WHERE id = $1",
                uuid.UUID(booking_id),
            )
        )


async def paid(booking, checkout, booking_pool, policy: dict, day=None) -> dict:
    await set_policy(booking_pool, policy)
    booked = await create_booking(booking, day)
    assert await checkout.pay(booked) == "succeeded"
    return booked


# --- the policy -------------------------------------------------------------------------------------


async def test_the_clinic_sets_card_mode_with_fees_and_customers_see_them_in_money_and_words(gateway, keys):
    key = keys["urban-therapy"]
    resp = await gateway.patch(SETTINGS, headers=bearer(key), json={"payment_policy": {"mode": "card", **FEES}})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["payment_policy"] == {"mode": "card", **FEES}

    refused = await gateway.patch(
        SETTINGS, headers=bearer(key), json={"payment_policy": {"mode": "card", "no_show_fee": {"percent": 101}}}
    )
    assert refused.status == 422
    error = (await refused.json())["error"]
    assert error["code"] == "invalid_payment_policy" and "no-show fee" in error["message"]

    clinic = await (await gateway.get("/api/v1/clinics/urban-therapy")).json()
    words = clinic["policies"]["payment_policy"]["words"]
    assert words.startswith("Nothing to pay when booking; your card is saved")
    assert "a no-show fee of 50% of the price" in words and "late-cancellation fee of £20.00" in words

    treatments = (await (await gateway.get("/api/v1/clinics/urban-therapy/treatments")).json())["treatments"]
    priced = next(t for t in treatments if t["price"]["amount"] == 6500)
    shown = priced["payment_policy"]
    assert shown["save_card"] is True and shown["deposit_amount"] == gbp(0)
    assert shown["no_show_fee"] == gbp(3250) and shown["late_cancellation_fee"] == gbp(2000)
    assert shown["words"] == (
        "Nothing to pay now; your card is saved and the £65.00 is paid at the clinic. "
        "If you miss the appointment, a no-show fee of £32.50 is charged to your saved card. "
        f"Cancelling less than {clinic['policies']['change_window_hours']} hours before costs a late-cancellation "
        "fee of £20.00."
    )
    courses = (await (await gateway.get("/api/v1/clinics/urban-therapy/courses")).json())["courses"]
    course = courses[0]
    share = (2 * course["price"]["amount"] + course["sessions"]) // (2 * course["sessions"])
    assert course["payment_policy"]["no_show_fee"] == gbp((share * 50 + 50) // 100), "a course: per session"


async def test_plain_full_shows_no_fees_and_saves_no_card(booking):
    treatments = (await (await booking.get("/api/v1/clinics/urban-therapy/treatments")).json())["treatments"]
    shown = treatments[0]["payment_policy"]
    assert (shown["no_show_fee"], shown["late_cancellation_fee"], shown["save_card"]) == (None, None, False)


# --- booking under it: the card saved, the fees kept --------------------------------------------------


async def test_a_booking_with_fees_has_payments_save_the_card_and_keeps_its_fees(
    booking, booking_pool, checkout, settings
):
    await set_policy(booking_pool, FULL_WITH_FEES)
    booked = await create_booking(booking)
    assert booked["payment"]["amount"] == 6500 and booked["status"] == "pending_payment"
    assert booked["fees"] == {"no_show": gbp(3250), "late_cancellation": gbp(2000)}
    row = await fees_row(booking_pool, booked["id"])
    assert (row["no_show_fee"], row["late_cancellation_fee"], row["save_card"]) == (3250, 2000, True)
    assert "no-show fee of £32.50" in row["payment_policy_words"]

    # Payments was asked to save the card: its PaymentIntent belongs to the customer's Stripe Customer.
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient("sk_test_fees", http_client=http, base_addresses={"api": settings.stripe_api_base})
    try:
        intent = await client.v1.payment_intents.retrieve_async(booked["payment"]["stripe_payment_intent"])
    finally:
        await http.close_async()
    assert intent.customer, "save_card sent: the intent is for a Stripe Customer"

    assert await checkout.pay(booked) == "succeeded"
    seen = await booking.get(f"/api/v1/bookings/{booked['id']}", params={"token": token_of(booked)})
    assert (await seen.json())["status"] == "confirmed"
    [confirmed] = await events(booking_pool, booked["id"], "booking.confirmed")
    assert "late-cancellation fee of £20.00" in confirmed["payment_policy_words"]


async def test_a_plain_booking_asks_for_no_saved_card(booking, booking_pool, settings):
    booked = await create_booking(booking)
    row = await fees_row(booking_pool, booked["id"])
    assert row == {"no_show_fee": None, "late_cancellation_fee": None, "save_card": False, "payment_policy_words": None}
    assert booked["fees"] == {"no_show": None, "late_cancellation": None}
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient("sk_test_fees", http_client=http, base_addresses={"api": settings.stripe_api_base})
    try:
        intent = await client.v1.payment_intents.retrieve_async(booked["payment"]["stripe_payment_intent"])
    finally:
        await http.close_async()
    assert not intent.customer


async def test_card_mode_charges_nothing_now_and_awaits_the_card_being_saved(booking, booking_pool):
    await set_policy(booking_pool, CARD_ONLY)
    booked = await create_booking(booking)
    assert booked["status"] == "pending_payment", "waits for the SetupIntent, as for a card payment"
    assert booked["amount_due"] == gbp(0) and booked["due_at_clinic"] == gbp(6500)
    assert booked["payment"]["covered"] is False and booked["payment"]["id"]
    assert booked["fees"] == {"no_show": gbp(6500), "late_cancellation": None}
    row = await fees_row(booking_pool, booked["id"])
    assert row["save_card"] is True
    assert row["payment_policy_words"].startswith("Nothing to pay now; your card is saved and the £65.00")


# --- the no-show --------------------------------------------------------------------------------------


async def test_a_no_show_carries_its_fee_once(booking, gateway, keys, checkout, booking_pool):
    booked = await paid(booking, checkout, booking_pool, FULL_WITH_FEES)
    await move_visit(booking_pool, booked["id"], datetime.now(timezone.utc) - timedelta(days=2))
    for _ in range(2):
        resp = await gateway.post(
            f"/api/v1/clinic/bookings/{booked['id']}/no-show", headers=bearer(keys["urban-therapy"])
        )
        assert resp.status == 200, await resp.text()
        answer = await resp.json()
        assert answer["status"] == "no_show"
        assert answer["fees"] == {"no_show": gbp(3250), "late_cancellation": gbp(2000)}
    [no_show] = await events(booking_pool, booked["id"], "booking.no_show")
    assert no_show["fee"] == {"kind": "no_show", "amount": gbp(3250)}


async def test_a_no_show_without_a_fee_carries_none(booking, gateway, keys, checkout, booking_pool):
    booked = await paid(booking, checkout, booking_pool, {"mode": "full", "late_cancellation_fee": {"percent": 10}})
    await move_visit(booking_pool, booked["id"], datetime.now(timezone.utc) - timedelta(days=2))
    resp = await gateway.post(f"/api/v1/clinic/bookings/{booked['id']}/no-show", headers=bearer(keys["urban-therapy"]))
    assert resp.status == 200, await resp.text()
    [no_show] = await events(booking_pool, booked["id"], "booking.no_show")
    assert "fee" not in no_show


# --- the late cancellation ----------------------------------------------------------------------------


async def test_a_late_cancellation_is_allowed_with_its_fee_and_announced_with_it(booking, checkout, booking_pool):
    booked = await paid(booking, checkout, booking_pool, FULL_WITH_FEES)
    url, token = f"/api/v1/bookings/{booked['id']}", token_of(booked)

    early = await (await booking.get(url, params={"token": token})).json()
    assert early["late_cancellation_fee_due"] is None, "before the window closes cancelling costs nothing"
    assert early["fees"] == {"no_show": gbp(3250), "late_cancellation": gbp(2000)}

    await move_visit(booking_pool, booked["id"], datetime.now(timezone.utc) + timedelta(hours=3))
    late = await (await booking.get(url, params={"token": token})).json()
    assert late["late_cancellation_fee_due"] == gbp(2000)

    moved = await booking.post(f"{url}/reschedule", json={"token": token, "start": late["start"]})
    assert moved.status == 409 and (await moved.json())["error"]["code"] == "outside_change_window"

    cancelled = await booking.post(f"{url}/cancel", params={"token": token})
    assert cancelled.status == 200, await cancelled.text()
    answer = await cancelled.json()
    assert answer["status"] == "cancelled" and answer["fee"] == gbp(2000)
    assert answer["late_cancellation_fee_due"] is None
    [event] = await events(booking_pool, booked["id"], "booking.cancelled")
    assert event["fee"] == {"kind": "late_cancellation", "amount": gbp(2000)}
    assert event["cancelled_by"] == "customer"


async def test_an_early_cancellation_costs_nothing(booking, checkout, booking_pool):
    booked = await paid(booking, checkout, booking_pool, FULL_WITH_FEES)
    cancelled = await booking.post(f"/api/v1/bookings/{booked['id']}/cancel", params={"token": token_of(booked)})
    assert cancelled.status == 200, await cancelled.text()
    assert (await cancelled.json())["fee"] is None
    [event] = await events(booking_pool, booked["id"], "booking.cancelled")
    assert "fee" not in event


async def test_without_the_fee_a_late_cancellation_is_refused_as_before(booking, checkout, booking_pool):
    booked = await paid(booking, checkout, booking_pool, {"mode": "full", "no_show_fee": {"percent": 50}})
    await move_visit(booking_pool, booked["id"], datetime.now(timezone.utc) + timedelta(hours=3))
    url, token = f"/api/v1/bookings/{booked['id']}", token_of(booked)
    assert (await (await booking.get(url, params={"token": token})).json())["late_cancellation_fee_due"] is None
    refused = await booking.post(f"{url}/cancel", params={"token": token})
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "outside_change_window"
    assert await events(booking_pool, booked["id"], "booking.cancelled") == []


async def test_the_clinics_cancellation_inside_the_window_carries_no_fee(
    booking, gateway, keys, checkout, booking_pool
):
    booked = await paid(booking, checkout, booking_pool, FULL_WITH_FEES)
    await move_visit(booking_pool, booked["id"], datetime.now(timezone.utc) + timedelta(hours=3))
    resp = await gateway.post(
        f"/api/v1/clinic/bookings/{booked['id']}/cancel",
        headers=bearer(keys["urban-therapy"]),
        json={"reason": "Therapist unwell"},
    )
    assert resp.status == 200, await resp.text()
    [event] = await events(booking_pool, booked["id"], "booking.cancelled")
    assert event["cancelled_by"] == "clinic" and "fee" not in event


async def test_the_clinics_view_of_a_booking_has_its_fees(booking, gateway, keys, checkout, booking_pool):
    booked = await paid(booking, checkout, booking_pool, FULL_WITH_FEES)
    detail = await gateway.get(f"/api/v1/clinic/bookings/{booked['id']}", headers=bearer(keys["urban-therapy"]))
    assert detail.status == 200
    assert (await detail.json())["fees"] == {"no_show": gbp(3250), "late_cancellation": gbp(2000)}


@pytest.mark.parametrize("mode", ["card"])
async def test_the_database_allows_the_card_mode(booking_pool, mode):
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE clinics SET payment_policy = $2 WHERE id = $1", CLINIC_ID, {"mode": mode})
        await conn.execute("UPDATE treatments SET payment_policy = $2 WHERE clinic_id = $1", CLINIC_ID, {"mode": mode})
