"""Therapists' schedules in the clinic API: the week's hours and breaks (owner changes, staff read), time off
(owner and staff; only the owner confirms over bookings), bad input refused per field, another clinic's therapist
not found, bookings in the way refused with their list, holds in the way released, availability showing a change
at once, and a change serialised with a hold or a move being made into the same time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.booking import schedules_store, service, store
from services.booking.availability import Interval
from services.booking.domain import BookingError
from services.booking.seed import stable_id
from services.booking.unit_of_work import PostgresUnitOfWork
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.booking import (
    CLINIC,
    COURSE,
    COURSE_DAYS,
    THERAPIST,
    book,
    book_and_pay,
    booking_body,
    free_slots,
    hold,
    hold_body,
    next_weekday,
)
from tests.support.clinic_api import bearer
from tests.support.infra import wait_for

CLINIC_ID = stable_id(CLINIC)
AMARA = uuid.UUID(THERAPIST)
PRIYA = stable_id("spinecare", "therapist", "priya-shah")  # another clinic's therapist
HOURS = f"/api/v1/clinic/therapists/{AMARA}/hours"
TIME_OFF = f"/api/v1/clinic/therapists/{AMARA}/time-off"
LONDON = "Europe/London"


def as_role(settings, role: str = "owner") -> dict:
    """What the gateway sends after checking a caller of the clinic."""
    return {
        CLINIC_ID_HEADER: str(CLINIC_ID),
        INTERNAL_TOKEN_HEADER: settings.internal_token,
        CLINIC_ROLE_HEADER: role,
    }


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(LONDON))


def week(**changes) -> dict:
    """Amara's seeded week (Monday to Friday 09:00–18:00 with a break at 13:00, Saturday 10:00–14:00)."""
    body = {
        "hours": [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(5)]
        + [{"weekday": 5, "start": "10:00", "end": "14:00"}],
        "breaks": [{"weekday": d, "start": "13:00", "end": "14:00"} for d in range(5)],
    }
    body.update(changes)
    return body


def with_tuesday(start: str, end: str, breaks: list | None = None) -> dict:
    """The seeded week with Tuesday's hours (and breaks) replaced."""
    body = week()
    body["hours"] = [h for h in body["hours"] if h["weekday"] != 1] + [{"weekday": 1, "start": start, "end": end}]
    body["breaks"] = [b for b in body["breaks"] if b["weekday"] != 1] + (breaks or [])
    return body


async def error(resp, status: int) -> dict:
    assert resp.status == status, await resp.text()
    return (await resp.json())["error"]


def starts(slots: list[dict]) -> list[str]:
    return [datetime.fromisoformat(s["start"]).strftime("%H:%M") for s in slots]


