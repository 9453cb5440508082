"""The clinic's diary (GET /api/v1/clinic/diary): each therapist's days in the clinic's zone, right on the days the
clocks change, with hours, breaks, time off, holds and bookings; what is shown and what never is (contact details,
health data, another clinic's anything); the days one request may ask for; owner and staff alike."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from services.booking.api_spec import DIARY
from services.booking.seed import stable_id
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.booking import ALL_CLEAR, book, free_slots, hold, next_weekday
from tests.support.clinic_api import bearer

DIARY_PATH = "/api/v1/clinic/diary"
URBAN, SPINECARE = stable_id("urban-therapy"), stable_id("spinecare")
AMARA = stable_id("urban-therapy", "therapist", "amara-okafor")
TOM = stable_id("urban-therapy", "therapist", "tom-hughes")
PRIYA = stable_id("spinecare", "therapist", "priya-shah")
DEEP_TISSUE = stable_id("urban-therapy", "treatment", "deep-tissue-60")
SCIATICA = stable_id("spinecare", "treatment", "sciatica-treatment-60")
SUMMER_MONDAY = date(2027, 6, 7)
SPRING_FORWARD, FALL_BACK = date(2027, 3, 28), date(2027, 10, 31)  # Sundays: 01:00 GMT -> 02:00 BST, and back
EMAIL, PHONE = "grace.hopper@example.com", "07700 900123"
APPOINTMENT_KEYS = {"id", "kind", "status", "start", "end", "treatment", "customer", "series"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def as_role(settings, role: str, clinic: uuid.UUID = URBAN) -> dict:
    """What the gateway sends after checking a caller of the clinic."""
    return {CLINIC_ID_HEADER: str(clinic), INTERNAL_TOKEN_HEADER: settings.internal_token, CLINIC_ROLE_HEADER: role}


async def insert_booking(
    pool,
    start: datetime,
    minutes: int = 60,
    status: str = "confirmed",
    *,
    therapist: uuid.UUID = AMARA,
    clinic: uuid.UUID = URBAN,
    treatment: uuid.UUID = DEEP_TISSUE,
    name: str | None = "Grace Hopper",
    expires_at: datetime | None = None,
    series: tuple[uuid.UUID, int] | None = None,
) -> str:
    """A reservation straight into the table, as the flows leave one in that status."""
    booking_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO bookings (id, clinic_id, treatment_id, therapist_id, starts_at, ends_at, blocked, status,
                                     expires_at, customer_name, customer_email, customer_phone, price_amount, currency,
                                     series_id, series_index)
               VALUES ($1, $2, $3, $4, $5, $6, tstzrange($5, $6), $7, $8, $9, $10, $11, 6500, 'GBP', $12, $13)""",
            booking_id,
            clinic,
            treatment,
            therapist,
            start,
            start + timedelta(minutes=minutes),
            status,
            expires_at,
            name,
            None if status == "held" else EMAIL,
            None if status == "held" else PHONE,
            series[0] if series else None,
            series[1] if series else None,
        )
    return str(booking_id)


async def add_time_off(pool, therapist: uuid.UUID, start: datetime, end: datetime, reason: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO time_off (therapist_id, period, reason) VALUES ($1, tstzrange($2, $3), $4)",
            therapist,
            start,
            end,
            reason,
        )


async def add_sunday_hours(pool, therapist: uuid.UUID, starts: str, ends: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO working_hours (therapist_id, weekday, starts, ends) VALUES ($1, 6, $2::time, $3::time)",
            therapist,
            datetime.strptime(starts, "%H:%M").time(),
            datetime.strptime(ends, "%H:%M").time(),
        )


async def diary_of(client, headers: dict, first: date | None = None, last: date | None = None, **params) -> dict:
    query = {k: v for k, v in (("from", first), ("to", last)) if v is not None}
    resp = await client.get(DIARY_PATH, headers=headers, params={**{k: str(v) for k, v in query.items()}, **params})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    Draft202012Validator(DIARY).validate(body)  # the answer is what the OpenAPI spec says
    return body


def by_name(body: dict) -> dict[str, dict]:
    return {t["name"]: t for t in body["therapists"]}


def day_of(therapist: dict, day: date) -> dict:
    (found,) = [d for d in therapist["days"] if d["date"] == day.isoformat()]
    return found


def times(items: list[dict]) -> list[tuple[str, str]]:
    return [(i["start"], i["end"]) for i in items]


