"""Confirming holds with a health screening, and managing bookings with signed links."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest

from services.booking.app import create_app as create_booking_app
from services.booking.service import health_sealer
from services.booking.settings import BookingSettings
from services.booking.tokens import make_token
from tests.support.booking import (
    ALL_CLEAR,
    COURSE,
    COURSE_DAYS,
    THERAPIST,
    book_and_pay,
    booking_body,
    free_slots,
    hold,
    next_weekday,
)


async def table_counts(pool) -> dict:
    async with pool.acquire() as conn:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in ("bookings", "screenings", "outbox")}


async def events(pool) -> list[dict]:
    async with pool.acquire() as conn:
        return [r["envelope"] for r in await conn.fetch("SELECT envelope FROM outbox ORDER BY seq")]


def token_of(manage_url: str) -> str:
    return parse_qs(urlparse(manage_url).query)["token"][0]


async def test_a_hold_becomes_a_booking_confirmed_when_the_card_payment_succeeds(
    booking, booking_pool, payments_pool, settings, checkout
):
    held = await hold(booking, (await free_slots(booking))[0]["start"])
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"]))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["id"] == held["id"] and body["status"] == "pending_payment"
    assert body["amount_due"] == {"amount": 6500, "currency": "GBP"}
    assert body["payment"]["amount"] == 6500 and body["payment"]["client_secret"]
    assert body["manage_url"].startswith(f"{settings.public_url}/manage/{body['id']}?token=")
    assert body["id"] not in token_of(body["manage_url"])
    assert [e["type"] for e in await events(booking_pool)] == ["booking.held", "booking.pending_payment"], (
        "not confirmed before payment"
    )

    assert await checkout.pay(body) == "succeeded"

    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(body["id"])) == "confirmed"
    confirmed = (await events(booking_pool))[-1]
    assert confirmed["type"] == "booking.confirmed"
    assert confirmed["data"]["customer"]["email"] == "ada@example.com"
    assert confirmed["data"]["manage_url"] == body["manage_url"]
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM payments") == "succeeded"


async def test_screening_answers_are_kept_with_the_booking_and_nowhere_else(booking, booking_pool, caplog):
    caplog.set_level(logging.DEBUG)
    answers = {**ALL_CLEAR, "pain_both_legs": True}
    held = await hold(booking, (await free_slots(booking))[0]["start"])
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"], answers=answers))
    assert resp.status == 201
    async with booking_pool.acquire() as conn:
        stored = await conn.fetchrow(
            "SELECT answers_sealed, outcome FROM screenings WHERE booking_id = $1", uuid.UUID(held["id"])
        )
        dump = str(await conn.fetch("SELECT s::text FROM screenings s"))  # what a backup would show
    # Kept encrypted with the key outside the database: the clinic's view opens it (test_clinic_api_auth).
    assert stored["outcome"] == "flag" and health_sealer(BookingSettings().health_data_key).open(
        stored["answers_sealed"]
    ) == {"answers": answers, "flags": ["pain_both_legs"]}
    for text in [json.dumps(e) for e in await events(booking_pool)] + [await resp.text(), caplog.text, dump]:
        assert "pain_both_legs" not in text and "saddle_numbness" not in text and ": true" not in text


@pytest.mark.parametrize("sign, advice", [("saddle_numbness", "A&E now"), ("calf_swelling", "GP")])
async def test_a_red_flag_stops_the_booking_with_advice_and_writes_nothing(booking, booking_pool, sign, advice):
    held = await hold(booking, (await free_slots(booking))[0]["start"])
    before = await table_counts(booking_pool)
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"], answers={**ALL_CLEAR, sign: True}))
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "screening_red_flag" and advice in error["message"]
    assert await table_counts(booking_pool) == before
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(held["id"])) == "held"


async def test_screening_is_required_before_a_first_booking_only(booking, booking_pool):
    slots = await free_slots(booking)
    first = await hold(booking, slots[0]["start"])
    resp = await booking.post("/api/v1/bookings", json=booking_body(first["id"], answers=None))
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "screening_required" and len(error["details"]["questions"]) == 7

    assert (await booking.post("/api/v1/bookings", json=booking_body(first["id"]))).status == 201
    second = await hold(booking, slots[-1]["start"])
    again = await booking.post(
        "/api/v1/bookings", json=booking_body(second["id"], email="ADA@example.com", answers=None)
    )
    assert again.status == 201, "a returning customer is not asked again"


async def test_incomplete_answers_are_422(booking):
    held = await hold(booking, (await free_slots(booking))[0]["start"])
    partial = dict(ALL_CLEAR)
    partial.pop("calf_swelling")
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"], answers=partial))
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["missing"] == ["calf_swelling"]


async def test_expired_used_or_unknown_holds(booking, booking_pool):
    slots = await free_slots(booking)
    used = await hold(booking, slots[0]["start"])  # booked (awaiting payment): no longer a hold
    assert (await booking.post("/api/v1/bookings", json=booking_body(used["id"]))).status == 201
    resp = await booking.post("/api/v1/bookings", json=booking_body(used["id"]))
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "hold_used"

    expired = await hold(booking, slots[-1]["start"])
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(expired["id"])
        )
    resp = await booking.post("/api/v1/bookings", json=booking_body(expired["id"]))
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "hold_expired"

    resp = await booking.post("/api/v1/bookings", json=booking_body(str(uuid.uuid4())))
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "hold_not_found"


async def test_booking_twice_with_the_same_idempotency_key_makes_one_payment(booking, payments_pool):
    held = await hold(booking, (await free_slots(booking))[0]["start"])
    headers = {"Idempotency-Key": "pay-once"}
    first = await booking.post("/api/v1/bookings", json=booking_body(held["id"]), headers=headers)
    again = await booking.post("/api/v1/bookings", json=booking_body(held["id"]), headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert (await first.json())["payment"] == (await again.json())["payment"]
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1


async def test_a_course_is_paid_once_and_confirmed_all_together(booking, booking_pool, checkout):
    first = (await free_slots(booking, next_weekday(0, open_days=COURSE_DAYS)))[0]["start"]
    resp = await booking.post(
        "/api/v1/holds", json={"clinic": "urban-therapy", "course": COURSE, "therapist": THERAPIST, "start": first}
    )
    series = await resp.json()
    resp = await booking.post("/api/v1/bookings", json=booking_body(series["id"]))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert len(body["sessions"]) == 6 and {s["status"] for s in body["sessions"]} == {"pending_payment"}
    assert body["payment"]["amount"] == 34500
    await checkout.pay(body)
    assert [e["type"] for e in await events(booking_pool)].count("booking.confirmed") == 6


# --- manage links --------------------------------------------------------------------------------


async def test_view_with_the_link_and_not_without(booking, settings, checkout):
    booked = await book_and_pay(booking, checkout)
    token = token_of(booked["manage_url"])
    ok = await booking.get(f"/api/v1/bookings/{booked['id']}", params={"token": token})
    assert ok.status == 200 and (await ok.json())["status"] == "confirmed"
    other = await book_and_pay(booking, checkout, email="other@example.com", slot_index=-1)
    forged = make_token("not-the-key", uuid.UUID(booked["id"]), datetime.now(timezone.utc) + timedelta(days=1))
    expired = make_token(
        settings.manage_link_key, uuid.UUID(booked["id"]), datetime.now(timezone.utc) - timedelta(seconds=1)
    )
    for bad in (token_of(other["manage_url"]), forged, expired, "", booked["id"]):
        resp = await booking.get(f"/api/v1/bookings/{booked['id']}", params={"token": bad})
        assert resp.status == 403, bad
        assert (await resp.json())["error"]["code"] == "invalid_token"
    resp = await booking.post(f"/api/v1/bookings/{booked['id']}/cancel", json={"token": forged})
    assert resp.status == 403


async def test_cancel_within_the_window(booking, booking_pool, checkout):
    booked = await book_and_pay(booking, checkout)
    resp = await booking.post(f"/api/v1/bookings/{booked['id']}/cancel", json={"token": token_of(booked["manage_url"])})
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    cancelled = (await events(booking_pool))[-1]
    assert cancelled["type"] == "booking.cancelled" and cancelled["data"]["booking_id"] == booked["id"]
    again = await booking.post(f"/api/v1/bookings/{booked['id']}/cancel?token={token_of(booked['manage_url'])}")
    assert again.status == 409 and (await again.json())["error"]["code"] == "not_changeable"
    # The time is free again.
    assert booked["start"] in [s["start"] for s in await free_slots(booking)]


async def test_outside_the_window_the_clinic_policy_is_returned(booking, booking_pool, checkout):
    booked = await book_and_pay(booking, checkout)
    async with booking_pool.acquire() as conn:  # the appointment is now only 3 hours away
        await conn.execute(
            "UPDATE bookings SET starts_at = now() + interval '3 hours', "
            "ends_at = now() + interval '4 hours' WHERE id = $1",
            uuid.UUID(booked["id"]),
        )
    before = await table_counts(booking_pool)
    for action, body in (("cancel", {}), ("reschedule", {"start": booked["start"]})):
        resp = await booking.post(
            f"/api/v1/bookings/{booked['id']}/{action}", json={**body, "token": token_of(booked["manage_url"])}
        )
        assert resp.status == 409
        error = (await resp.json())["error"]
        assert error["code"] == "outside_change_window" and "24 hours" in error["message"]
    assert await table_counts(booking_pool) == before


async def test_reschedule_moves_the_same_booking(booking, booking_pool, checkout):
    booked = await book_and_pay(booking, checkout)
    new_start = (await free_slots(booking, next_weekday(3)))[2]["start"]
    resp = await booking.post(
        f"/api/v1/bookings/{booked['id']}/reschedule",
        json={"token": token_of(booked["manage_url"]), "start": new_start},
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["id"] == booked["id"] and body["start"] == new_start
    moved = (await events(booking_pool))[-1]
    assert moved["type"] == "booking.rescheduled" and moved["data"]["previous"]["start"] != moved["data"]["start"]
    assert booked["start"] in [s["start"] for s in await free_slots(booking)], "the old time is free again"


async def test_reschedule_onto_a_taken_or_invalid_time(booking, checkout):
    booked = await book_and_pay(booking, checkout)
    taken = await book_and_pay(booking, checkout, email="b@example.com", day=next_weekday(3))
    token = token_of(booked["manage_url"])
    resp = await booking.post(
        f"/api/v1/bookings/{booked['id']}/reschedule", json={"token": token, "start": taken["start"]}
    )
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "slot_taken"
    off_grid = taken["start"].replace(":00:00", ":07:00")
    resp = await booking.post(f"/api/v1/bookings/{booked['id']}/reschedule", json={"token": token, "start": off_grid})
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "off_grid"


async def test_screenings_kept_before_sealing_are_sealed_when_the_service_starts(
    booking, booking_pool, settings, aiohttp_server
):
    held = await hold(booking, (await free_slots(booking))[0]["start"])
    await booking.post("/api/v1/bookings", json=booking_body(held["id"], answers={**ALL_CLEAR, "pain_both_legs": True}))
    async with booking_pool.acquire() as conn:  # as a row from before migration 0007 stood
        await conn.execute("""UPDATE screenings SET answers_sealed = NULL, flags = '{pain_both_legs}',
                                     answers = '{"pain_both_legs": true}'""")
    await aiohttp_server(create_booking_app(settings))  # a (re)start of the booking service
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT answers, flags, answers_sealed FROM screenings")
    assert row["answers"] is None and row["flags"] == []
    assert health_sealer(settings.health_data_key).open(row["answers_sealed"]) == {
        "answers": {"pain_both_legs": True},
        "flags": ["pain_both_legs"],
    }