async def outbox_types(pool) -> list[tuple[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT envelope FROM outbox ORDER BY seq")
    return [(r["envelope"]["type"], r["envelope"]["data"].get("booking_id")) for r in rows]


# --- the week ----------------------------------------------------------------------------------------------


async def test_staff_read_the_week_and_only_the_owner_replaces_it(booking, settings):
    resp = await booking.get(HOURS, headers=as_role(settings, "staff"))
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"therapist": str(AMARA), "timezone": LONDON, **week()}

    new = week(breaks=[{"weekday": 0, "start": "12:30", "end": "13:00"}])
    refused = await booking.put(HOURS, json=new, headers=as_role(settings, "staff"))
    assert (await error(refused, 403))["code"] == "owner_only"
    changed = await booking.put(HOURS, json=new, headers=as_role(settings, "owner"))
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["breaks"] == new["breaks"]
    again = await booking.get(HOURS, headers=as_role(settings, "staff"))
    assert (await again.json())["breaks"] == new["breaks"]
    assert (await again.json())["hours"] == new["hours"]


async def test_an_empty_week_is_a_therapist_who_does_not_work(booking, settings):
    resp = await booking.put(HOURS, json={"hours": [], "breaks": []}, headers=as_role(settings))
    assert resp.status == 200 and (await resp.json())["hours"] == []
    assert await free_slots(booking) == []


async def test_bad_weeks_are_refused_with_a_message_per_field(booking, settings):
    cases = [
        (
            week(hours=week()["hours"] + [{"weekday": 1, "start": "17:00", "end": "19:00"}]),
            ("hours.6", "hours_overlap"),
        ),
        (
            with_tuesday("09:00", "12:00", [{"weekday": 1, "start": "12:00", "end": "12:30"}]),
            ("breaks.4", "break_outside_hours"),
        ),
        (with_tuesday("18:00", "09:00"), ("hours.5.end", "end_not_after_start")),
        (
            week(
                breaks=[
                    {"weekday": 0, "start": "13:00", "end": "14:00"},
                    {"weekday": 0, "start": "13:30", "end": "13:45"},
                ]
            ),
            ("breaks.1", "breaks_overlap"),
        ),
        (
            week(hours=[{"weekday": 7, "start": "09:00", "end": "17:00"}], breaks=[]),
            ("hours.0.weekday", "less_than_equal"),
        ),
        (week(hours=[{"weekday": 0, "start": "9am", "end": "25:00"}], breaks=[]), ("hours.0.start", "time_of_day")),
        (
            week(hours=[{"weekday": "Monday", "start": "09:00", "end": "17:00"}], breaks=[]),
            ("hours.0.weekday", "int_type"),
        ),
    ]
    for body, (field, kind) in cases:
        resp = await booking.put(HOURS, json=body, headers=as_role(settings))
        details = (await error(resp, 422))["details"]
        assert (field, kind) in [(d["field"], d["type"]) for d in details], (body, details)
        assert all(d["message"] for d in details)
    both = await booking.put(
        HOURS, json=week(hours=[{"weekday": 0, "start": "9am", "end": "25:00"}], breaks=[]), headers=as_role(settings)
    )
    assert [d["field"] for d in (await error(both, 422))["details"]] == ["hours.0.start", "hours.0.end"]
    missing = await booking.put(HOURS, json={"hours": []}, headers=as_role(settings))
    assert [d["field"] for d in (await error(missing, 422))["details"]] == ["breaks"], "PUT replaces both: both given"
    resp = await booking.get(HOURS, headers=as_role(settings))
    assert (await resp.json())["hours"] == week()["hours"], "nothing refused was written"


# --- another clinic, and ids that name nothing --------------------------------------------------------------


async def test_another_clinics_therapist_and_time_off_are_not_found(booking, settings, booking_pool):
    async with booking_pool.acquire() as conn:
        priyas = await conn.fetchval("SELECT id FROM time_off WHERE therapist_id = $1", PRIYA)
        amaras = await conn.fetchval("SELECT id FROM time_off WHERE therapist_id = $1", AMARA)
    owner = as_role(settings)
    others = f"/api/v1/clinic/therapists/{PRIYA}"
    day = next_weekday()
    off = {"start": local(day, 9).isoformat(), "end": local(day, 10).isoformat()}
    for method, path, body in [
        ("GET", f"{others}/hours", None),
        ("PUT", f"{others}/hours", week()),
        ("GET", f"{others}/time-off", None),
        ("POST", f"{others}/time-off", off),
        ("DELETE", f"{others}/time-off/{priyas}", None),
        ("DELETE", f"{TIME_OFF}/{priyas}", None),  # our therapist, their time off
        ("GET", "/api/v1/clinic/therapists/not-a-uuid/hours", None),
        ("DELETE", f"{TIME_OFF}/abc", None),
        ("DELETE", f"{TIME_OFF}/99999999999999999999999", None),
    ]:
        resp = await booking.request(method, path, json=body, headers=owner)
        assert (await error(resp, 404))["code"] in ("therapist_not_found", "time_off_not_found"), (method, path)
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM time_off WHERE id = ANY($1::bigint[])", [priyas, amaras]) == 2
        assert await conn.fetchval("SELECT count(*) FROM working_hours WHERE therapist_id = $1", PRIYA) == 5


# --- time off ----------------------------------------------------------------------------------------------


async def test_staff_add_list_and_remove_time_off_and_availability_follows_at_once(booking, settings):
    day = next_weekday()
    before = starts(await free_slots(booking, day))
    assert "09:00" in before and "11:00" in before
    staff = as_role(settings, "staff")
    resp = await booking.post(
        TIME_OFF,
        json={"start": local(day, 9).isoformat(), "end": local(day, 12).isoformat(), "reason": "Dentist"},
        headers=staff,
    )
    assert resp.status == 201, await resp.text()
    added = await resp.json()
    assert added["start"] == local(day, 9).isoformat() and added["end"] == local(day, 12).isoformat()
    assert added["reason"] == "Dentist"
    during = starts(await free_slots(booking, day))
    assert during and min(during) >= "12:00", "the slots in the time off are gone at once"

    listed = await (await booking.get(TIME_OFF, headers=staff)).json()
    assert listed["timezone"] == LONDON
    assert added in listed["time_off"]
    listed_starts = [datetime.fromisoformat(o["start"]) for o in listed["time_off"]]
    assert listed_starts == sorted(listed_starts)

    resp = await booking.delete(f"{TIME_OFF}/{added['id']}", headers=staff)
    assert resp.status == 204
    assert starts(await free_slots(booking, day)) == before, "and back at once"
    resp = await booking.delete(f"{TIME_OFF}/{added['id']}", headers=staff)
    assert (await error(resp, 404))["code"] == "time_off_not_found"


async def test_new_hours_show_in_availability_at_once(booking, settings):
    day = next_weekday()  # a Tuesday
    assert starts(await free_slots(booking, day))[0] == "09:00"
    resp = await booking.put(HOURS, json=with_tuesday("11:00", "16:00"), headers=as_role(settings))
    assert resp.status == 200, await resp.text()
    after = starts(await free_slots(booking, day))
    assert after[0] == "11:00" and after[-1] == "15:00", "slots appear and go with the hours"
    assert "13:00" in after, "Tuesday's break went with the old hours"


async def test_bad_time_off_is_refused_per_field(booking, settings):
    day = next_weekday()
    nine = local(day, 9)
    cases = [
        ({"start": nine.isoformat(), "end": nine.isoformat()}, ("end", "end_not_after_start")),
        ({"start": nine.isoformat(), "end": (nine - timedelta(hours=1)).isoformat()}, ("end", "end_not_after_start")),
        ({"start": nine.isoformat(), "end": (nine + timedelta(days=367)).isoformat()}, ("end", "time_off_too_long")),
        ({"start": "2027-01-05T09:00:00", "end": nine.isoformat()}, ("start", "timezone_aware")),
        ({"start": "next tuesday", "end": nine.isoformat()}, ("start", "datetime_parsing")),
        (
            {"start": nine.isoformat(), "end": (nine + timedelta(hours=1)).isoformat(), "reason": "x" * 201},
            ("reason", "string_too_long"),
        ),
    ]
    for body, (field, kind) in cases:
        resp = await booking.post(TIME_OFF, json=body, headers=as_role(settings))
        details = (await error(resp, 422))["details"]
        assert (field, kind) in [(d["field"], d["type"]) for d in details], (body, details)


# --- bookings in the way -----------------------------------------------------------------------------------


async def test_time_off_over_a_booking_is_refused_with_it_listed_and_only_the_owner_confirms(booking, settings):
    day = next_weekday()
    booked = await book(booking, day=day)  # the day's first slot, 09:00, awaiting its card payment
    off = {"start": local(day, 8).isoformat(), "end": local(day, 10).isoformat(), "reason": "Training"}

    refused = await error(await booking.post(TIME_OFF, json=off, headers=as_role(settings, "staff")), 409)
    assert refused["code"] == "bookings_in_the_way"
    assert refused["details"] == {
        "bookings": [
            {
                "id": booked["id"],
                "status": "pending_payment",
                "start": local(day, 9).isoformat(),
                "end": local(day, 10).isoformat(),
                "treatment": "Deep tissue massage (60 min)",
                "customer_name": "Ada Lovelace",
            }
        ]
    }
    staff_confirm = await booking.post(TIME_OFF, json=off | {"confirm": True}, headers=as_role(settings, "staff"))
    assert (await error(staff_confirm, 403))["code"] == "owner_only"
    listed = (await (await booking.get(TIME_OFF, headers=as_role(settings))).json())["time_off"]
    assert "Training" not in [o["reason"] for o in listed], "nothing refused was written"

    confirmed = await booking.post(TIME_OFF, json=off | {"confirm": True}, headers=as_role(settings, "owner"))
    assert confirmed.status == 201, await confirmed.text()
    # Beside it, time off clear of the booking (its buffer ends 10:15) needs no confirming.
    clear = {"start": local(day, 10, 15).isoformat(), "end": local(day, 11).isoformat()}
    assert (await booking.post(TIME_OFF, json=clear, headers=as_role(settings, "staff"))).status == 201


async def test_shorter_hours_over_a_booking_are_refused_unless_the_owner_confirms(booking, settings):
    day = next_weekday()
    booked = await book(booking, day=day)  # 09:00–10:00 on Tuesday
    shorter = with_tuesday("10:00", "18:00")
    refused = await error(await booking.put(HOURS, json=shorter, headers=as_role(settings)), 409)
    assert refused["code"] == "bookings_in_the_way"
    assert [b["id"] for b in refused["details"]["bookings"]] == [booked["id"]]
    # A new break over it, or the day removed, is in its way too; hours that still hold it are not.
    with_break = with_tuesday("09:00", "18:00", [{"weekday": 1, "start": "09:30", "end": "10:00"}])
    assert (await error(await booking.put(HOURS, json=with_break, headers=as_role(settings)), 409))["details"]
    no_tuesday = week(hours=[h for h in week()["hours"] if h["weekday"] != 1], breaks=[])
    assert (await error(await booking.put(HOURS, json=no_tuesday, headers=as_role(settings)), 409))["details"]
    still_fine = with_tuesday("08:00", "12:00")
    assert (await booking.put(HOURS, json=still_fine, headers=as_role(settings))).status == 200

    resp = await booking.put(HOURS, json=shorter | {"confirm": True}, headers=as_role(settings))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["hours"][1] == {"weekday": 1, "start": "10:00", "end": "18:00"}


async def test_a_booking_that_has_started_is_not_in_the_way(booking, settings, booking_pool):
    day = next_weekday()
    booked = await book(booking, day=day)
    async with booking_pool.acquire() as conn:  # as if its time had come: it started ten minutes ago
        await conn.execute(
            "UPDATE bookings SET starts_at = now() - interval '10 minutes', ends_at = now() + interval '50 minutes', "
            "blocked = tstzrange(now() - interval '10 minutes', now() + interval '65 minutes') WHERE id = $1",
            uuid.UUID(booked["id"]),
        )
    now = datetime.now().astimezone()
    off = {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
    resp = await booking.post(TIME_OFF, json=off, headers=as_role(settings))
    assert resp.status == 201, await resp.text()


async def test_a_hold_in_the_way_is_released_not_listed(booking, settings, booking_pool):
    day = next_weekday()
    slot = (await free_slots(booking, day))[0]
    held = await hold(booking, slot["start"])
    off = {"start": local(day, 9).isoformat(), "end": local(day, 12).isoformat()}
    resp = await booking.post(TIME_OFF, json=off, headers=as_role(settings, "staff"))
    assert resp.status == 201, await resp.text()
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(held["id"])) == "released"
    assert ("booking.released", held["id"]) in await outbox_types(booking_pool)
    # Its customer, going on, is told to choose again; the time is not offered.
    late = await booking.post("/api/v1/bookings", json=booking_body(held["id"]))
    assert late.status == 409, await late.text()
    assert slot["start"] not in [s["start"] for s in await free_slots(booking, day)]


async def test_a_refused_change_releases_nothing(booking, settings, booking_pool):
    day = next_weekday()
    booked = await book(booking, day=day, slot_index=0)  # 09:00
    later = (await free_slots(booking, day))[4]  # a later morning slot, held
    held = await hold(booking, later["start"])
    off = {"start": local(day, 8).isoformat(), "end": local(day, 13).isoformat()}
    refused = await error(await booking.post(TIME_OFF, json=off, headers=as_role(settings)), 409)
    assert [b["id"] for b in refused["details"]["bookings"]] == [booked["id"]], "the hold is not listed"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(held["id"])) == "held"