async def test_the_week_view_shows_every_therapists_days_with_hours_breaks_time_off_and_bookings(
    gateway, keys, booking_pool
):
    monday, sunday = SUMMER_MONDAY, SUMMER_MONDAY + timedelta(days=6)
    confirmed = await insert_booking(booking_pool, utc("2027-06-07T09:00"))  # 10:00 BST
    await add_time_off(booking_pool, TOM, utc("2027-06-08T23:00"), utc("2027-06-10T23:00"), "Training course")

    body = await diary_of(gateway, bearer(keys["urban-therapy"]), monday, sunday)
    assert (body["timezone"], body["from"], body["to"]) == ("Europe/London", "2027-06-07", "2027-06-13")
    assert [t["name"] for t in body["therapists"]] == ["Amara Okafor", "Tom Hughes"]
    assert [t["id"] for t in body["therapists"]] == [str(AMARA), str(TOM)]
    amara, tom = by_name(body)["Amara Okafor"], by_name(body)["Tom Hughes"]
    for therapist in (amara, tom):
        assert [d["date"] for d in therapist["days"]] == [(monday + timedelta(days=i)).isoformat() for i in range(7)]

    mon = day_of(amara, monday)
    assert times(mon["hours"]) == [("2027-06-07T09:00:00+01:00", "2027-06-07T18:00:00+01:00")]
    assert times(mon["breaks"]) == [("2027-06-07T13:00:00+01:00", "2027-06-07T14:00:00+01:00")]
    assert mon["time_off"] == []
    assert mon["appointments"] == [
        {
            "id": confirmed,
            "kind": "booking",
            "status": "confirmed",
            "start": "2027-06-07T10:00:00+01:00",
            "end": "2027-06-07T11:00:00+01:00",
            "treatment": {"id": str(DEEP_TISSUE), "name": "Deep tissue massage (60 min)"},
            "customer": {"name": "Grace Hopper"},
        }
    ]
    assert times(day_of(amara, monday + timedelta(days=5))["hours"]) == [
        ("2027-06-12T10:00:00+01:00", "2027-06-12T14:00:00+01:00")
    ]
    assert day_of(amara, sunday)["hours"] == [] and day_of(tom, monday)["hours"] == []
    tue = day_of(tom, monday + timedelta(days=1))
    assert times(tue["hours"]) == [("2027-06-08T10:00:00+01:00", "2027-06-08T19:00:00+01:00")]
    assert times(tue["breaks"]) == [("2027-06-08T14:00:00+01:00", "2027-06-08T14:30:00+01:00")]
    # Time off from Wednesday 00:00 to Friday 00:00 (BST): the whole of Wednesday and Thursday, clipped per day
    assert [day_of(tom, monday + timedelta(days=i))["time_off"] for i in (1, 2, 3, 4)] == [
        [],
        [{"start": "2027-06-09T00:00:00+01:00", "end": "2027-06-10T00:00:00+01:00", "reason": "Training course"}],
        [{"start": "2027-06-10T00:00:00+01:00", "end": "2027-06-11T00:00:00+01:00", "reason": "Training course"}],
        [],
    ]
    assert all(not d["appointments"] for d in tom["days"])


async def test_the_day_the_clocks_go_forward(gateway, keys, booking_pool):
    await add_sunday_hours(booking_pool, AMARA, "00:00", "06:00")
    before = await insert_booking(booking_pool, utc("2027-03-27T23:30"), 30)  # Saturday 23:30 GMT
    early = await insert_booking(booking_pool, utc("2027-03-28T00:30"), 60)  # 00:30 GMT to 02:30 BST
    later = await insert_booking(booking_pool, utc("2027-03-28T01:30"), 30)  # 02:30 BST

    week = await diary_of(gateway, bearer(keys["urban-therapy"]), SPRING_FORWARD - timedelta(days=6), SPRING_FORWARD)
    amara = by_name(week)["Amara Okafor"]
    assert times(day_of(amara, date(2027, 3, 22))["hours"]) == [
        ("2027-03-22T09:00:00+00:00", "2027-03-22T18:00:00+00:00")
    ]
    assert [a["id"] for a in day_of(amara, date(2027, 3, 27))["appointments"]] == [before]
    sunday = day_of(amara, SPRING_FORWARD)
    # 00:00 GMT to 06:00 BST: five hours that day
    assert times(sunday["hours"]) == [("2027-03-28T00:00:00+00:00", "2027-03-28T06:00:00+01:00")]
    assert [(a["id"], a["start"], a["end"]) for a in sunday["appointments"]] == [
        (early, "2027-03-28T00:30:00+00:00", "2027-03-28T02:30:00+01:00"),
        (later, "2027-03-28T02:30:00+01:00", "2027-03-28T03:00:00+01:00"),
    ]
    # the day view of that Sunday says the same
    day = await diary_of(gateway, bearer(keys["urban-therapy"]), SPRING_FORWARD, SPRING_FORWARD)
    assert by_name(day)["Amara Okafor"]["days"] == [sunday]


