"""Holds: the exclusion constraint decides, expired holds stop blocking at once, courses all or nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from services.booking.app import sweep_expired_holds
from services.booking.seed import stable_id
from tests.support.booking import (
    CLINIC,
    COURSE,
    COURSE_DAYS,
    OTHER_THERAPIST,
    THERAPIST,
    free_slots,
    hold,
    hold_body,
    next_weekday,
)


async def counts(pool) -> dict:
    async with pool.acquire() as conn:
        return {
            "bookings": await conn.fetchval("SELECT count(*) FROM bookings"),
            "outbox": await conn.fetchval("SELECT count(*) FROM outbox"),
        }


async def test_hold_reserves_the_slot_until_it_expires(booking, booking_pool):
    slot = (await free_slots(booking))[0]
    held = await hold(booking, slot["start"])
    assert held["kind"] == "single" and held["start"] == slot["start"]
    expires = datetime.fromisoformat(held["expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(timezone.utc) <= timedelta(minutes=10)
    async with booking_pool.acquire() as conn:
        event = await conn.fetchval("SELECT envelope FROM outbox")
    assert event["type"] == "booking.held" and event["data"]["booking_id"] == held["id"]


async def test_same_or_overlapping_slot_is_409_slot_taken(booking, booking_pool):
    slots = await free_slots(booking)
    await hold(booking, slots[4]["start"])
    for start in (slots[4]["start"], slots[5]["start"], slots[2]["start"]):  # same, +15 min, -30 min
        resp = await booking.post("/api/v1/holds", json=hold_body(start))
        assert resp.status == 409, start
        assert (await resp.json())["error"]["code"] == "slot_taken"
    assert await counts(booking_pool) == {"bookings": 1, "outbox": 1}
    other = await booking.post("/api/v1/holds", json=hold_body(slots[4]["start"], therapist=OTHER_THERAPIST))
    assert other.status == 201, "another therapist at the same time is fine"


async def test_an_expired_hold_stops_blocking_at_once(booking, booking_pool):
    slot = (await free_slots(booking))[0]
    first = await hold(booking, slot["start"])
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1",
            __import__("uuid").UUID(first["id"]),
        )
    # No sweeper has run: availability and a new hold see the time as free straight away.
    assert slot["start"] in [s["start"] for s in await free_slots(booking)]
    second = await hold(booking, slot["start"])
    async with booking_pool.acquire() as conn:
        statuses = dict(await conn.fetch("SELECT id::text, status FROM bookings"))
    assert statuses == {first["id"]: "expired", second["id"]: "held"}
    async with booking_pool.acquire() as conn:
        events = [
            (r["t"], r["id"])
            for r in await conn.fetch(
                "SELECT envelope->>'type' AS t, envelope->'data'->>'booking_id' AS id FROM outbox ORDER BY seq"
            )
        ]
    # Announced as the sweeper would, so payments gives back what a voucher had put towards it.
    assert events == [("booking.held", first["id"]), ("booking.expired", first["id"]), ("booking.held", second["id"])]


async def test_a_refused_hold_leaves_expired_holds_as_they_were(booking, booking_pool):
    import uuid

    slot = (await free_slots(booking))[0]
    first = await hold(booking, slot["start"])
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(first["id"])
        )
    # Off the grid, over the expired hold's time: refused, and the whole request undone.
    resp = await booking.post("/api/v1/holds", json=hold_body(slot["start"].replace(":00:00", ":05:00")))
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "off_grid"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(first["id"])) == "held"


async def test_time_off_counts_against_the_buffers_too(booking, booking_pool):
    import uuid

    # Deep tissue: 60 minutes and a 15-minute buffer after, so a 09:00 start blocks until 10:15.
    tuesday, wednesday = (
        (await free_slots(booking, next_weekday(1)))[0],
        (await free_slots(booking, next_weekday(2)))[0],
    )
    into_buffer, up_to_start = datetime.fromisoformat(tuesday["start"]), datetime.fromisoformat(wednesday["start"])
    async with booking_pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO time_off (therapist_id, period) VALUES ($1, tstzrange($2, $3))",
            [
                (uuid.UUID(THERAPIST), into_buffer + timedelta(minutes=70), into_buffer + timedelta(hours=3)),
                (uuid.UUID(THERAPIST), up_to_start - timedelta(hours=3), up_to_start),
            ],
        )
    resp = await booking.post("/api/v1/holds", json=hold_body(tuesday["start"]))
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "therapist_unavailable"
    assert (await hold(booking, wednesday["start"]))["start"] == wednesday["start"], "time off ending at the start"


async def test_the_sweeper_expires_old_holds_and_announces_it(booking, booking_pool):
    import uuid

    held = await hold(booking, (await free_slots(booking))[0]["start"])
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE bookings SET expires_at = now() - interval '1 minute'")
    sweeper = asyncio.create_task(sweep_expired_holds(booking.server.app, interval=0.05))
    try:
        for _ in range(100):
            async with booking_pool.acquire() as conn:
                if await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(held["id"])) == "expired":
                    break
            await asyncio.sleep(0.02)
    finally:
        sweeper.cancel()
    async with booking_pool.acquire() as conn:
        types = [r["t"] for r in await conn.fetch("SELECT envelope->>'type' AS t FROM outbox ORDER BY seq")]
    assert types == ["booking.held", "booking.expired"]


@pytest.mark.parametrize(
    "make_start, code",
    [
        (lambda s: s[0]["start"].replace(":00:00", ":05:00"), "off_grid"),
        (lambda s: s[0]["start"].replace("T09:00", "T07:00"), "outside_hours"),
        (lambda s: s[0]["start"].replace("T09:00", "T13:00"), "therapist_unavailable"),  # lunch break
        (lambda s: "2026-12-24T10:00:00+00:00", "therapist_unavailable"),  # Christmas time off
        (lambda s: "2020-01-07T10:00:00+00:00", "start_in_past"),
        (lambda s: (datetime.now(timezone.utc) + timedelta(minutes=30)).isoformat(), "too_little_notice"),
        (
            lambda s: (
                (datetime.now(timezone.utc) + timedelta(days=400))
                .replace(hour=10, minute=0, second=0, microsecond=0)
                .isoformat()
            ),
            "beyond_horizon",
        ),
    ],
)
async def test_starts_the_rules_refuse_are_422_and_write_nothing(booking, booking_pool, make_start, code):
    slots = await free_slots(booking, next_weekday(1))
    resp = await booking.post("/api/v1/holds", json=hold_body(make_start(slots)))
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == code and error["message"][0].isupper()
    assert await counts(booking_pool) == {"bookings": 0, "outbox": 0}


@pytest.mark.parametrize(
    "overrides, status, code",
    [
        ({"clinic": "nowhere"}, 404, "clinic_not_found"),
        ({"treatment": str(stable_id("spinecare", "treatment", "deep-tissue-90"))}, 404, "treatment_not_found"),
        ({"therapist": str(stable_id("spinecare", "therapist", "priya-shah"))}, 404, "therapist_not_found"),
        (
            {"treatment": str(stable_id(CLINIC, "treatment", "swedish-60")), "therapist": OTHER_THERAPIST},
            422,
            "therapist_does_not_give_treatment",
        ),
        ({"start": "2026-12-01T10:00:00"}, 422, "validation_failed"),
        ({"course": COURSE}, 422, "validation_failed"),  # a treatment and a course at once
    ],
)
async def test_unknown_or_inconsistent_references(booking, booking_pool, overrides, status, code):
    slot = (await free_slots(booking))[0]
    resp = await booking.post("/api/v1/holds", json={**hold_body(slot["start"]), **overrides})
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    assert await counts(booking_pool) == {"bookings": 0, "outbox": 0}


async def test_idempotency_key_replays_the_same_hold(booking, booking_pool):
    slot = (await free_slots(booking))[0]
    headers = {"Idempotency-Key": "hold-once"}
    first = await booking.post("/api/v1/holds", json=hold_body(slot["start"]), headers=headers)
    again = await booking.post("/api/v1/holds", json=hold_body(slot["start"]), headers=headers)
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["id"] == (await again.json())["id"]
    assert (await counts(booking_pool))["bookings"] == 1


def course_body(**overrides) -> dict:
    body = {"clinic": CLINIC, "course": COURSE, "therapist": THERAPIST}
    body.update(overrides)
    return body


async def test_a_course_holds_six_sessions_with_the_recommended_spacing(booking, booking_pool):
    first = (await free_slots(booking, next_weekday(0, open_days=COURSE_DAYS)))[0]
    resp = await booking.post("/api/v1/holds", json=course_body(start=first["start"]))
    assert resp.status == 201, await resp.text()
    series = await resp.json()
    assert series["kind"] == "series" and len(series["sessions"]) == 6
    days = [datetime.fromisoformat(s["start"]).date() for s in series["sessions"]]
    assert all(2 <= (b - a).days <= 4 for a, b in zip(days, days[1:]))
    assert sum(s["price"]["amount"] for s in series["sessions"]) == 34500
    assert (await counts(booking_pool))["bookings"] == 6


async def test_a_course_with_one_taken_session_holds_nothing(booking, booking_pool):
    day = next_weekday(0, open_days=COURSE_DAYS)
    offsets = (0, 2, 4, 7, 9, 11)  # Mon, Wed, Fri, Mon, Wed, Fri
    starts = [(await free_slots(booking, day + timedelta(days=d)))[0]["start"] for d in offsets]
    await hold(booking, starts[3])  # someone else has the fourth session's time
    resp = await booking.post("/api/v1/holds", json=course_body(starts=starts))
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "slot_taken"
    assert await counts(booking_pool) == {"bookings": 1, "outbox": 1}, "none of the other five is held"


async def test_a_course_needs_its_number_of_sessions(booking):
    start = (await free_slots(booking))[0]["start"]
    resp = await booking.post("/api/v1/holds", json=course_body(starts=[start]))
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "wrong_session_count"


async def test_a_released_hold_frees_its_time_at_once_and_a_repeat_changes_nothing(booking, booking_pool):
    from tests.support.booking import free_slots, hold

    slot = (await free_slots(booking))[0]
    held = await hold(booking, slot["start"])
    assert (await booking.delete(f"/api/v1/holds/{held['id']}")).status == 204
    assert (await booking.delete(f"/api/v1/holds/{held['id']}")).status == 204
    again = await hold(booking, slot["start"])  # the same time, free again
    assert again["id"] != held["id"]
    async with booking_pool.acquire() as conn:
        types = [r["t"] for r in await conn.fetch("SELECT envelope->>'type' AS t FROM outbox ORDER BY seq")]
    assert types.count("booking.released") == 1
    assert (await booking.delete("/api/v1/holds/not-an-id")).status == 404
