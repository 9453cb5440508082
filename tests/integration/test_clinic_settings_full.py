"""Every setting of a clinic through the clinic API (GET|PATCH /api/v1/clinic/settings, the owner's only):
each one checked, only the fields given changed, nothing changed on any error, the database refusing what the
API refuses; and each change applying at once: the next hold's length, the public availability's grid and
zone, the reminders of bookings made after it, the voucher shop's limits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.booking import clinic_settings
from services.booking.seed import stable_id
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.booking import book, free_slots, hold, next_weekday
from tests.support.clinic_api import bearer
from tests.support.vouchers import purchase_body

SETTINGS = "/api/v1/clinic/settings"
URBAN = "urban-therapy"
SEEDED = {
    "name": "Urban Therapy Clinic, London",
    "timezone": "Europe/London",
    "booking_horizon_days": 60,
    "min_notice_minutes": 120,
    "slot_step_minutes": 15,
    "hold_minutes": 10,
    "change_window_hours": 24,
    "reminder_offsets_minutes": [1440, 120],
    "policy_message": "Appointments can be cancelled or moved online up to 24 hours before they start. "
    "After that, please call the clinic.",
    "voucher_validity_months": 24,
    "voucher_min_amount": 2500,
    "voucher_max_amount": 50000,
    "address": "12 Example Street, London",
    "email": "hello@urbantherapy.example",
    "phone": "020 7946 0000",
    "embed_origins": [],
    "waitlist_offer_minutes": 30,
    "payment_policy": {"mode": "full"},  # issue 20: kept apart from the other settings (payment_policy.py)
}


async def current(gateway, key: str) -> dict:
    resp = await gateway.get(SETTINGS, headers=bearer(key))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def change(gateway, key: str, body: dict, status: int = 200) -> dict:
    resp = await gateway.patch(SETTINGS, headers=bearer(key), json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


def as_role(settings, role: str) -> dict:
    """What the gateway sends for a signed-in member of the urban-therapy clinic."""
    return {
        CLINIC_ID_HEADER: str(stable_id(URBAN)),
        INTERNAL_TOKEN_HEADER: settings.internal_token,
        CLINIC_ROLE_HEADER: role,
    }


# --- what there is, and changing some of it --------------------------------------------------------------


async def test_the_settings_object_has_every_setting(gateway, keys):
    assert await current(gateway, keys[URBAN]) == SEEDED
    assert list(SEEDED) == [*clinic_settings.FIELDS, "payment_policy"]


async def test_a_change_changes_only_the_fields_given_and_answers_the_whole_object(gateway, keys):
    changed = await change(gateway, keys[URBAN], {"hold_minutes": 15, "policy_message": "Call us.\nThanks!"})
    assert changed == {**SEEDED, "hold_minutes": 15, "policy_message": "Call us.\nThanks!"}
    assert await current(gateway, keys[URBAN]) == changed
    # An empty body, or nulls, keep everything.
    assert await change(gateway, keys[URBAN], {}) == changed
    assert await change(gateway, keys[URBAN], {"name": None, "hold_minutes": None}) == changed
    # The other clinic is untouched.
    other = await current(gateway, keys["spinecare"])
    assert other["hold_minutes"] == 10 and other["policy_message"] != "Call us.\nThanks!"


async def test_every_setting_at_once_with_repeated_reminders_kept_once_and_contacts_cleared(gateway, keys):
    wanted = {
        "name": "  Urban Therapy, Shoreditch  ",
        "timezone": "Europe/Dublin",
        "booking_horizon_days": 90,
        "min_notice_minutes": 0,
        "slot_step_minutes": 30,
        "hold_minutes": 20,
        "change_window_hours": 48,
        "reminder_offsets_minutes": [60, 2880, 60, 1440],
        "policy_message": "Cancel or move online until 48 hours before.",
        "voucher_validity_months": 12,
        "voucher_min_amount": 1000,
        "voucher_max_amount": 100000,
        "address": "1 New Street\nLondon E1",
        "email": "",
        "phone": "",
        "embed_origins": ["https://urban.example"],
        "waitlist_offer_minutes": 45,
        "payment_policy": {"mode": "deposit", "deposit": {"percent": 25}},
    }
    changed = await change(gateway, keys[URBAN], wanted)
    assert changed == {
        **wanted,
        "name": "Urban Therapy, Shoreditch",
        "reminder_offsets_minutes": [2880, 1440, 60],
        "email": None,
        "phone": None,
    }
    assert await current(gateway, keys[URBAN]) == changed
    public = await (await gateway.get(f"/api/v1/clinics/{URBAN}")).json()
    assert public["contact"] == {"email": None, "phone": None, "address": "1 New Street\nLondon E1"}
    assert public["policies"]["voucher_min_amount"] == 1000 and public["policies"]["voucher_max_amount"] == 100000
    assert public["name"] == "Urban Therapy, Shoreditch"
    assert public["policies"]["waitlist_offer_minutes"] == 45


# --- each setting's checks ----------------------------------------------------------------------------------


def _bounded_cases():
    for name, (least, most) in clinic_settings.BOUNDS.items():
        yield name, least - 1
        yield name, most + 1
        yield name, str(least)  # JSON types are strict: no numbers as text
        yield name, float(least) + 0.5
        yield name, True


BAD = [
    *_bounded_cases(),
    ("name", ""),
    ("name", "   "),
    ("name", "x" * 201),
    ("name", "Urban\nTherapy"),
    ("name", 42),
    ("timezone", "Mars/Olympus_Mons"),
    ("timezone", "europe/london"),  # spelt exactly, as the IANA database does
    ("timezone", "localtime"),
    ("timezone", "Factory"),
    ("timezone", "+01:00"),
    ("timezone", ""),
    ("timezone", "Europe/London\u0000"),
    ("timezone", "x" * 65),
    ("slot_step_minutes", 7),
    ("reminder_offsets_minutes", []),
    ("reminder_offsets_minutes", [9]),
    ("reminder_offsets_minutes", [20161]),
    ("reminder_offsets_minutes", [60, 120, 180, 240, 300, 360]),
    ("reminder_offsets_minutes", [60, 60, 60, 60, 60, 60]),  # counted as sent
    ("reminder_offsets_minutes", ["60"]),
    ("reminder_offsets_minutes", [None]),
    ("reminder_offsets_minutes", 60),
    ("policy_message", ""),
    ("policy_message", "x" * 1001),
    ("policy_message", "Call us\u0007"),
    ("address", "x" * 501),
    ("email", "not-an-email"),
    ("email", "a@b"),
    ("email", "a b@example.com"),
    ("email", "x" * 250 + "@example.com"),
    ("phone", "call me"),
    ("phone", "12345"),
    ("phone", "+44 (0)20 7946 0000 ext 5"),
    ("phone", "1" * 41),
    ("embed_origins", ["https://example.com/path"]),
]


@pytest.mark.parametrize("field", sorted({field for field, _ in BAD}))
async def test_each_bad_setting_is_refused_by_name_and_changes_nothing(gateway, keys, field):
    for value in [value for named, value in BAD if named == field]:
        # A good change beside the bad one is not made either.
        refused = await change(gateway, keys[URBAN], {"change_window_hours": 30, field: value}, status=422)
        assert refused["error"]["code"] == "validation_failed", value
        assert {detail["field"].split(".")[0] for detail in refused["error"]["details"]} == {field}, value
    assert await current(gateway, keys[URBAN]) == SEEDED


async def test_every_bad_field_is_named_at_once(gateway, keys):
    refused = await change(
        gateway,
        keys[URBAN],
        {"timezone": "Nowhere/Town", "hold_minutes": 0, "email": "nope", "reminder_offsets_minutes": [1]},
        status=422,
    )
    named = {detail["field"] for detail in refused["error"]["details"]}
    assert named == {"timezone", "hold_minutes", "email", "reminder_offsets_minutes.0"}
    timezone_detail = next(d for d in refused["error"]["details"] if d["field"] == "timezone")
    assert "IANA" in timezone_detail["message"]
    assert await current(gateway, keys[URBAN]) == SEEDED


async def test_unknown_fields_are_refused(gateway, keys):
    for body in ({"slug": "elsewhere"}, {"id": str(uuid.uuid4())}, {"Hold_Minutes": 5}):
        refused = await change(gateway, keys[URBAN], body, status=422)
        assert refused["error"]["code"] == "validation_failed"
    assert await current(gateway, keys[URBAN]) == SEEDED


async def test_settings_that_must_agree_are_judged_together_with_what_is_stored(gateway, keys):
    # The least a voucher may be worth above the most stored: refused, by the field that was given.
    refused = await change(gateway, keys[URBAN], {"voucher_min_amount": 60000, "hold_minutes": 30}, status=422)
    assert [(d["field"], d["type"]) for d in refused["error"]["details"]] == [
        ("voucher_min_amount", "voucher_amounts_crossed")
    ]
    # Both moved together in one change: fine.
    both = await change(gateway, keys[URBAN], {"voucher_min_amount": 60000, "voucher_max_amount": 80000})
    assert (both["voucher_min_amount"], both["voucher_max_amount"]) == (60000, 80000)
    refused = await change(gateway, keys[URBAN], {"voucher_max_amount": 59999}, status=422)
    assert refused["error"]["details"][0]["field"] == "voucher_max_amount"
    # Notice as long as the horizon leaves nothing to book online.
    refused = await change(gateway, keys[URBAN], {"min_notice_minutes": 60 * 24 * 60}, status=422)
    assert [(d["field"], d["type"]) for d in refused["error"]["details"]] == [
        ("min_notice_minutes", "notice_beyond_horizon")
    ]
    refused = await change(gateway, keys[URBAN], {"booking_horizon_days": 1, "min_notice_minutes": 1440}, status=422)
    assert refused["error"]["details"][0]["field"] == "min_notice_minutes"
    assert await current(gateway, keys[URBAN]) == {**SEEDED, "voucher_min_amount": 60000, "voucher_max_amount": 80000}


async def test_each_bound_is_accepted_and_stored(gateway, keys):
    """The API's bounds are the database's: its extremes are stored (a 500 would show they disagree)."""
    pairs = {"voucher_min_amount": "voucher_max_amount", "voucher_max_amount": "voucher_min_amount"}
    for name, (least, most) in clinic_settings.BOUNDS.items():
        for value in (least, most):
            body = {name: value}
            if name == "min_notice_minutes":
                body["booking_horizon_days"] = 730
            if name in pairs:  # the other bound moved with it, so that they do not cross
                body[pairs[name]] = value
            assert (await change(gateway, keys[URBAN], body))[name] == value
        await change(gateway, keys[URBAN], {"booking_horizon_days": 60, "min_notice_minutes": 120})


async def test_the_longest_texts_and_lists_are_stored(gateway, keys):
    longest = {
        "name": "n" * clinic_settings.NAME_MAX_LENGTH,
        "policy_message": "p" * clinic_settings.POLICY_MESSAGE_MAX_LENGTH,
        "address": "a" * clinic_settings.ADDRESS_MAX_LENGTH,
        "email": "e" * 242 + "@example.com",
        "phone": "+44 (20) 7946-0000.12",
        "reminder_offsets_minutes": [20160, 10080, 1440, 60, 10],
    }
    assert len(longest["email"]) == clinic_settings.EMAIL_MAX_LENGTH
    changed = await change(gateway, keys[URBAN], longest)
    assert {k: changed[k] for k in longest} == longest


DB_REFUSES = [
    *((name, bound) for name, (least, most) in clinic_settings.BOUNDS.items() for bound in (least - 1, most + 1)),
    ("slot_step_minutes", 7),
    ("name", ""),
    ("name", "n" * 201),
    ("reminder_offsets_minutes", []),
    ("reminder_offsets_minutes", [9]),
    ("reminder_offsets_minutes", [20161]),
    ("reminder_offsets_minutes", [60, None]),
    ("reminder_offsets_minutes", [10, 20, 30, 40, 50, 60]),
    ("policy_message", ""),
    ("policy_message", "p" * 1001),
    ("address", "a" * 501),
    ("email", "not-an-email"),
    ("phone", "call me"),
]


async def test_the_database_refuses_what_the_api_refuses(booking_pool):
    """Defence in depth under the API's checks (migration 0011): no other path stores a value the API refuses."""
    async with booking_pool.acquire() as conn:
        for column, value in DB_REFUSES:
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(f"UPDATE clinics SET {column} = $1 WHERE slug = $2", value, URBAN)


