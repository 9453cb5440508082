"""Availability over HTTP: clinic wall time with offsets, honouring bookings, DST days, bad input."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.booking.seed import stable_id
from tests.support.booking import CLINIC, OTHER_THERAPIST, THERAPIST, TREATMENT, free_slots, hold, next_weekday

AVAILABILITY = f"/api/v1/clinics/{CLINIC}/availability"


async def test_slots_are_clinic_wall_times_with_offsets_inside_hours(booking):
    day = next_weekday(1)  # a Tuesday: Amara works 09:00–18:00 with lunch 13:00–14:00
    slots = await free_slots(booking, day)
    starts = [datetime.fromisoformat(s["start"]) for s in slots]
    assert all(s.utcoffset() is not None for s in starts)
    walls = [s.strftime("%H:%M") for s in starts]
    assert walls[0] == "09:00" and walls[-1] == "17:00"
    assert not any("12:15" < w < "14:00" for w in walls), "a 60-minute massage never runs into lunch"
    assert {s["therapist"]["id"] for s in slots} == {THERAPIST}


async def test_a_hold_takes_its_time_and_buffer_out_of_availability(booking):
    day = next_weekday(2)
    before = await free_slots(booking, day)
    held = await hold(booking, before[4]["start"])  # 10:00, with a 15-minute buffer after
    after = {s["start"][11:16] for s in await free_slots(booking, day)}
    assert held["start"][11:16] == "10:00"
    # A 60-minute slot plus its own 15-minute buffer must end by 10:00, or start after 11:15.
    assert not {w for w in after if w < "11:15"}
    assert "11:15" in after


async def test_without_a_therapist_every_therapist_giving_the_treatment(booking):
    slots = await free_slots(booking, next_weekday(3), therapist=None)
    assert {s["therapist"]["id"] for s in slots} == {THERAPIST, OTHER_THERAPIST}


async def test_dst_days_through_the_api(booking, booking_pool):
    async with booking_pool.acquire() as conn:  # open late on Sundays, and book far ahead
        await conn.execute("UPDATE clinics SET booking_horizon_days = 730")
        await conn.execute(
            "INSERT INTO working_hours (therapist_id, weekday, starts, ends) VALUES ($1, 6, '00:00', '04:00')",
            stable_id(CLINIC, "therapist", "amara-okafor"),
        )
    spring = await free_slots(booking, datetime(2027, 3, 28).date())
    walls = [s["start"][11:16] for s in spring]
    assert walls[0] == "00:00" and not any(w.startswith("01:") for w in walls)
    assert {s["start"][-6:] for s in spring} == {"+00:00", "+01:00"}
    autumn = await free_slots(booking, datetime(2027, 10, 31).date())
    walls = [s["start"][11:16] for s in autumn]
    assert len(walls) == len(set(walls)) and "01:00" in walls


@pytest.mark.parametrize(
    "query, status, code",
    [
        ({"treatment": TREATMENT, "from": "2026-12-01", "to": "2027-02-01"}, 422, "range_too_large"),
        ({"treatment": TREATMENT, "from": "2026-12-05", "to": "2026-12-01"}, 422, "invalid_range"),
        ({"treatment": TREATMENT, "from": "next tuesday"}, 422, "validation_failed"),
        ({}, 422, "validation_failed"),
        ({"treatment": "not-an-id"}, 422, "validation_failed"),
        ({"treatment": str(stable_id("spinecare", "treatment", "deep-tissue-90"))}, 404, "treatment_not_found"),
        (
            {"treatment": TREATMENT, "therapist": str(stable_id("spinecare", "therapist", "priya-shah"))},
            404,
            "therapist_not_found",
        ),
        (
            {"treatment": str(stable_id(CLINIC, "treatment", "swedish-60")), "therapist": OTHER_THERAPIST},
            422,
            "therapist_does_not_give_treatment",
        ),
    ],
)
async def test_bad_queries(booking, query, status, code):
    resp = await booking.get(AVAILABILITY, params=query)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code


async def test_range_is_inclusive_and_at_most_31_days(booking):
    first = next_weekday(0)
    resp = await booking.get(
        AVAILABILITY,
        params={
            "treatment": TREATMENT,
            "therapist": THERAPIST,
            "from": first.isoformat(),
            "to": (first + timedelta(days=30)).isoformat(),
        },
    )
    assert resp.status == 200
    days = {s["start"][:10] for s in (await resp.json())["slots"]}
    assert len(days) >= 20


async def test_without_dates_a_week_from_the_clinic_s_today(booking):
    from datetime import datetime as dt
    from zoneinfo import ZoneInfo

    resp = await booking.get(AVAILABILITY, params={"treatment": TREATMENT, "therapist": THERAPIST})
    assert resp.status == 200
    body = await resp.json()
    today = dt.now(ZoneInfo("Europe/London")).date()
    assert (body["from"], body["to"]) == (today.isoformat(), (today + timedelta(days=6)).isoformat())
    only_to = await booking.get(
        AVAILABILITY, params={"treatment": TREATMENT, "to": (today + timedelta(days=40)).isoformat()}
    )
    assert only_to.status == 422 and (await only_to.json())["error"]["code"] == "range_too_large"