async def test_the_day_the_clocks_go_back(gateway, keys, booking_pool):
    await add_sunday_hours(booking_pool, AMARA, "00:00", "06:00")
    await add_time_off(booking_pool, TOM, utc("2027-10-20T00:00"), utc("2027-11-20T00:00"), "Sabbatical")
    midnight = await insert_booking(booking_pool, utc("2027-10-30T23:30"), 30)  # Sunday 00:30 BST
    first = await insert_booking(booking_pool, utc("2027-10-31T00:30"), 30)  # 01:30 BST
    second = await insert_booking(booking_pool, utc("2027-10-31T01:30"), 30)  # 01:30 GMT, an hour later

    body = await diary_of(gateway, bearer(keys["urban-therapy"]), FALL_BACK, FALL_BACK)
    [sunday] = by_name(body)["Amara Okafor"]["days"]
    # 00:00 BST to 06:00 GMT: seven hours that day
    assert times(sunday["hours"]) == [("2027-10-31T00:00:00+01:00", "2027-10-31T06:00:00+00:00")]
    assert [(a["id"], a["start"], a["end"]) for a in sunday["appointments"]] == [
        (midnight, "2027-10-31T00:30:00+01:00", "2027-10-31T01:00:00+01:00"),
        (first, "2027-10-31T01:30:00+01:00", "2027-10-31T01:00:00+00:00"),
        (second, "2027-10-31T01:30:00+00:00", "2027-10-31T02:00:00+00:00"),
    ]
    # Tom's time off covers the whole 25-hour day, midnight BST to midnight GMT
    [tom_sunday] = by_name(body)["Tom Hughes"]["days"]
    assert tom_sunday["time_off"] == [
        {"start": "2027-10-31T00:00:00+01:00", "end": "2027-11-01T00:00:00+00:00", "reason": "Sabbatical"}
    ]
    # Saturday is still summer time, Monday winter time
    week = await diary_of(gateway, bearer(keys["urban-therapy"]), date(2027, 10, 30), date(2027, 11, 1))
    amara = by_name(week)["Amara Okafor"]
    assert times(day_of(amara, date(2027, 10, 30))["hours"]) == [
        ("2027-10-30T10:00:00+01:00", "2027-10-30T14:00:00+01:00")
    ]
    assert times(day_of(amara, date(2027, 11, 1))["hours"]) == [
        ("2027-11-01T09:00:00+00:00", "2027-11-01T18:00:00+00:00")
    ]


async def test_holds_and_bookings_from_the_customer_flows(booking, gateway, keys):
    """A hold a customer is making (no name yet) and a booking awaiting its card payment, as the flows leave them."""
    day = next_weekday()
    slots = await free_slots(booking, day)
    held = await hold(booking, slots[0]["start"])
    paying = await book(booking, email="ada@example.com", day=day, slot_index=8)

    body = await diary_of(gateway, bearer(keys["urban-therapy"]), day, day, therapist=str(AMARA))
    [amara] = body["therapists"]
    shown = {a["id"]: a for a in amara["days"][0]["appointments"]}
    assert set(shown) == {held["id"], paying["id"]}
    assert shown[held["id"]] | {"id": None} == {
        "id": None,
        "kind": "hold",
        "status": "held",
        "start": slots[0]["start"],
        "end": slots[0]["end"],
        "treatment": {"id": str(DEEP_TISSUE), "name": "Deep tissue massage (60 min)"},
        "customer": None,
    }
    assert (shown[paying["id"]]["kind"], shown[paying["id"]]["status"]) == ("booking", "pending_payment")
    assert shown[paying["id"]]["customer"] == {"name": "Ada Lovelace"}


