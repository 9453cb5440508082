"""Paying for bookings: late payments, refunds, duplicate and out-of-order Stripe events, Stripe down.
Never a charge without a booking."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import asyncpg
import pytest

from services.booking import service as booking_service
from services.booking.seed import stable_id
from services.booking.unit_of_work import PostgresUnitOfWork
from tests.support.audit import charges_without_booking, open_intents_without_booking
from tests.support.booking import book, book_and_pay, booking_body, free_slots, hold
from tests.support.infra import free_port
from tests.support.payments import customer_pays


async def audit(settings) -> list:
    """Charges without a booking, and open payments waiting for a booking never written."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [*await charges_without_booking(conn), *await open_intents_without_booking(conn)]
    finally:
        await conn.close()


async def booking_status(pool, booking_id: str) -> str:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(booking_id))


async def let_time_run_out(pool, booking_id: str) -> None:
    """The payment window passes and the sweeper expires the booking."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(booking_id)
        )
        assert await booking_service.expire_lapsed(PostgresUnitOfWork.on(conn)) == 1


async def outbox_types(pool) -> list[str]:
    async with pool.acquire() as conn:
        return [r["t"] for r in await conn.fetch("SELECT envelope->>'type' AS t FROM outbox ORDER BY seq")]


async def test_a_payment_after_expiry_rebooks_the_time_if_still_free(booking, booking_pool, checkout, settings):
    pending = await book(booking)
    await let_time_run_out(booking_pool, pending["id"])
    assert await booking_status(booking_pool, pending["id"]) == "expired"

    await checkout.pay(pending)

    assert await booking_status(booking_pool, pending["id"]) == "confirmed"
    assert (await outbox_types(booking_pool))[-1] == "booking.confirmed"
    assert await audit(settings) == []


async def test_a_payment_after_expiry_for_a_taken_time_is_refunded_and_the_customer_told(
    booking, booking_pool, payments_pool, notifications_pool, checkout, settings
):
    pending = await book(booking, email="late@example.com")
    await let_time_run_out(booking_pool, pending["id"])
    await hold(booking, pending["start"])  # someone else takes the time meanwhile

    await checkout.pay(pending)

    assert await booking_status(booking_pool, pending["id"]) == "expired"
    assert "booking.payment_orphaned" in await outbox_types(booking_pool)
    async with payments_pool.acquire() as conn:
        payment = await conn.fetchrow("SELECT status, amount, amount_refunded FROM payments")
        refund = await conn.fetchrow("SELECT status, amount, reason FROM refunds")
    assert dict(payment) == {"status": "succeeded", "amount": 6500, "amount_refunded": 6500}
    assert dict(refund) == {"status": "succeeded", "amount": 6500, "reason": "slot_taken_after_hold_expired"}
    async with notifications_pool.acquire() as conn:
        email = await conn.fetchrow("SELECT kind, to_address, text_body FROM emails")
    assert email["kind"] == "payment_refunded" and email["to_address"] == "late@example.com"
    assert "£65.00" in email["text_body"] and "someone else has since booked it" in email["text_body"]
    assert await audit(settings) == []


async def test_cancelling_a_paid_booking_refunds_the_card(booking, payments_pool, checkout, settings):
    paid = await book_and_pay(booking, checkout)
    token = paid["manage_url"].split("token=")[1]
    assert (await booking.post(f"/api/v1/bookings/{paid['id']}/cancel", json={"token": token})).status == 200
    await checkout.event_path.drain()
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT amount_refunded FROM payments") == 6500
        assert await conn.fetchval("SELECT reason FROM refunds") == "cancelled_by_customer"
    assert await audit(settings) == []


async def test_a_declined_card_leaves_the_booking_awaiting_payment(booking, booking_pool, checkout):
    pending = await book(booking)
    assert await checkout.pay(pending, card="pm_card_chargeCustomerFail") == "declined"
    assert await booking_status(booking_pool, pending["id"]) == "pending_payment"


async def test_the_audit_finds_a_charge_without_a_booking(booking, booking_pool, payments_pool, checkout, settings):
    paid = await book_and_pay(booking, checkout)
    async with booking_pool.acquire() as conn:  # break the invariant by hand: the check must see it
        await conn.execute("UPDATE bookings SET status = 'expired' WHERE id = $1", uuid.UUID(paid["id"]))
    [offender] = await audit(settings)
    assert str(offender["reference_id"]) == paid["id"]


# --- Stripe webhooks for real payments ------------------------------------------------------------


def signed(event: dict, secret: str) -> tuple[bytes, dict]:
    payload = json.dumps(event).encode()
    ts = int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, {"Stripe-Signature": f"t={ts},v1={mac}", "Content-Type": "application/json"}


def intent_event(event_type: str, intent_id: str, status: str, reference: str, clinic_id: str) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": event_type,
        "livemode": False,
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "status": status,
                "amount": 6500,
                "currency": "gbp",
                "metadata": {"purpose": "booking", "reference_id": reference, "clinic_id": clinic_id},
            }
        },
    }


async def test_duplicate_and_out_of_order_stripe_events_have_one_effect(
    booking, booking_pool, payments_pool, notifications_pool, payments_server, checkout, settings
):
    from aiohttp.test_utils import TestClient

    from services.booking.seed import stable_id
    from services.notifications.webhooks import store as webhook_store

    async with notifications_pool.acquire() as conn:  # the clinic listens for new bookings
        await webhook_store.insert_endpoint(
            conn,
            stable_id("urban-therapy"),
            "http://127.0.0.1:9/hook",
            "",
            ["booking.created"],
            None,
            "whsec_" + "A" * 32,
        )
    pending = await book(booking)
    intent = pending["payment"]["stripe_payment_intent"]
    async with booking_pool.acquire() as conn:
        clinic_id = str(await conn.fetchval("SELECT clinic_id FROM bookings WHERE id = $1", uuid.UUID(pending["id"])))
    succeeded = intent_event("payment_intent.succeeded", intent, "succeeded", pending["id"], clinic_id)
    created_late = intent_event("payment_intent.created", intent, "requires_payment_method", pending["id"], clinic_id)
    unknown = {**intent_event("customer.created", intent, "x", pending["id"], clinic_id)}
    payments = TestClient(payments_server)
    await payments.start_server()
    try:
        answers = []
        for event in [succeeded] * 5 + [created_late, unknown]:
            payload, headers = signed(event, settings.stripe_webhook_secret)
            resp = await payments.post("/api/v1/stripe/webhook", data=payload, headers=headers)
            answers.append((resp.status, (await resp.json())["duplicate"]))
    finally:
        await payments.close()
    assert answers == [(200, False)] + [(200, True)] * 4 + [(200, False), (200, False)]
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM payments") == "succeeded", "a late `created` undoes nothing"
    await checkout.event_path.drain()
    assert await booking_status(booking_pool, pending["id"]) == "confirmed"
    assert (await outbox_types(booking_pool)).count("booking.confirmed") == 1
    assert len(checkout.event_path.enqueued_emails) == 1, "one confirmation email"
    assert len(checkout.event_path.enqueued_deliveries) == 1, "one booking.created webhook"


# --- faults --------------------------------------------------------------------------------------


async def test_stripe_unreachable_is_503_with_retry_after_and_nothing_half_made(
    settings, aiohttp_server, aiohttp_client, booking_pool, payments_pool
):
    from services.booking.app import create_app as create_booking_app
    from services.payments.app import create_app as create_payments_app

    no_stripe = settings.with_overrides(stripe_api_base=f"http://127.0.0.1:{free_port()}")
    payments_server = await aiohttp_server(create_payments_app(no_stripe, reconciler=False))
    client = await aiohttp_client(
        create_booking_app(
            settings.with_overrides(upstreams={"payments": str(payments_server.make_url("")).rstrip("/")})
        )
    )
    held = await hold(client, (await free_slots(client))[0]["start"])
    resp = await client.post("/api/v1/bookings", json=booking_body(held["id"]))
    assert resp.status == 503
    assert resp.headers["Retry-After"].isdigit()
    assert (await resp.json())["error"]["code"] == "payment_provider_unavailable"
    assert await booking_status(booking_pool, held["id"]) == "held"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM screenings") == 0
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0


async def test_payments_service_down_is_503(settings, aiohttp_client, booking_pool):
    from services.booking.app import create_app as create_booking_app

    client = await aiohttp_client(
        create_booking_app(settings.with_overrides(upstreams={"payments": f"http://127.0.0.1:{free_port()}"}))
    )
    held = await hold(client, (await free_slots(client))[0]["start"])
    resp = await client.post("/api/v1/bookings", json=booking_body(held["id"]))
    assert resp.status == 503 and resp.headers["Retry-After"]
    assert await booking_status(booking_pool, held["id"]) == "held"


@pytest.mark.parametrize(
    "change, status, code",
    [
        ({"amount": 10}, 422, "amount_out_of_range"),
        ({"amount": 10_000_000}, 422, "amount_out_of_range"),
        ({"currency": "EUR"}, 422, "currency_mismatch"),
        ({"amount": "lots"}, 422, "validation_failed"),
    ],
)
async def test_internal_payment_api_refuses_bad_amounts(settings, payments_server, payments_pool, change, status, code):
    from aiohttp.test_utils import TestClient

    body = {
        "booking_id": str(uuid.uuid4()),
        "clinic_id": str(uuid.uuid4()),
        "amount": 6500,
        "currency": "GBP",
        "customer_email": "a@example.com",
        "treatment_id": str(uuid.uuid4()),
        "sessions": 1,
        **change,
    }
    client = TestClient(payments_server)
    await client.start_server()
    try:
        resp = await client.post(
            "/internal/v1/booking-payments", json=body, headers={"X-Internal-Token": settings.internal_token}
        )
        assert resp.status == status and (await resp.json())["error"]["code"] == code
        unauthorised = await client.post("/internal/v1/booking-payments", json=body)
        assert unauthorised.status == 401
    finally:
        await client.close()
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0


async def test_rescheduling_a_paid_booking_charges_nothing_more(booking, payments_pool, checkout, settings):
    from tests.support.booking import next_weekday

    paid = await book_and_pay(booking, checkout)
    token = paid["manage_url"].split("token=")[1]
    new_start = (await free_slots(booking, next_weekday(4)))[3]["start"]
    resp = await booking.post(f"/api/v1/bookings/{paid['id']}/reschedule", json={"token": token, "start": new_start})
    assert resp.status == 200 and (await resp.json())["status"] == "confirmed"
    await checkout.event_path.drain()
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1
        assert await conn.fetchval("SELECT amount_refunded FROM payments") == 0
    assert await audit(settings) == []


async def payment_for_unwritten_booking(booking, payments, settings) -> tuple[dict, dict]:
    """A hold, and payments' answer to the booking service for it, as if the booking's own write then
    failed (its process died before the commit): the payment exists, the booking was never written."""
    held = await hold(booking, (await free_slots(booking))[0]["start"])
    resp = await payments.post(
        "/internal/v1/booking-payments",
        headers={"X-Internal-Token": settings.internal_token},
        json={
            "booking_id": held["id"],
            "clinic_id": str(stable_id("urban-therapy")),
            "amount": 6500,
            "currency": "GBP",
            "customer_email": "ada@example.com",
            "treatment_id": held["treatment"],
            "sessions": 1,
        },
    )
    assert resp.status == 201, await resp.text()
    return held, await resp.json()


async def test_a_payment_for_a_booking_never_written_is_cancelled_when_its_hold_lapses(
    booking, payments, payments_pool, booking_pool, checkout, settings
):
    held, payment = await payment_for_unwritten_booking(booking, payments, settings)
    [offender] = await audit(settings)
    assert str(offender["reference_id"]) == held["id"]

    await let_time_run_out(booking_pool, held["id"])
    await checkout.event_path.drain()

    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM payments") == "canceled"
    intent = await checkout.event_path.stripe.retrieve_intent(payment["stripe_payment_intent"])
    assert intent.status == "canceled"  # nobody can ever be charged for it
    assert await audit(settings) == []


async def test_a_payment_for_a_booking_never_written_that_is_paid_anyway_is_refunded(
    booking, payments, payments_pool, checkout, settings
):
    held, payment = await payment_for_unwritten_booking(booking, payments, settings)
    await customer_pays(settings.stripe_api_base, payment["stripe_payment_intent"])
    await checkout.reconcile()
    async with payments_pool.acquire() as conn:
        refund = await conn.fetchrow("SELECT reason, amount FROM refunds")
    assert dict(refund) == {"reason": "booking_never_written", "amount": 6500}
    assert await audit(settings) == []
