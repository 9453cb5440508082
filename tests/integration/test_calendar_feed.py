"""A therapist's calendar feed, through the gateway: the owner makes a secret .ics URL, a calendar app polls it and
sees the therapist's bookings with the customer's initials only; a move updates the same entry, a new URL or a
revocation kills the old one (404, like any wrong token), staff may not manage it, another clinic cannot reach it,
and the token never reaches a log line."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest
from icalendar import Calendar

from services.booking import calendar_feed
from services.booking.screening import questionnaire
from services.booking.seed import stable_id
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from shared.logs import JsonFormatter
from tests.support.booking import (
    ALL_CLEAR,
    OTHER_THERAPIST,
    THERAPIST,
    booking_body,
    free_slots,
    hold,
    next_weekday,
)
from tests.support.clinic_api import bearer

URBAN, SPINECARE = "urban-therapy", "spinecare"
CUSTOMER = {"name": "Ada Lovelace", "email": "ada.lovelace@example.com", "phone": "07700 900123"}
# A flag the screening records without stopping the booking: health data the feed must never show.
FLAGGED = {**ALL_CLEAR, "pain_both_legs": True}


def manage_path(therapist: str = THERAPIST) -> str:
    return f"/api/v1/clinic/therapists/{therapist}/calendar-feed"


async def make_feed(gateway, keys, settings, therapist: str = THERAPIST) -> str:
    """The new feed's path on the gateway (its URL is the public URL's)."""
    resp = await gateway.post(manage_path(therapist), headers=bearer(keys[URBAN]))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert set(body) == {"url", "created_at"} and resp.headers["Cache-Control"] == "no-store"
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None
    url = body["url"]
    prefix = settings.public_url + "/api/v1/calendar/"
    assert url.startswith(prefix) and url.endswith(".ics")
    assert len(url[len(prefix) : -len(".ics")]) >= 22, "at least 128 bits"
    return url[len(settings.public_url) :]


def token_in(path: str) -> str:
    return path.removeprefix("/api/v1/calendar/").removesuffix(".ics")


async def entries(resp) -> list:
    assert resp.status == 200, await resp.text()
    return Calendar.from_ical(await resp.read()).walk("VEVENT")


async def book(gateway, checkout, *, therapist: str = THERAPIST, slot: int = 0, pay: bool = True) -> dict:
    """A booking of `therapist` next Tuesday by Ada (with a phone number and a flagged screening), paid by card."""
    start = (await free_slots(gateway, next_weekday(), therapist=therapist))[slot]["start"]
    held = await hold(gateway, start, therapist=therapist)
    resp = await gateway.post("/api/v1/bookings", json=booking_body(held["id"], answers=FLAGGED, customer=CUSTOMER))
    assert resp.status == 201, await resp.text()
    booked = await resp.json()
    if pay:
        await checkout.pay(booked)
    return booked


def manage_token(booked: dict) -> str:
    return parse_qs(urlparse(booked["manage_url"]).query)["token"][0]


def as_role(settings, role: str, clinic: str = URBAN) -> dict:
    """What the gateway sends after checking a caller of `clinic`."""
    return {
        CLINIC_ID_HEADER: str(stable_id(clinic)),
        INTERNAL_TOKEN_HEADER: settings.internal_token,
        CLINIC_ROLE_HEADER: role,
    }


async def test_the_feed_shows_confirmed_bookings_with_initials_only(gateway, keys, settings, checkout):
    path = await make_feed(gateway, keys, settings)
    confirmed = await book(gateway, checkout)
    unpaid = await book(gateway, checkout, slot=2, pay=False)
    cancelled = await book(gateway, checkout, slot=4)
    resp = await gateway.post(f"/api/v1/bookings/{cancelled['id']}/cancel", json={"token": manage_token(cancelled)})
    assert resp.status == 200, await resp.text()
    others = await book(gateway, checkout, therapist=OTHER_THERAPIST)

    resp = await gateway.get(path)
    [event] = await entries(resp)  # not the unpaid, the cancelled or the other therapist's booking
    assert all(b["id"] not in str(event["UID"]) for b in (unpaid, cancelled, others))
    assert event["UID"] == f"therapist-booking-{confirmed['id']}@clinic-booking"
    assert event["SUMMARY"] == "Deep tissue massage (60 min) \u2014 A. L."
    assert event.decoded("DTSTART") == datetime.fromisoformat(confirmed["start"])
    assert event.decoded("DTEND") == datetime.fromisoformat(confirmed["end"])
    assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert resp.headers["Cache-Control"] == "private, max-age=300"
    assert "noindex" in resp.headers["X-Robots-Tag"] and resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["ETag"].startswith('"') and "RateLimit-Remaining" in resp.headers, "limited like any path"
    text = (await resp.read()).decode()
    for secret in ("Ada", "Lovelace", "ada.lovelace", "example.com", "07700", "900123", "pain_both_legs"):
        assert secret not in text, secret
    for question in questionnaire().questions:
        assert question.text not in text
    # The owner sees that it was polled, never its URL.
    state = await gateway.get(manage_path(), headers=bearer(keys[URBAN]))
    body = await state.json()
    assert body["active"] is True and body["last_polled_at"] is not None and token_in(path) not in await state.text()


async def test_the_feed_covers_30_days_back_to_the_booking_horizon(gateway, keys, settings, checkout, booking_pool):
    path = await make_feed(gateway, keys, settings)
    booked = await book(gateway, checkout)
    now = datetime.now(timezone.utc)

    async def move_to(start: datetime) -> list:
        async with booking_pool.acquire() as conn:  # as time passing (or a horizon shortened) would leave it
            await conn.execute(
                "UPDATE bookings SET starts_at = $2::timestamptz, ends_at = $2::timestamptz + interval '1 hour', "
                "blocked = tstzrange($2::timestamptz, $2::timestamptz + interval '75 minutes') WHERE id = $1",
                uuid.UUID(booked["id"]),
                start,
            )
        return await entries(await gateway.get(path))

    assert len(await move_to(now - timedelta(days=29))) == 1
    assert await move_to(now - timedelta(days=32)) == []
    assert len(await move_to(now + timedelta(days=59))) == 1  # the demo clinic books 60 days ahead
    assert await move_to(now + timedelta(days=62)) == []


async def test_a_rescheduled_booking_keeps_its_entry_at_its_new_time(gateway, keys, settings, checkout):
    path = await make_feed(gateway, keys, settings)
    booked = await book(gateway, checkout)
    first = await gateway.get(path)
    [before] = await entries(first)
    new_start = (await free_slots(gateway, next_weekday(3)))[1]["start"]
    resp = await gateway.post(
        f"/api/v1/bookings/{booked['id']}/reschedule", json={"token": manage_token(booked), "start": new_start}
    )
    assert resp.status == 200, await resp.text()

    moved = await gateway.get(path, headers={"If-None-Match": first.headers["ETag"]})
    [after] = await entries(moved)  # 200: the old ETag is stale
    assert after["UID"] == before["UID"]
    assert after.decoded("DTSTART") == datetime.fromisoformat(new_start) != before.decoded("DTSTART")
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("LAST-MODIFIED") >= before.decoded("LAST-MODIFIED")  # to the second: maybe the same one
    assert moved.headers["ETag"] != first.headers["ETag"]


async def test_an_unchanged_feed_answers_304_to_its_etag(gateway, keys, settings, checkout):
    path = await make_feed(gateway, keys, settings)
    await book(gateway, checkout)
    first = await gateway.get(path)
    assert first.status == 200
    again = await gateway.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and await again.read() == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == "private, max-age=300"
    other = await gateway.get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status == 200 and await other.read() == await first.read()
    head = await gateway.head(path)
    assert head.status == 200 and head.headers["ETag"] == first.headers["ETag"]


async def test_replacing_or_revoking_kills_the_old_url_like_any_wrong_token(gateway, keys, settings):
    first = await make_feed(gateway, keys, settings)
    assert (await gateway.get(first)).status == 200
    second = await make_feed(gateway, keys, settings)
    assert second != first
    replaced = await gateway.get(first)
    assert replaced.status == 404
    assert (await gateway.get(second)).status == 200

    resp = await gateway.delete(manage_path(), headers=bearer(keys[URBAN]))
    assert resp.status == 204
    revoked = await gateway.get(second)
    assert revoked.status == 404
    assert (await gateway.delete(manage_path(), headers=bearer(keys[URBAN]))).status == 204, "a repeat is a no-op"
    state = await gateway.get(manage_path(), headers=bearer(keys[URBAN]))
    assert await state.json() == {"active": False, "created_at": None, "last_polled_at": None}

    bodies = [await replaced.json(), await revoked.json()]
    for wrong in (
        f"/api/v1/calendar/{calendar_feed.new_token()}.ics",
        "/api/v1/calendar/x.ics",
        "/api/v1/calendar/%20.ics",
        "/api/v1/calendar/" + "a" * 2000 + ".ics",
        "/api/v1/calendar/" + token_in(second),  # no .ics
        "/api/v1/calendar/" + token_in(second) + ".ics/more",
    ):
        resp = await gateway.get(wrong)
        assert resp.status == 404, wrong
        bodies.append(await resp.json())
    assert all(body == {"error": {"code": "not_found", "message": "No such resource"}} for body in bodies), bodies


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
async def test_staff_may_not_manage_feeds(booking, settings, method):
    staff = await booking.request(method, manage_path(), headers=as_role(settings, "staff"))
    assert staff.status == 403, await staff.text()
    assert (await staff.json())["error"]["code"] == "owner_only"
    owner = await booking.request(method, manage_path(), headers=as_role(settings, "owner"))
    assert owner.status in (200, 201, 204), await owner.text()


async def test_another_clinics_therapist_is_not_found(gateway, keys, settings):
    path = await make_feed(gateway, keys, settings)
    for method in ("POST", "GET", "DELETE"):
        resp = await gateway.request(method, manage_path(), headers=bearer(keys[SPINECARE]))
        assert resp.status == 404, await resp.text()
        assert (await resp.json())["error"]["code"] == "therapist_not_found"
    assert (await gateway.get(path)).status == 200, "the other clinic's DELETE revoked nothing"
    for therapist in (str(uuid.uuid4()), "not-an-id"):
        resp = await gateway.post(manage_path(therapist), headers=bearer(keys[URBAN]))
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "therapist_not_found"


async def test_the_token_never_reaches_a_log_line(gateway, keys, settings, caplog):
    # As in production (shared.logs.setup_logging, run_service): our middleware's line is the access log. (Set
    # first: each set_level also sets the capturing handler's level, and the last one must be DEBUG.)
    caplog.set_level(logging.WARNING, logger="aiohttp.access")
    caplog.set_level(logging.DEBUG)
    path = await make_feed(gateway, keys, settings)
    first = await gateway.get(path)
    await gateway.get(path, headers={"If-None-Match": first.headers["ETag"]})
    await gateway.delete(manage_path(), headers=bearer(keys[URBAN]))
    assert (await gateway.get(path)).status == 404

    formatter = JsonFormatter("test")
    lines = [formatter.format(record) for record in caplog.records]
    assert not [line for line in lines if token_in(path) in line]
    logged = [
        r
        for r in caplog.records
        if r.getMessage() == "request" and r.__dict__.get("path", "").startswith("/api/v1/calendar/")
    ]
    # Both the gateway and the booking service logged the polls, each with the path's secret redacted.
    assert {r.__dict__["path"] for r in logged} == {"/api/v1/calendar/[redacted]"} and len(logged) >= 6
    assert {r.__dict__["status"] for r in logged} == {200, 304, 404}