async def test_what_is_shown_lapsed_holds_and_cancelled_bookings_are_not(gateway, keys, booking_pool):
    tuesday = SUMMER_MONDAY + timedelta(days=1)
    past, ahead = utc("2026-01-01T00:00"), datetime.now(timezone.utc) + timedelta(minutes=10)
    series = uuid.uuid4()
    shown = {
        "confirmed": await insert_booking(booking_pool, utc("2027-06-08T08:00"), series=(series, 2)),
        "completed": await insert_booking(booking_pool, utc("2027-06-08T09:15"), status="completed"),
        "no_show": await insert_booking(booking_pool, utc("2027-06-08T10:30"), status="no_show"),
        "held": await insert_booking(booking_pool, utc("2027-06-08T13:00"), status="held", name=None, expires_at=ahead),
        "pending_payment": await insert_booking(
            booking_pool, utc("2027-06-08T14:15"), status="pending_payment", expires_at=ahead
        ),
    }
    hidden = [
        # a cancelled booking whose time was booked again
        await insert_booking(booking_pool, utc("2027-06-08T08:00"), status="cancelled"),
        await insert_booking(booking_pool, utc("2027-06-08T15:30"), status="held", name=None, expires_at=past),
        await insert_booking(booking_pool, utc("2027-06-08T16:30"), status="pending_payment", expires_at=past),
        await insert_booking(booking_pool, utc("2027-06-08T17:30"), status="expired", name=None),
        await insert_booking(booking_pool, utc("2027-06-08T18:30"), status="released", name=None),
    ]

    body = await diary_of(gateway, bearer(keys["urban-therapy"]), tuesday, tuesday)
    appointments = day_of(by_name(body)["Amara Okafor"], tuesday)["appointments"]
    assert [(a["status"], a["id"]) for a in appointments] == list(shown.items())  # in time order
    assert not any(h in json.dumps(body) for h in hidden)
    kinds = {a["status"]: (a["kind"], a["customer"]) for a in appointments}
    assert kinds["held"] == ("hold", None)
    assert all(kinds[s] == ("booking", {"name": "Grace Hopper"}) for s in shown if s != "held")
    assert appointments[0]["series"] == {"id": str(series), "index": 2}
    assert all("series" not in a for a in appointments[1:])


async def test_one_therapist_only_and_another_clinics_therapist_is_not_found(gateway, keys, booking_pool):
    amaras = await insert_booking(booking_pool, utc("2027-06-08T09:00"))
    toms = await insert_booking(booking_pool, utc("2027-06-08T09:00"), therapist=TOM)
    key = bearer(keys["urban-therapy"])
    day = SUMMER_MONDAY + timedelta(days=1)

    body = await diary_of(gateway, key, day, day, therapist=str(TOM))
    assert [t["id"] for t in body["therapists"]] == [str(TOM)]
    assert [a["id"] for a in body["therapists"][0]["days"][0]["appointments"]] == [toms]
    assert amaras not in json.dumps(body)
    for someone in (PRIYA, uuid.uuid4()):
        resp = await gateway.get(DIARY_PATH, headers=key, params={"from": str(day), "therapist": str(someone)})
        assert resp.status == 404, await resp.text()
        assert (await resp.json())["error"]["code"] == "therapist_not_found"
    resp = await gateway.get(DIARY_PATH, headers=key, params={"from": str(day), "therapist": "amara"})
    assert resp.status == 422 and (await resp.json())["error"]["details"][0]["field"] == "therapist"


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"from": "2027-06-07", "to": "2027-06-14"}, "range_too_large", "to"),  # 8 days
        ({"from": "2027-06-07", "to": "2027-08-07"}, "range_too_large", "to"),
        ({"from": "2027-06-07", "to": "2027-06-06"}, "invalid_range", "to"),
        ({"from": "2027-02-30"}, "validation_failed", "from"),
        ({"from": "2027-06-07", "to": "next week"}, "validation_failed", "to"),
    ],
)
async def test_at_most_a_week_at_a_time(gateway, keys, params, code, field):
    resp = await gateway.get(DIARY_PATH, headers=bearer(keys["urban-therapy"]), params=params)
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == code
    details = error["details"]
    assert (details[0] if isinstance(details, list) else details)["field"] == field


async def test_a_day_view_by_default_today_in_the_clinics_zone(gateway, keys):
    key = bearer(keys["urban-therapy"])
    today = datetime.now(timezone.utc).astimezone(ZoneInfo("Europe/London")).date()
    body = await diary_of(gateway, key)
    assert (body["from"], body["to"]) == (today.isoformat(), today.isoformat())
    assert all(len(t["days"]) == 1 for t in body["therapists"])
    one = await diary_of(gateway, key, SUMMER_MONDAY)
    assert (one["from"], one["to"]) == ("2027-06-07", "2027-06-07")
    week = await diary_of(gateway, key, SUMMER_MONDAY, SUMMER_MONDAY + timedelta(days=6))
    assert all(len(t["days"]) == 7 for t in week["therapists"])