# --- serialised with reservations being made -----------------------------------------------------------------


async def waiting_on_a_lock(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )


async def test_a_hold_waits_for_a_change_under_way_and_is_judged_by_the_new_schedule(booking, booking_pool):
    """The hold reads the schedule while time off is being added (not yet committed, so not seen), then its
    write waits for the therapist's row; once the time off commits, the hold is judged again and refused.
    Without the lock the hold would be written into the time off."""
    day = next_weekday()
    ten = local(day, 10)
    async with booking_pool.acquire() as conn:
        change = conn.transaction()
        await change.start()
        assert await schedules_store.lock_for_change(conn, CLINIC_ID, AMARA) == LONDON
        await schedules_store.add_time_off(conn, AMARA, Interval(local(day, 9), local(day, 12)), "Training")
        attempt = asyncio.create_task(booking.post("/api/v1/holds", json=hold_body(ten.isoformat())))
        await wait_for(lambda: waiting_on_a_lock(booking_pool), what="the hold to wait for the therapist's row")
        assert not attempt.done()
        await change.commit()
    resp = await attempt
    assert (await error(resp, 422))["code"] == "therapist_unavailable"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 0


async def test_a_hold_judged_before_a_change_committed_is_judged_again(booking_pool):
    """The change commits between the hold's read of the schedule and its write: the write finds another
    version of the schedule, writes nothing, and the hold is judged again on the schedule as it now is."""
    day = next_weekday()
    ten = local(day, 10)
    reads = []
    uow = PostgresUnitOfWork(booking_pool)
    read = uow.catalogue.hold_context

    async def hold_context(*args):
        context = await read(*args)
        reads.append(context.schedule_version)
        if len(reads) == 1:  # a change commits right after the first read
            async with booking_pool.acquire() as other, other.transaction():
                await schedules_store.lock_for_change(other, CLINIC_ID, AMARA)
                await schedules_store.add_time_off(other, AMARA, Interval(local(day, 9), local(day, 12)), "")
        return context

    uow.catalogue.hold_context = hold_context
    treatment = stable_id(CLINIC, "treatment", "deep-tissue-60")
    with pytest.raises(BookingError) as refused:
        await service.hold_slot(uow, CLINIC, treatment, AMARA, ten, datetime.now().astimezone(), None)
    assert refused.value.code == "therapist_unavailable", "judged again, on the time off"
    assert len(reads) == 2 and reads[1] == reads[0] + 1
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def wait_then_commit(pool, period: Interval, make_attempt) -> asyncio.Task:
    """Add time off in a transaction held open while the attempt (`make_attempt()`, started once the change holds
    the therapist's row) waits for that row, then commit it; the attempt's task."""
    async with pool.acquire() as conn:
        change = conn.transaction()
        await change.start()
        await schedules_store.lock_for_change(conn, CLINIC_ID, AMARA)
        await schedules_store.add_time_off(conn, AMARA, period, "Training")
        attempt = asyncio.create_task(make_attempt())
        await wait_for(lambda: waiting_on_a_lock(pool), what="the attempt to wait for the therapist's row")
        assert not attempt.done()
        await change.commit()
    return attempt