async def test_the_database_refuses_a_time_zone_it_does_not_know(booking_pool):
    async with booking_pool.acquire() as conn:
        with pytest.raises(asyncpg.InvalidParameterValueError):
            await conn.execute("UPDATE clinics SET timezone = 'Mars/Olympus_Mons' WHERE slug = $1", URBAN)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE clinics SET voucher_min_amount = 3000, voucher_max_amount = 2999")


# --- who may ------------------------------------------------------------------------------------------------


async def test_staff_may_neither_see_nor_change_the_settings(booking, settings):
    for method, body in (("GET", None), ("PATCH", {"hold_minutes": 30}), ("PATCH", {"timezone": "nowhere"})):
        resp = await booking.request(method, SETTINGS, headers=as_role(settings, "staff"), json=body)
        assert resp.status == 403, await resp.text()
        assert (await resp.json())["error"]["code"] == "owner_only"
    owner = await booking.get(SETTINGS, headers=as_role(settings, "owner"))
    assert (await owner.json())["hold_minutes"] == 10, "nothing changed"


# --- a change applies at once -------------------------------------------------------------------------------


async def test_the_next_hold_lasts_the_new_hold_minutes(gateway, booking, keys):
    slots = await free_slots(booking)
    first = await hold(booking, slots[0]["start"])
    left = datetime.fromisoformat(first["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)

    await change(gateway, keys[URBAN], {"hold_minutes": 25})
    second = await hold(booking, slots[-1]["start"])
    left = datetime.fromisoformat(second["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(minutes=24) < left <= timedelta(minutes=25)


def _minutes_after_opening(slot: dict) -> int:
    """Minutes from the therapist's 09:00 opening (the seed's hours) to the slot's start, on the clinic's clock."""
    start = datetime.fromisoformat(slot["start"]).astimezone(ZoneInfo("Europe/London"))
    return (start.hour - 9) * 60 + start.minute


async def test_a_new_slot_step_changes_the_public_availability(gateway, booking, keys):
    day = next_weekday()
    before = [_minutes_after_opening(s) for s in await free_slots(booking, day)]
    assert 15 in before and all(m % 15 == 0 for m in before)

    await change(gateway, keys[URBAN], {"slot_step_minutes": 40})
    after = [_minutes_after_opening(s) for s in await free_slots(booking, day)]
    assert after and all(m % 40 == 0 for m in after)
    assert 40 in after and 15 not in after and len(after) < len(before)


async def test_a_new_time_zone_shows_in_the_public_clinic_and_its_availability(gateway, booking, keys):
    await change(gateway, keys[URBAN], {"timezone": "America/New_York"})
    public = await (await gateway.get(f"/api/v1/clinics/{URBAN}")).json()
    assert public["timezone"] == "America/New_York"
    listed = await (await gateway.get("/api/v1/clinics")).json()
    assert {c["slug"]: c["timezone"] for c in listed["clinics"]}[URBAN] == "America/New_York"
    # The therapist's 09:00 is now New York's 09:00.
    day = next_weekday()
    slots = await free_slots(booking, day)
    first = datetime.fromisoformat(slots[0]["start"])
    zone = ZoneInfo("America/New_York")
    assert first.utcoffset() == zone.utcoffset(datetime(day.year, day.month, day.day, 12))
    assert (first.hour, first.minute) == (9, 0)


async def reminders_planned(pool, booking_id: str) -> list[int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT offset_minutes FROM reminders WHERE booking_id = $1 AND status = 'planned' "
            "ORDER BY offset_minutes DESC",
            uuid.UUID(booking_id),
        )
    return [r["offset_minutes"] for r in rows]


async def confirmed_offsets(pool, booking_id: str) -> list[int]:
    async with pool.acquire() as conn:
        envelope = await conn.fetchval(
            "SELECT envelope FROM outbox WHERE envelope->>'type' = 'booking.confirmed' "
            "AND envelope->'data'->>'booking_id' = $1",
            booking_id,
        )
    return envelope["data"]["clinic"]["reminder_offsets_minutes"]


async def test_new_reminder_offsets_apply_to_bookings_made_after_the_change(
    gateway, booking, keys, checkout, booking_pool, notifications_pool
):
    day = next_weekday(weeks_ahead=2)
    earlier = await book(booking, email="ada@example.com", day=day, slot_index=0)
    await checkout.pay(earlier)

    await change(gateway, keys[URBAN], {"reminder_offsets_minutes": [60, 4320, 60]})
    later = await book(booking, email="grace@example.com", day=day, slot_index=-1)
    await checkout.pay(later)

    # The booking.confirmed event carries the clinic's offsets as they were when it was confirmed…
    assert await confirmed_offsets(booking_pool, earlier["id"]) == [1440, 120]
    assert await confirmed_offsets(booking_pool, later["id"]) == [4320, 60]
    # …and the notifications service plans the reminders by them.
    assert await reminders_planned(notifications_pool, earlier["id"]) == [1440, 120]
    assert await reminders_planned(notifications_pool, later["id"]) == [4320, 60]


async def test_voucher_limits_apply_to_the_next_purchase(gateway, payments, keys):
    options = await (await payments.get("/api/v1/vouchers/options", params={"clinic": URBAN})).json()
    assert (options["amount"]["min"], options["amount"]["max"]) == (2500, 50000)
    assert (await payments.post("/api/v1/vouchers", json=purchase_body())).status == 201  # £60

    await change(gateway, keys[URBAN], {"voucher_min_amount": 7500, "voucher_max_amount": 20000})
    options = await (await payments.get("/api/v1/vouchers/options", params={"clinic": URBAN})).json()
    assert options["amount"] | {"presets": None} == {"currency": "GBP", "min": 7500, "max": 20000, "presets": None}
    assert options["amount"]["presets"] == [7500, 10000], "only presets within the clinic's limits"
    refused = await payments.post("/api/v1/vouchers", json=purchase_body())
    assert refused.status == 422
    error = (await refused.json())["error"]
    assert error["code"] == "amount_out_of_range" and "£75 to £200" in error["message"]
    bought = await payments.post("/api/v1/vouchers", json=purchase_body(amount={"amount": 20000, "currency": "GBP"}))
    assert bought.status == 201, await bought.text()
    # The other clinic keeps the defaults; no clinic named: the defaults.
    other = await (await payments.get("/api/v1/vouchers/options", params={"clinic": "spinecare"})).json()
    assert (other["amount"]["min"], other["amount"]["max"]) == (2500, 50000)
    plain = await (await payments.get("/api/v1/vouchers/options")).json()
    assert (plain["amount"]["min"], plain["amount"]["max"]) == (2500, 50000)
    for slug, status in (("nowhere", 404), ("Not A Slug", 404)):
        resp = await payments.get("/api/v1/vouchers/options", params={"clinic": slug})
        assert resp.status == status and (await resp.json())["error"]["code"] == "clinic_not_found"
