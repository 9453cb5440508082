"""The clinic acts for its customers through the clinic API (owner and staff alike): it cancels with a full
refund and moves bookings whatever the change window, and books by phone, paid at the clinic or online from
the link in the customer's email. Each sends the customer the email and the clinic the webhook of the
customer's own action, and is recorded on the booking with who took it."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
import stripe

from services.booking.seed import stable_id
from services.notifications.webhooks import store as webhook_store
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.accounts import bearer as staff_bearer
from tests.support.accounts import make_account, token_for
from tests.support.booking import ALL_CLEAR, THERAPIST, TREATMENT, book_and_pay, free_slots, next_weekday
from tests.support.clinic_api import bearer
from tests.support.payments import customer_pays

URBAN = "urban-therapy"
CLINIC_EVENTS = ["booking.created", "booking.cancelled", "booking.rescheduled"]


def staff_of(settings, clinic: str = URBAN) -> dict:
    """What the gateway sends for a signed-in reception account of `clinic`."""
    return {
        CLINIC_ID_HEADER: str(stable_id(clinic)),
        CLINIC_ROLE_HEADER: "staff",
        INTERNAL_TOKEN_HEADER: settings.internal_token,
    }


def token_of(manage_url: str) -> str:
    return parse_qs(urlparse(manage_url).query)["token"][0]


@pytest.fixture
async def endpoint(notifications_pool) -> None:
    """The clinic's webhook endpoint for its booking events (deliveries are rows; sending is tested elsewhere)."""
    async with notifications_pool.acquire() as conn:
        await webhook_store.insert_endpoint(
            conn, stable_id(URBAN), "https://clinic.example/hooks", "", CLINIC_EVENTS, None, "whsec_" + "A" * 32
        )


async def _move_within_hours(pool, booking_id: str, hours: int = 3) -> None:
    """The visit is now only hours away: inside the 24-hour window in which the customer may change nothing."""
    async with pool.acquire() as conn:
        await conn.execute(
            f"""UPDATE bookings SET starts_at = date_trunc('hour', now()) + interval '{hours} hours',
                      ends_at = date_trunc('hour', now()) + interval '{hours + 1} hours',
                      blocked = tstzrange(date_trunc('hour', now()) + interval '{hours} hours',
                                          date_trunc('hour', now()) + interval '{hours + 1} hours')
               WHERE id = $1""",
            uuid.UUID(booking_id),
        )


async def _events(pool, booking_id: str, event_type: str) -> list[dict]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT envelope->'data' AS data FROM outbox WHERE envelope->>'type' = $1 "
            "AND envelope->'data'->>'booking_id' = $2 ORDER BY seq",
            event_type,
            booking_id,
        )
    return [r["data"] for r in rows]


async def _emails(pool, kind: str, to: str) -> list:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT subject, text_body, html_body FROM emails WHERE kind = $1 AND to_address = $2 ORDER BY created_at",
            kind,
            to,
        )


async def _deliveries(pool, event_type: str, booking_id: str) -> list[dict]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT payload FROM webhook_deliveries WHERE event_type = $1 AND payload->'data'->>'booking_id' = $2",
            event_type,
            booking_id,
        )
    return [r["payload"] for r in rows]


def _phone_booking(start: str, payment: str, email: str = "phone@example.com", answers=ALL_CLEAR, **changes) -> dict:
    body = {
        "treatment": TREATMENT,
        "therapist": THERAPIST,
        "start": start,
        "customer": {"name": "Grace Hopper", "email": email, "phone": "07700 900123"},
        "payment": payment,
    }
    if answers is not None:
        body["screening"] = {"answers": answers}
    return {**body, **changes}


# --- cancel ---------------------------------------------------------------------------------------