async def test_a_reschedule_waits_for_a_change_under_way_and_is_judged_by_the_new_schedule(
    booking, booking_pool, checkout
):
    booked = await book_and_pay(booking, checkout)
    day = next_weekday(3)
    afternoon = local(day, 15)
    token = booked["manage_url"].split("token=", 1)[1]

    def move():
        path = f"/api/v1/bookings/{booked['id']}/reschedule"
        return booking.post(path, json={"token": token, "start": afternoon.isoformat()})

    attempt = await wait_then_commit(booking_pool, Interval(local(day, 14), local(day, 18)), move)
    assert (await error(await attempt, 422))["code"] == "therapist_unavailable"


async def test_a_course_hold_waits_for_a_change_under_way_and_is_judged_by_the_new_schedule(booking, booking_pool):
    first = (await free_slots(booking, next_weekday(open_days=COURSE_DAYS)))[0]
    start = datetime.fromisoformat(first["start"])
    body = {"clinic": CLINIC, "course": COURSE, "therapist": THERAPIST, "start": first["start"]}
    period = Interval(start + timedelta(days=1), start + timedelta(days=30))
    attempt = await wait_then_commit(booking_pool, period, lambda: booking.post("/api/v1/holds", json=body))
    # Planned on the schedule it read first, each session is judged once the change is in: into the time off.
    assert (await error(await attempt, 422))["code"] == "therapist_unavailable"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 0