async def test_another_clinics_bookings_and_therapists_never_appear(gateway, keys, booking_pool):
    ours = await insert_booking(booking_pool, utc("2027-06-08T09:00"))
    theirs = await insert_booking(
        booking_pool,
        utc("2027-06-08T09:00"),
        therapist=PRIYA,
        clinic=SPINECARE,
        treatment=SCIATICA,
        name="Someone Else Entirely",
    )
    await add_time_off(booking_pool, PRIYA, utc("2027-06-09T00:00"), utc("2027-06-10T00:00"), "Spinecare conference")
    day, week_end = SUMMER_MONDAY + timedelta(days=1), SUMMER_MONDAY + timedelta(days=6)

    urban = json.dumps(await diary_of(gateway, bearer(keys["urban-therapy"]), SUMMER_MONDAY, week_end))
    for trace in (theirs, str(PRIYA), "Priya", "Someone Else", "Spinecare conference", "Sciatica"):
        assert trace not in urban
    assert ours in urban
    spine = await diary_of(gateway, bearer(keys["spinecare"]), day, day)
    assert [t["name"] for t in spine["therapists"]] == ["Priya Shah"]
    assert [a["id"] for a in spine["therapists"][0]["days"][0]["appointments"]] == [theirs]
    assert ours not in json.dumps(spine)
    resp = await gateway.get(DIARY_PATH, headers=bearer(keys["spinecare"]), params={"therapist": str(AMARA)})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "therapist_not_found"


async def test_an_archived_therapist_shows_only_while_they_have_appointments_in_the_days(gateway, keys, booking_pool):
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE therapists SET archived_at = now() WHERE id = $1", TOM)
    last = await insert_booking(booking_pool, utc("2027-06-08T09:00"), therapist=TOM, status="completed")
    key, monday, tuesday = bearer(keys["urban-therapy"]), SUMMER_MONDAY, SUMMER_MONDAY + timedelta(days=1)
    assert [t["name"] for t in (await diary_of(gateway, key, monday, monday))["therapists"]] == ["Amara Okafor"]
    with_last = await diary_of(gateway, key, monday, tuesday)
    assert [t["name"] for t in with_last["therapists"]] == ["Amara Okafor", "Tom Hughes"]
    assert [a["id"] for a in day_of(by_name(with_last)["Tom Hughes"], tuesday)["appointments"]] == [last]
    asked = await diary_of(gateway, key, monday, monday, therapist=str(TOM))
    assert [t["name"] for t in asked["therapists"]] == ["Tom Hughes"]


async def test_staff_may_read_the_diary_and_nobody_without_a_key(booking, gateway, settings, booking_pool):
    mine = await insert_booking(booking_pool, utc("2027-06-08T09:00"))
    day = SUMMER_MONDAY + timedelta(days=1)
    body = await diary_of(booking, as_role(settings, "staff"), day, day)
    assert mine in json.dumps(body)
    assert (await diary_of(booking, as_role(settings, "owner"), day, day)) == body
    anonymous = await gateway.get(DIARY_PATH, params={"from": str(day)})
    assert anonymous.status == 401
    forged = await booking.get(DIARY_PATH, headers={CLINIC_ID_HEADER: str(URBAN)}, params={"from": str(day)})
    assert forged.status == 401  # a clinic header without the gateway's internal token


async def test_no_contact_details_or_health_data_anywhere(booking, gateway, keys, booking_pool):
    """A booking made with a phone number and screening answers: its own page has them, the diary none."""
    day = next_weekday(3)
    slot = (await free_slots(booking, day))[0]
    held = await hold(booking, slot["start"])
    customer = {"name": "Ada Lovelace", "email": "ada.private@example.com", "phone": "07700 900987"}
    resp = await booking.post(
        "/api/v1/bookings", json={"hold": held["id"], "customer": customer, "screening": {"answers": ALL_CLEAR}}
    )
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    key = bearer(keys["urban-therapy"])
    page = await (await gateway.get(f"/api/v1/clinic/bookings/{made['id']}", headers=key)).json()
    assert page["customer"]["email"] == customer["email"] and page["screening"]["answers"]  # the data is there

    body = await diary_of(gateway, key, day, day)
    text = json.dumps(body)
    assert made["id"] in text and "Ada Lovelace" in text
    for secret in (customer["email"], customer["phone"], "@", "screening", "answers", "flags", "phone", "email"):
        assert secret not in text, secret
    for question in ALL_CLEAR:
        assert question not in text
    for therapist in body["therapists"]:
        for d in therapist["days"]:
            for appointment in d["appointments"]:
                assert set(appointment) <= APPOINTMENT_KEYS
                assert appointment["customer"] is None or set(appointment["customer"]) == {"name"}
