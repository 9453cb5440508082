"""The catalogue as customers see it: clinics with policies, treatments, courses, therapists, screening."""

from __future__ import annotations

from tests.support.booking import CLINIC, COURSE, THERAPIST, TREATMENT


async def get_json(client, path):
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_clinics_with_time_zone_and_policies(booking):
    clinics = (await get_json(booking, "/api/v1/clinics"))["clinics"]
    assert [c["name"] for c in clinics] == ["SpineCare Clinic", "Urban Therapy Clinic, London"]
    clinic = await get_json(booking, f"/api/v1/clinics/{CLINIC}")
    assert clinic["timezone"] == "Europe/London"
    assert clinic["policies"]["hold_minutes"] == 10 and clinic["policies"]["change_window_hours"] == 24
    assert "24 hours" in clinic["policies"]["message"]


async def test_treatments_courses_and_therapists(booking):
    treatments = (await get_json(booking, f"/api/v1/clinics/{CLINIC}/treatments"))["treatments"]
    deep = next(t for t in treatments if t["id"] == TREATMENT)
    assert deep["duration_minutes"] == 60 and deep["buffer_after_minutes"] == 15
    assert deep["price"] == {"amount": 6500, "currency": "GBP"} and deep["requires_screening"] is True
    assert {t["name"].split(" (")[0] for t in treatments} >= {
        "Deep tissue massage",
        "Swedish massage",
        "Myofascial release",
        "Trigger point therapy",
    }

    [course] = (await get_json(booking, f"/api/v1/clinics/{CLINIC}/courses"))["courses"]
    assert course["id"] == COURSE and course["sessions"] == 6
    assert course["spacing"] == {"min_days_between": 2, "max_days_between": 4}

    therapists = (await get_json(booking, f"/api/v1/clinics/{CLINIC}/therapists"))["therapists"]
    amara = next(t for t in therapists if t["id"] == THERAPIST)
    assert "GCMT registration" in amara["credentials"] and TREATMENT in amara["treatments"]


async def test_screening_questions_are_published(booking):
    form = await get_json(booking, f"/api/v1/clinics/{CLINIC}/screening")
    ids = [q["id"] for q in form["questions"]]
    assert {"bladder_bowel", "saddle_numbness", "both_legs_weakness", "calf_swelling"} <= set(ids)


async def test_unknown_clinic_is_404_everywhere(booking):
    for path in ("", "/treatments", "/courses", "/therapists", "/screening", f"/availability?treatment={TREATMENT}"):
        resp = await booking.get(f"/api/v1/clinics/nowhere{path}")
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "clinic_not_found"


async def test_unknown_route_is_json_404(booking):
    resp = await booking.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_screening_answers_are_judged_before_booking_and_nothing_is_kept(booking, booking_pool):
    form = await get_json(booking, f"/api/v1/clinics/{CLINIC}/screening")
    clear = {q["id"]: False for q in form["questions"]}
    path = f"/api/v1/clinics/{CLINIC}/screening/check"
    resp = await booking.post(path, json={"answers": clear})
    assert await resp.json() == {"outcome": "clear", "stops_booking": False, "advice": []}
    resp = await booking.post(path, json={"answers": {**clear, "saddle_numbness": True}})
    verdict = await resp.json()
    assert verdict["outcome"] == "emergency" and verdict["stops_booking"] and "A&E" in verdict["advice"][0]
    resp = await booking.post(path, json={"answers": {"saddle_numbness": True}})
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "screening_incomplete"
    assert (await booking.post("/api/v1/clinics/nowhere/screening/check", json={"answers": clear})).status == 404
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM screenings") == 0