async def test_a_hold_retried_past_an_expired_hold_checks_the_schedule_it_was_judged_by(booking, booking_pool):
    """The slower path of a hold (its one-statement write met an expired hold not yet marked, so it writes in a
    transaction after marking it) checks the schedule's version too: a change committed before it is seen."""
    day = next_weekday()
    slot = (await free_slots(booking, day))[0]
    stale = await hold(booking, slot["start"])
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(stale["id"])
        )
    uow = PostgresUnitOfWork(booking_pool)
    check = uow.reservations.check_schedule
    checks = []

    async def check_schedule(therapist_id, version):
        checks.append(version)
        if len(checks) == 1:  # a change commits just before the slower path checks
            async with booking_pool.acquire() as other, other.transaction():
                await schedules_store.lock_for_change(other, CLINIC_ID, AMARA)
                await schedules_store.add_time_off(other, AMARA, Interval(local(day, 8), local(day, 12)), "")
        await check(therapist_id, version)

    uow.reservations.check_schedule = check_schedule
    treatment = stable_id(CLINIC, "treatment", "deep-tissue-60")
    start = datetime.fromisoformat(slot["start"])
    with pytest.raises(BookingError) as refused:
        await service.hold_slot(uow, CLINIC, treatment, AMARA, start, datetime.now().astimezone(), None)
    assert refused.value.code == "therapist_unavailable" and len(checks) == 1
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 1, "only the stale hold"