async def test_the_clinic_cancels_inside_the_customers_window_with_a_full_refund_email_and_webhook(
    gateway, keys, booking, checkout, event_path, endpoint, booking_pool, payments_pool, notifications_pool, settings
):
    paid = await book_and_pay(booking, checkout)
    await _move_within_hours(booking_pool, paid["id"])
    own = await booking.post(f"/api/v1/bookings/{paid['id']}/cancel", json={"token": token_of(paid["manage_url"])})
    assert own.status == 409 and (await own.json())["error"]["code"] == "outside_change_window"

    path = f"/api/v1/clinic/bookings/{paid['id']}/cancel"
    reason = "Amara is unwell today;\nwe offered Thursday instead."
    resp = await gateway.post(path, json={"reason": reason}, headers=bearer(keys[URBAN]))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["status"] == "cancelled" and body["cancellation"] == {"by": "clinic", "reason": reason}
    [action] = body["actions"]
    assert (action["action"], action["role"], action["detail"]) == ("cancel", "owner", {"reason": reason})
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT cancelled_by, cancel_reason FROM bookings WHERE id = $1", uuid.UUID(paid["id"])
        )
    assert dict(row) == {"cancelled_by": "clinic", "cancel_reason": reason}
    [event] = await _events(booking_pool, paid["id"], "booking.cancelled")
    assert (event["cancelled_by"], event["refund"]) == ("clinic", "full")
    assert "reason" not in event and "unwell" not in json.dumps(event), "the clinic's note stays with the booking"

    await event_path.drain()
    # The full card payment back, at Stripe.
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT amount_refunded FROM payments") == 6500
        refund = await conn.fetchrow("SELECT stripe_refund_id, amount, reason, status FROM refunds")
    assert (refund["amount"], refund["reason"], refund["status"]) == (6500, "cancelled_by_clinic", "succeeded")
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient("sk_test_x", http_client=http, base_addresses={"api": settings.stripe_api_base})
    try:
        at_stripe = await client.v1.refunds.retrieve_async(refund["stripe_refund_id"])
    finally:
        await http.close_async()
    assert (at_stripe.amount, at_stripe.status) == (6500, "succeeded")
    # The customer's cancellation email (and the refund's), the clinic's booking.cancelled webhook.
    [email] = await _emails(notifications_pool, "booking_cancelled", "ada@example.com")
    assert "We have had to cancel" in email["text_body"] and "everything you paid" in email["text_body"]
    assert await _emails(notifications_pool, "payment_refunded", "ada@example.com")
    [delivered] = await _deliveries(notifications_pool, "booking.cancelled", paid["id"])
    assert delivered["type"] == "booking.cancelled" and delivered["data"]["cancelled_by"] == "clinic"
    assert delivered["data"]["refund"] == "full"

    again = await gateway.post(path, json={"reason": "twice"}, headers=bearer(keys[URBAN]))
    assert again.status == 409
    error = (await again.json())["error"]
    assert error["code"] == "invalid_transition" and "is cancelled" in error["message"]
    assert error["details"] == {"status": "cancelled"}


async def test_a_signed_in_reception_account_is_recorded_as_who_acted(gateway, booking, checkout, booking_pool):
    staff_id = await make_account(booking_pool, "sam@urban-therapy.example", role="staff")
    token = await token_for(gateway, "sam@urban-therapy.example")
    paid = await book_and_pay(booking, checkout)
    resp = await gateway.post(
        f"/api/v1/clinic/bookings/{paid['id']}/cancel",
        json={"reason": "Customer phoned"},
        headers=staff_bearer(token),
    )
    assert resp.status == 200, await resp.text()
    [action] = (await resp.json())["actions"]
    assert (action["role"], action["staff_id"]) == ("staff", str(staff_id))
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT staff_id FROM booking_actions") == staff_id


async def test_a_cancel_needs_a_reason_of_at_most_500_characters(gateway, keys, booking, checkout):
    paid = await book_and_pay(booking, checkout)
    path = f"/api/v1/clinic/bookings/{paid['id']}/cancel"
    for body in ({}, {"reason": "   "}, {"reason": "x" * 501}):
        resp = await gateway.post(path, json=body, headers=bearer(keys[URBAN]))
        assert resp.status == 422, (body, await resp.text())
        assert (await resp.json())["error"]["details"][0]["field"] == "reason"
    assert (await gateway.post(path, json={"reason": "x" * 500}, headers=bearer(keys[URBAN]))).status == 200


# --- reschedule -----------------------------------------------------------------------------------


