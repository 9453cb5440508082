"""After the visit: the clinic marks a confirmed booking completed or a no-show, through the clinic API."""

from __future__ import annotations

import json

from tests.support.booking import book_and_pay, next_weekday
from tests.support.clinic_api import bearer


async def _move_into_past(pool, booking_id: str) -> None:
    """The visit's time has come (bookings can only be made ahead, so the test moves this one back)."""
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE bookings SET starts_at = starts_at - interval '30 days', ends_at = ends_at - interval '30 days',
                      blocked = tstzrange(lower(blocked) - interval '30 days', upper(blocked) - interval '30 days')
               WHERE id = $1""",
            booking_id,
        )


async def _outcome_events(pool, booking_id: str) -> list[tuple[str, dict]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT envelope->>'type' AS type, envelope->'data' AS data FROM outbox
               WHERE envelope->'data'->>'booking_id' = $1 ORDER BY seq""",
            booking_id,
        )
    return [(r["type"], r["data"]) for r in rows if r["type"] in {"booking.completed", "booking.no_show"}]


async def test_a_visit_is_marked_completed_once_its_time_has_come(gateway, keys, booking, checkout, booking_pool):
    paid = await book_and_pay(booking, checkout, day=next_weekday(2))
    mine = bearer(keys["urban-therapy"])
    path = f"/api/v1/clinic/bookings/{paid['id']}/complete"

    early = await gateway.post(path, headers=mine)
    assert early.status == 409 and (await early.json())["error"]["code"] == "visit_not_started"
    assert await _outcome_events(booking_pool, paid["id"]) == []

    await _move_into_past(booking_pool, paid["id"])
    done = await gateway.post(path, headers=mine)
    assert done.status == 200, await done.text()
    assert (await done.json())["status"] == "completed"
    again = await gateway.post(path, headers=mine)
    assert again.status == 200 and (await again.json())["status"] == "completed"
    [(kind, data)] = await _outcome_events(booking_pool, paid["id"])
    assert kind == "booking.completed" and data["status"] == "completed", "a repeat adds no second event"
    assert "screening" not in data and "answers" not in json.dumps(data)

    contradicting = await gateway.post(f"/api/v1/clinic/bookings/{paid['id']}/no-show", headers=mine)
    assert contradicting.status == 409
    assert (await contradicting.json())["error"]["code"] == "invalid_transition"
    detail = await (await gateway.get(f"/api/v1/clinic/bookings/{paid['id']}", headers=mine)).json()
    assert detail["status"] == "completed"


async def test_a_no_show_is_recorded_and_cannot_then_be_cancelled(gateway, keys, booking, checkout, booking_pool):
    paid = await book_and_pay(booking, checkout, day=next_weekday(3))
    await _move_into_past(booking_pool, paid["id"])
    resp = await gateway.post(f"/api/v1/clinic/bookings/{paid['id']}/no-show", headers=bearer(keys["urban-therapy"]))
    assert resp.status == 200 and (await resp.json())["status"] == "no_show"
    assert [k for k, _ in await _outcome_events(booking_pool, paid["id"])] == ["booking.no_show"]
    token = paid["manage_url"].split("token=", 1)[1]
    cancel = await booking.post(f"/api/v1/bookings/{paid['id']}/cancel", params={"token": token})
    assert cancel.status == 409 and (await cancel.json())["error"]["code"] == "not_changeable"


async def test_only_the_booking_clinic_can_record_an_outcome(gateway, keys, booking, checkout, booking_pool):
    paid = await book_and_pay(booking, checkout, day=next_weekday(4))
    await _move_into_past(booking_pool, paid["id"])
    for action in ("complete", "no-show"):
        resp = await gateway.post(f"/api/v1/clinic/bookings/{paid['id']}/{action}", headers=bearer(keys["spinecare"]))
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "booking_not_found"
        anonymous = await gateway.post(f"/api/v1/clinic/bookings/{paid['id']}/{action}")
        assert anonymous.status == 401
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", paid["id"]) == "confirmed"


async def test_a_hold_cannot_be_marked(gateway, keys, booking, booking_pool):
    from tests.support.booking import free_slots, hold

    [slot, *_] = await free_slots(booking, next_weekday(2))
    held = await hold(booking, slot["start"])
    await _move_into_past(booking_pool, held["id"])
    resp = await gateway.post(f"/api/v1/clinic/bookings/{held['id']}/complete", headers=bearer(keys["urban-therapy"]))
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "invalid_transition"