async def test_a_change_waits_for_a_move_under_way_and_sees_the_moved_booking(booking, settings, booking_pool):
    """A reservation being moved (its writer holds the therapist's row FOR SHARE, as service.reschedule does)
    into time being taken off: the change waits for it, then finds it in the way. Without the lock the change
    would read the booking at its old time and let the move land in the time off."""
    day = next_weekday()
    booked = await book(booking, day=day, slot_index=0)  # 09:00
    afternoon = local(day, 15)
    async with booking_pool.acquire() as conn:
        move = conn.transaction()
        await move.start()
        await store.lock_schedule(conn, AMARA)
        await store.move_booking(
            conn,
            uuid.UUID(booked["id"]),
            AMARA,
            afternoon,
            afternoon + timedelta(hours=1),
            Interval(afternoon, afternoon + timedelta(minutes=75)),
        )
        off = {"start": local(day, 14).isoformat(), "end": local(day, 18).isoformat()}
        attempt = asyncio.create_task(booking.post(TIME_OFF, json=off, headers=as_role(settings)))
        await wait_for(lambda: waiting_on_a_lock(booking_pool), what="the change to wait for the therapist's row")
        assert not attempt.done()
        await move.commit()
    refused = await error(await attempt, 409)
    assert [(b["id"], b["start"]) for b in refused["details"]["bookings"]] == [(booked["id"], afternoon.isoformat())]


# --- through the gateway -----------------------------------------------------------------------------------


async def test_through_the_gateway_with_an_api_key(gateway, keys):
    headers = bearer(keys[CLINIC])
    resp = await gateway.get(HOURS, headers=headers)
    assert resp.status == 200, await resp.text()
    day = next_weekday()
    resp = await gateway.put(HOURS, json=with_tuesday("12:00", "17:00"), headers=headers)
    assert resp.status == 200, await resp.text()
    assert starts(await free_slots(gateway, day))[0] == "12:00"
    off = {"start": local(day, 12).isoformat(), "end": local(day, 14).isoformat(), "reason": "Course"}
    resp = await gateway.post(TIME_OFF, json=off, headers=headers)
    assert resp.status == 201, await resp.text()
    assert starts(await free_slots(gateway, day))[0] == "14:00"
    other = await gateway.get(f"/api/v1/clinic/therapists/{PRIYA}/hours", headers=headers)
    assert other.status == 404