async def test_staff_move_a_booking_inside_the_window_but_never_onto_a_taken_time(
    booking, checkout, event_path, endpoint, booking_pool, notifications_pool, settings
):
    paid = await book_and_pay(booking, checkout)
    taken = await book_and_pay(booking, checkout, email="b@example.com", day=next_weekday(3))
    await _move_within_hours(booking_pool, paid["id"])
    path = f"/api/v1/clinic/bookings/{paid['id']}/reschedule"

    clash = await booking.post(path, json={"start": taken["start"]}, headers=staff_of(settings))
    assert clash.status == 409 and (await clash.json())["error"]["code"] == "slot_taken"
    off_grid = await booking.post(
        path, json={"start": taken["start"].replace(":00:00", ":07:00")}, headers=staff_of(settings)
    )
    assert off_grid.status == 422 and (await off_grid.json())["error"]["code"] == "off_grid"

    new_start = (await free_slots(booking, next_weekday(4)))[3]["start"]
    resp = await booking.post(path, json={"start": new_start}, headers=staff_of(settings))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["id"], body["start"], body["status"]) == (paid["id"], new_start, "confirmed")
    [action] = body["actions"]
    assert (action["action"], action["role"], action["staff_id"]) == ("reschedule", "staff", None)
    assert action["detail"]["to"]["start"] == datetime.fromisoformat(new_start).astimezone(timezone.utc).isoformat()
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT reschedule_count FROM bookings WHERE id = $1", uuid.UUID(paid["id"])) == 0
    [moved] = await _events(booking_pool, paid["id"], "booking.rescheduled")
    assert moved["rescheduled_by"] == "clinic" and moved["manage_url"]

    await event_path.drain()
    [email] = await _emails(notifications_pool, "booking_rescheduled", "ada@example.com")
    assert "has had to move your booking" in email["text_body"]
    [delivered] = await _deliveries(notifications_pool, "booking.rescheduled", paid["id"])
    assert delivered["data"]["rescheduled_by"] == "clinic"
    assert new_start not in [s["start"] for s in await free_slots(booking, next_weekday(4))]


# --- book by phone --------------------------------------------------------------------------------


async def test_a_phone_booking_paid_at_the_clinic_is_confirmed_with_no_payment(
    gateway, keys, booking, event_path, endpoint, booking_pool, payments_pool, notifications_pool
):
    slot = (await free_slots(booking))[0]
    resp = await gateway.post(
        "/api/v1/clinic/bookings", json=_phone_booking(slot["start"], "at_clinic"), headers=bearer(keys[URBAN])
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert (body["status"], body["booked_by"], body["start"]) == ("confirmed", "clinic", slot["start"])
    assert body["payment"] == {
        "mode": "at_clinic",
        "amount_due": {"amount": 6500, "currency": "GBP"},
        "due_at_clinic": {"amount": 6500, "currency": "GBP"},
        "pay_by": None,
        "pay_url": None,
    }
    assert body["customer"]["phone"] == "07700 900123" and body["screening"]["outcome"] == "clear"
    assert [a["action"] for a in body["actions"]] == ["book"]
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0, "nothing charged, no payment row"
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT payment_id, payment_mode FROM bookings WHERE id = $1", uuid.UUID(body["id"]))
    assert dict(row) == {"payment_id": None, "payment_mode": "at_clinic"}
    assert slot["start"] not in [s["start"] for s in await free_slots(booking)]

    await event_path.drain()
    [email] = await _emails(notifications_pool, "booking_confirmed", "phone@example.com")
    assert "Please pay £65.00 at the clinic on the day" in email["text_body"]
    [created] = await _deliveries(notifications_pool, "booking.created", body["id"])
    assert (created["data"]["payment"], created["data"]["booked_by"]) == ("at_clinic", "clinic")
    assert "screening" not in json.dumps(created) and "answers" not in json.dumps(created)

    # Cancelled later: nothing was charged, so nothing is refunded.
    cancel = await gateway.post(
        f"/api/v1/clinic/bookings/{body['id']}/cancel", json={"reason": "Called to cancel"}, headers=bearer(keys[URBAN])
    )
    assert cancel.status == 200
    await event_path.drain()
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM refunds") == 0
    [cancelled] = await _emails(notifications_pool, "booking_cancelled", "phone@example.com")
    assert "nothing to refund" in cancelled["text_body"]


async def test_a_phone_booking_paid_online_waits_for_payment_and_its_link_pays_it(
    gateway, keys, booking, checkout, event_path, endpoint, booking_pool, notifications_pool, settings
):
    slot = (await free_slots(booking))[1]
    before = datetime.now(timezone.utc)
    resp = await gateway.post(
        "/api/v1/clinic/bookings", json=_phone_booking(slot["start"], "online"), headers=bearer(keys[URBAN])
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert (body["status"], body["payment"]["mode"]) == ("pending_payment", "online")
    pay_url, pay_by = body["payment"]["pay_url"], datetime.fromisoformat(body["payment"]["pay_by"])
    assert pay_url == body["manage_url"] and pay_url.startswith(f"{settings.public_url}/manage/{body['id']}?token=")
    assert before + timedelta(hours=23) < pay_by <= datetime.fromisoformat(slot["start"])
    assert "client_secret" not in json.dumps(body), "the card is the customer's to pay, not the clinic's"

    await event_path.drain()
    [asked] = await _emails(notifications_pool, "booking_payment_requested", "phone@example.com")
    assert pay_url in asked["text_body"] and "£65.00" in asked["text_body"]
    assert await _emails(notifications_pool, "booking_confirmed", "phone@example.com") == []
    assert await _deliveries(notifications_pool, "booking.created", body["id"]) == [], "not booked until paid"

    # The link: the manage page's booking, and the payment it takes.
    token = token_of(pay_url)
    seen = await gateway.get(f"/api/v1/bookings/{body['id']}", params={"token": token})
    assert seen.status == 200 and (await seen.json())["status"] == "pending_payment"
    refused = await gateway.get(f"/api/v1/bookings/{body['id']}/payment", params={"token": token[:-2] + "xx"})
    assert refused.status == 403
    due = await gateway.get(f"/api/v1/bookings/{body['id']}/payment", params={"token": token})
    assert due.status == 200, await due.text()
    payment = await due.json()
    assert payment["amount_due"] == {"amount": 6500, "currency": "GBP"} and payment["payment"]["client_secret"]
    assert datetime.fromisoformat(payment["pay_by"]) == pay_by

    assert await customer_pays(settings.stripe_api_base, payment["payment"]["stripe_payment_intent"]) == "succeeded"
    await checkout.reconcile()
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(body["id"])) == "confirmed"
    [confirmed] = await _emails(notifications_pool, "booking_confirmed", "phone@example.com")
    assert "at the clinic" not in confirmed["text_body"]
    [created] = await _deliveries(notifications_pool, "booking.created", body["id"])
    assert (created["data"]["booked_by"], created["data"]["payment"]) == ("clinic", "online")
    paid_already = await gateway.get(f"/api/v1/bookings/{body['id']}/payment", params={"token": token})
    assert paid_already.status == 409 and (await paid_already.json())["error"]["code"] == "nothing_to_pay"


async def test_the_same_idempotency_key_books_once(gateway, keys, booking, booking_pool):
    slot = (await free_slots(booking))[2]
    headers = {**bearer(keys[URBAN]), "Idempotency-Key": "phone-call-42"}
    first = await gateway.post("/api/v1/clinic/bookings", json=_phone_booking(slot["start"], "online"), headers=headers)
    again = await gateway.post("/api/v1/clinic/bookings", json=_phone_booking(slot["start"], "online"), headers=headers)
    assert first.status == again.status == 201
    assert (await first.json())["id"] == (await again.json())["id"]
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'pending_payment'") == 1
        assert await conn.fetchval("SELECT count(*) FROM booking_actions") == 1


@pytest.mark.parametrize("sign, advice", [("saddle_numbness", "A&E now"), ("calf_swelling", "GP")])
async def test_a_red_flag_refuses_a_phone_booking_with_the_advice_and_books_nothing(
    gateway, keys, booking, booking_pool, sign, advice
):
    slot = (await free_slots(booking))[0]
    async with booking_pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM bookings")
    resp = await gateway.post(
        "/api/v1/clinic/bookings",
        json=_phone_booking(slot["start"], "at_clinic", answers={**ALL_CLEAR, sign: True}),
        headers=bearer(keys[URBAN]),
    )
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "screening_red_flag" and advice in error["message"]
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == before
        assert await conn.fetchval("SELECT count(*) FROM screenings") == 0
    assert slot["start"] in [s["start"] for s in await free_slots(booking)]


async def test_a_first_booking_without_answers_is_asked_them_and_the_time_let_go(gateway, keys, booking):
    slot = (await free_slots(booking))[0]
    resp = await gateway.post(
        "/api/v1/clinic/bookings",
        json=_phone_booking(slot["start"], "at_clinic", answers=None),
        headers=bearer(keys[URBAN]),
    )
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "screening_required" and len(error["details"]["questions"]) == 7
    assert slot["start"] in [s["start"] for s in await free_slots(booking)], "the hold was let go"


async def test_staff_book_by_phone_by_the_slot_rules(gateway, keys, booking, settings):
    slot = (await free_slots(booking))[0]
    ok = await booking.post(
        "/api/v1/clinic/bookings", json=_phone_booking(slot["start"], "at_clinic"), headers=staff_of(settings)
    )
    assert ok.status == 201, await ok.text()
    assert [(a["action"], a["role"]) for a in (await ok.json())["actions"]] == [("book", "staff")]
    twice = await gateway.post(
        "/api/v1/clinic/bookings",
        json=_phone_booking(slot["start"], "at_clinic", email="other@example.com"),
        headers=bearer(keys[URBAN]),
    )
    assert twice.status == 409 and (await twice.json())["error"]["code"] == "slot_taken"
    bad = await gateway.post(
        "/api/v1/clinic/bookings", json=_phone_booking(slot["start"], "cheque"), headers=bearer(keys[URBAN])
    )
    assert bad.status == 422 and (await bad.json())["error"]["details"][0]["field"] == "payment"


# --- whose booking --------------------------------------------------------------------------------


async def test_another_clinics_booking_is_not_found_and_stays_as_it_was(
    gateway, keys, booking, checkout, booking_pool, settings
):
    paid = await book_and_pay(booking, checkout)
    theirs = bearer(keys["spinecare"])
    for action, body in (("cancel", {"reason": "not ours"}), ("reschedule", {"start": paid["start"]})):
        resp = await gateway.post(f"/api/v1/clinic/bookings/{paid['id']}/{action}", json=body, headers=theirs)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "booking_not_found"
        staff = await booking.post(
            f"/api/v1/clinic/bookings/{paid['id']}/{action}", json=body, headers=staff_of(settings, "spinecare")
        )
        assert staff.status == 404
        anonymous = await gateway.post(f"/api/v1/clinic/bookings/{paid['id']}/{action}", json=body)
        assert anonymous.status == 401
    slot = (await free_slots(booking))[3]
    phone = await gateway.post(
        "/api/v1/clinic/bookings", json=_phone_booking(slot["start"], "at_clinic"), headers=theirs
    )
    assert phone.status == 404 and (await phone.json())["error"]["code"] == "treatment_not_found"
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, starts_at FROM bookings WHERE id = $1", uuid.UUID(paid["id"]))
        assert await conn.fetchval("SELECT count(*) FROM booking_actions") == 0
    assert row["status"] == "confirmed" and row["starts_at"] == datetime.fromisoformat(paid["start"])


async def test_a_phone_booking_awaiting_payment_can_be_called_off_and_then_cannot_be_paid(
    gateway, keys, booking, checkout, event_path, endpoint, booking_pool, payments_pool, notifications_pool, settings
):
    """The customer rings back before paying: reception cancels it, the time is free again, the customer is
    told, and the pay link's payment is cancelled at Stripe, so paying it now fails."""
    slot = (await free_slots(booking))[2]
    made = await gateway.post(
        "/api/v1/clinic/bookings", json=_phone_booking(slot["start"], "online"), headers=bearer(keys[URBAN])
    )
    assert made.status == 201, await made.text()
    body = await made.json()
    await event_path.drain()
    due = await (
        await gateway.get(f"/api/v1/bookings/{body['id']}/payment", params={"token": token_of(body["manage_url"])})
    ).json()
    intent = due["payment"]["stripe_payment_intent"]

    resp = await booking.post(
        f"/api/v1/clinic/bookings/{body['id']}/cancel",
        json={"reason": "customer rang back"},
        headers=staff_of(settings),
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "cancelled"
    await event_path.drain()
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM payments WHERE stripe_payment_intent = $1", intent) == "canceled"
    with pytest.raises(stripe.InvalidRequestError):  # the link's payment is gone: Stripe refuses to confirm it
        await customer_pays(settings.stripe_api_base, intent)
    [told] = await _emails(notifications_pool, "booking_cancelled", "phone@example.com")
    assert "Grace" in told["text_body"]
    assert slot["start"] in {s["start"] for s in await free_slots(booking)}, "the time is free again"
    again = await booking.post(
        f"/api/v1/clinic/bookings/{body['id']}/cancel", json={"reason": "twice"}, headers=staff_of(settings)
    )
    assert again.status == 409 and (await again.json())["error"]["details"] == {"status": "cancelled"}
