"""The clinic runs its own catalogue through the clinic API: treatments and courses created, changed,
reordered, taken off the booking pages, deleted or (once booked) archived; therapists' profiles and photos.
Customers see each change at once; a price change never changes a booking or a voucher; staff read but do not
change; another clinic's ids are not found."""

from __future__ import annotations

import io
import struct
import uuid
import zlib

import asyncpg
import pytest

from services.booking.seed import stable_id
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.booking import (
    CLINIC,
    COURSE,
    OTHER_THERAPIST,
    THERAPIST,
    TREATMENT,
    book,
    booking_body,
    free_slots,
    hold,
    next_weekday,
)
from tests.support.clinic_api import bearer
from tests.support.vouchers import buy_voucher

TREATMENTS = "/api/v1/clinic/treatments"
COURSES = "/api/v1/clinic/courses"
THERAPISTS = "/api/v1/clinic/therapists"
SWEDISH = str(stable_id(CLINIC, "treatment", "swedish-60"))
TRIGGER_POINT = str(stable_id(CLINIC, "treatment", "trigger-point-30"))
SPINECARE_TREATMENT = str(stable_id("spinecare", "treatment", "deep-tissue-90"))
MB = 1024 * 1024


def as_role(settings, role: str = "owner", clinic: str = CLINIC) -> dict:
    """What the gateway sends after checking a caller of `clinic`."""
    return {
        CLINIC_ID_HEADER: str(stable_id(clinic)),
        INTERNAL_TOKEN_HEADER: settings.internal_token,
        CLINIC_ROLE_HEADER: role,
    }


class Clinic:
    """The clinic API of one clinic, as one role, on the booking service."""

    def __init__(self, booking, settings, role: str = "owner", clinic: str = CLINIC):
        self.booking, self.headers = booking, as_role(settings, role, clinic)

    async def call(self, method: str, path: str, status: int | None = 200, **kwargs):
        resp = await self.booking.request(method, path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)
        body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        if status is not None:
            assert resp.status == status, body
        return body

    async def error(self, method: str, path: str, status: int, **kwargs) -> dict:
        return (await self.call(method, path, status, **kwargs))["error"]


@pytest.fixture
def owner(booking, settings) -> Clinic:
    return Clinic(booking, settings)


async def public(booking, what: str, clinic: str = CLINIC) -> list[dict]:
    resp = await booking.get(f"/api/v1/clinics/{clinic}/{what}")
    assert resp.status == 200, await resp.text()
    return (await resp.json())[what]


def treatment_body(**overrides) -> dict:
    return {
        "name": "Sports massage (45 min)",
        "duration_minutes": 45,
        "buffer_after_minutes": 15,
        "price": {"amount": 5000, "currency": "GBP"},
        **overrides,
    }


def fields(error: dict) -> dict[str, str]:
    assert error["code"] == "validation_failed", error
    return {d["field"]: d["type"] for d in error["details"]}


def png(extra: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    padding = chunk(b"tEXt", b"c\0" + b"x" * extra) if extra else b""
    body = chunk(b"IHDR", header) + padding + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


# --- treatments ----------------------------------------------------------------------------------


async def test_a_new_treatment_is_offered_at_once_and_the_public_list_follows_the_clinic_s_order(booking, owner):
    made = await owner.call("POST", TREATMENTS, 201, json=treatment_body())
    assert made["slug"] == "sports-massage-45-min" and made["price"] == {"amount": 5000, "currency": "GBP"}
    assert made["bookable"] is True and made["archived_at"] is None and made["requires_screening"] is True
    assert await owner.call("GET", f"{TREATMENTS}/{made['id']}") == made
    listed = [t["id"] for t in await public(booking, "treatments")]
    assert listed[-1] == made["id"], "a new treatment comes last"

    # Nobody gives it yet; once Tom does, his free times for it are there at once (no cache on the way).
    tom = await owner.call("GET", f"{THERAPISTS}/{OTHER_THERAPIST}")
    day = next_weekday(2)
    assert await free_slots(booking, day, therapist=None, treatment=made["id"]) == []
    await owner.call("PATCH", f"{THERAPISTS}/{OTHER_THERAPIST}", json={"treatments": tom["treatments"] + [made["id"]]})
    slots = await free_slots(booking, day, therapist=None, treatment=made["id"])
    assert slots and {s["therapist"]["id"] for s in slots} == {OTHER_THERAPIST}

    ordered = await owner.call("POST", f"{TREATMENTS}/order", json={"ids": [made["id"], SWEDISH]})
    assert [t["id"] for t in ordered["treatments"]][:2] == [made["id"], SWEDISH]
    public_order = [t["id"] for t in await public(booking, "treatments")]
    assert public_order[:2] == [made["id"], SWEDISH]
    assert sorted(public_order[2:]) == sorted(set(listed) - {made["id"], SWEDISH}), "the rest keep their order"
    assert [t["id"] for t in (await owner.call("GET", TREATMENTS))["treatments"]] == public_order


async def test_treatments_are_refused_with_a_message_per_field(owner):
    error = await owner.error(
        "POST",
        TREATMENTS,
        422,
        json=treatment_body(slug="Sports Massage", duration_minutes=0, price={"amount": -100, "currency": "EUR"}),
    )
    assert fields(error) == {
        "slug": "slug_invalid",
        "duration_minutes": "greater_than_equal",
        "price.amount": "greater_than_equal",
        "price.currency": "currency_mismatch",
    }
    assert all(d["message"] for d in error["details"])
    error = await owner.error("POST", TREATMENTS, 422, json=treatment_body(slug="swedish-60"))
    assert fields(error) == {"slug": "slug_taken"}
    # A slug made from a name the clinic has already is made unique.
    first = await owner.call("POST", TREATMENTS, 201, json=treatment_body(name="Swedish 60"))
    second = await owner.call("POST", TREATMENTS, 201, json=treatment_body(name="Swedish 60"))
    assert (first["slug"], second["slug"]) == ("swedish-60-2", "swedish-60-3")
    error = await owner.error("PATCH", f"{TREATMENTS}/{second['id']}", 422, json={"slug": "deep-tissue-60"})
    assert fields(error) == {"slug": "slug_taken"}
    error = await owner.error(
        "PATCH", f"{TREATMENTS}/{second['id']}", 422, json={"price": {"amount": -1, "currency": "GBP"}}
    )
    assert fields(error) == {"price.amount": "greater_than_equal"}
    unknown = str(uuid.uuid4())
    error = await owner.error("POST", f"{TREATMENTS}/order", 422, json={"ids": [SWEDISH, unknown, SPINECARE_TREATMENT]})
    assert fields(error) == {"ids.1": "treatment_not_found", "ids.2": "treatment_not_found"}
    changed = await owner.call("PATCH", f"{TREATMENTS}/{second['id']}", json={"slug": "swedish-long", "name": None})
    assert changed["slug"] == "swedish-long" and changed["name"] == "Swedish 60"


async def test_a_treatment_taken_off_booking_is_hidden_from_customers_and_kept(booking, owner):
    await owner.call("PATCH", f"{TREATMENTS}/{SWEDISH}", json={"bookable": False})
    assert SWEDISH not in {t["id"] for t in await public(booking, "treatments")}
    amara = next(t for t in await public(booking, "therapists") if t["id"] == THERAPIST)
    assert SWEDISH not in amara["treatments"]
    start = (await free_slots(booking))[0]["start"]
    for resp in (
        await booking.get(f"/api/v1/clinics/{CLINIC}/availability", params={"treatment": SWEDISH}),
        await booking.post(
            "/api/v1/holds", json={"clinic": CLINIC, "treatment": SWEDISH, "therapist": THERAPIST, "start": start}
        ),
    ):
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "treatment_not_found"
    kept = await owner.call("GET", f"{TREATMENTS}/{SWEDISH}")
    assert kept["bookable"] is False and kept["archived_at"] is None
    await owner.call("PATCH", f"{TREATMENTS}/{SWEDISH}", json={"bookable": True})
    assert await free_slots(booking, treatment=SWEDISH)


async def test_an_unused_treatment_is_deleted_and_a_booked_one_archived(booking, booking_pool, owner):
    made = await owner.call("POST", TREATMENTS, 201, json=treatment_body())
    await owner.call("PATCH", f"{THERAPISTS}/{THERAPIST}", json={"treatments": [TREATMENT, made["id"]]})
    gone = await owner.call("DELETE", f"{TREATMENTS}/{made['id']}")
    assert gone == {"id": made["id"], "outcome": "deleted", "reason": None, "treatment": None}
    assert (await owner.error("GET", f"{TREATMENTS}/{made['id']}", 404))["code"] == "treatment_not_found"
    assert (await owner.call("GET", f"{THERAPISTS}/{THERAPIST}"))["treatments"] == [TREATMENT]

    # Booked (even just held) → archived: kept for the booking, gone from the catalogue and from booking.
    tom = {"therapist": OTHER_THERAPIST, "treatment": TRIGGER_POINT}
    held = await hold(booking, (await free_slots(booking, **tom))[0]["start"], **tom)
    removed = await owner.call("DELETE", f"{TREATMENTS}/{TRIGGER_POINT}")
    assert removed["outcome"] == "archived" and removed["reason"] == "booked"
    assert removed["treatment"]["archived_at"] is not None
    assert TRIGGER_POINT not in {t["id"] for t in await public(booking, "treatments")}
    resp = await booking.get(f"/api/v1/clinics/{CLINIC}/availability", params={"treatment": TRIGGER_POINT})
    assert resp.status == 404
    booked = await booking.post("/api/v1/bookings", json=booking_body(held["id"]))
    assert booked.status == 201, "a hold made before keeps going"
    listing = (await owner.call("GET", TREATMENTS))["treatments"]
    assert listing[-1]["id"] == TRIGGER_POINT, "the archived come last"
    again = await owner.call("DELETE", f"{TREATMENTS}/{TRIGGER_POINT}")
    assert (again["outcome"], again["reason"]) == ("archived", "booked")
    assert again["treatment"]["archived_at"] == removed["treatment"]["archived_at"], "archived when it first was"
    # A treatment a course is of is kept too.
    kept = await owner.call("DELETE", f"{TREATMENTS}/{TREATMENT}")
    assert (kept["outcome"], kept["reason"]) == ("archived", "in_course")
    assert COURSE not in {c["id"] for c in await public(booking, "courses")}, "its course is not offered either"
    # Brought back, both are offered again.
    for treatment in (TRIGGER_POINT, TREATMENT):
        back = await owner.call("PATCH", f"{TREATMENTS}/{treatment}", json={"archived": False})
        assert back["archived_at"] is None
    assert {TRIGGER_POINT, TREATMENT} <= {t["id"] for t in await public(booking, "treatments")}
    assert COURSE in {c["id"] for c in await public(booking, "courses")}
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM treatments WHERE id = $1", uuid.UUID(TRIGGER_POINT)) == 1


async def test_a_price_change_never_changes_a_booking_or_a_hold_made_before(booking, owner):
    day = next_weekday(3)
    booked = await book(booking, day=day)  # deep tissue, £65
    held = await hold(booking, (await free_slots(booking, day))[2]["start"])
    assert held["price"] == {"amount": 6500, "currency": "GBP"}
    await owner.call("PATCH", f"{TREATMENTS}/{TREATMENT}", json={"price": {"amount": 7200, "currency": "GBP"}})

    seen = await owner.call("GET", f"/api/v1/clinic/bookings/{booked['id']}")
    assert seen["price"] == {"amount": 6500, "currency": "GBP"}
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"], email="grace@example.com"))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["amount_due"] == {"amount": 6500, "currency": "GBP"}, "the hold's price, not the new one"
    later = await hold(booking, (await free_slots(booking, day))[4]["start"])
    assert later["price"] == {"amount": 7200, "currency": "GBP"}
    assert next(t for t in await public(booking, "treatments") if t["id"] == TREATMENT)["price"]["amount"] == 7200


async def test_a_price_change_never_changes_a_treatment_voucher(
    booking, owner, payments, payments_pool, checkout, settings
):
    """A treatment voucher holds a session of the treatment, bought at the price of the day (payments keeps
    both): a new price neither changes what it was bought for nor what it pays."""
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings, kind="treatment", treatment=SWEDISH)
    assert voucher["price"]["amount"] == 6000
    await owner.call("PATCH", f"{TREATMENTS}/{SWEDISH}", json={"price": {"amount": 8000, "currency": "GBP"}})
    resp = await payments.post("/api/v1/vouchers/balance", json={"code": code})
    assert (await resp.json())["remaining"] == {"sessions": 1}
    async with payments_pool.acquire() as conn:
        kept = await conn.fetchrow(
            "SELECT face_value, price_amount FROM vouchers WHERE id = $1", uuid.UUID(voucher["id"])
        )
    assert dict(kept) == {"face_value": 1, "price_amount": 6000}

    held = await hold(booking, (await free_slots(booking, treatment=SWEDISH))[0]["start"], treatment=SWEDISH)
    assert held["price"]["amount"] == 8000
    resp = await booking.post(
        "/api/v1/bookings", json=booking_body(held["id"], voucher_code=code, pay_rest_by_card=False)
    )
    assert resp.status == 201, await resp.text()
    paid = await resp.json()
    assert paid["status"] == "confirmed" and paid["amount_due"]["amount"] == 0, "the session is paid, at any price"


# --- courses -------------------------------------------------------------------------------------


def course_body(**overrides) -> dict:
    return {
        "name": "Back pain course: 4 sessions",
        "treatment": TREATMENT,
        "sessions": 4,
        "spacing": {"min_days_between": 3, "max_days_between": 7},
        "price": {"amount": 24000, "currency": "GBP"},
        **overrides,
    }


async def test_courses_are_created_ordered_and_checked(booking, owner):
    made = await owner.call("POST", COURSES, 201, json=course_body())
    assert made["slug"] == "back-pain-course-4-sessions" and made["treatment"] == TREATMENT
    assert made["spacing"] == {"min_days_between": 3, "max_days_between": 7} and made["sessions"] == 4
    assert [c["id"] for c in await public(booking, "courses")] == [COURSE, made["id"]]
    await owner.call("POST", f"{COURSES}/order", json={"ids": [made["id"]]})
    assert [c["id"] for c in await public(booking, "courses")] == [made["id"], COURSE]

    error = await owner.error(
        "POST",
        COURSES,
        422,
        json=course_body(
            sessions=13, spacing={"min_days_between": 5, "max_days_between": 2}, price={"amount": -1, "currency": "GBP"}
        ),
    )
    assert fields(error) == {
        "sessions": "less_than_equal",
        "spacing": "spacing_reversed",
        "price.amount": "greater_than_equal",
    }
    for other in (SPINECARE_TREATMENT, str(uuid.uuid4())):  # another clinic's treatment is as unknown as none
        error = await owner.error("POST", COURSES, 422, json=course_body(treatment=other))
        assert fields(error) == {"treatment": "treatment_not_found"}
    assert fields(await owner.error("PATCH", f"{COURSES}/{made['id']}", 422, json={"treatment": SWEDISH})) == {
        "treatment": "extra_forbidden"
    }
    changed = await owner.call("PATCH", f"{COURSES}/{made['id']}", json={"sessions": 5, "bookable": False})
    assert changed["sessions"] == 5 and changed["bookable"] is False
    assert made["id"] not in {c["id"] for c in await public(booking, "courses")}


async def test_an_unused_course_is_deleted_and_a_booked_one_archived(booking, owner):
    made = await owner.call("POST", COURSES, 201, json=course_body())
    assert (await owner.call("PATCH", f"{COURSES}/{made['id']}", json={"archived": True}))["archived_at"]
    assert (await owner.call("DELETE", f"{COURSES}/{made['id']}"))["outcome"] == "deleted", "archived, never used"
    assert (await owner.error("GET", f"{COURSES}/{made['id']}", 404))["code"] == "course_not_found"
    resp = await booking.post("/api/v1/holds", json={"clinic": CLINIC, "course": COURSE, "therapist": THERAPIST})
    assert resp.status == 201, await resp.text()
    removed = await owner.call("DELETE", f"{COURSES}/{COURSE}")
    assert (removed["outcome"], removed["reason"]) == ("archived", "booked")
    assert removed["course"]["id"] == COURSE and removed["course"]["archived_at"]
    assert await public(booking, "courses") == []
    resp = await booking.post("/api/v1/holds", json={"clinic": CLINIC, "course": COURSE, "therapist": OTHER_THERAPIST})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "course_not_found"


# --- therapists ----------------------------------------------------------------------------------


async def test_a_therapist_s_profile(booking, owner):
    made = await owner.call(
        "POST",
        THERAPISTS,
        201,
        json={
            "name": "Jo Park",
            "bio": "Sports massage.\nRunners welcome.",
            "credentials": ["Level 5 Clinical Massage"],
            "treatments": [SWEDISH, TREATMENT],
        },
    )
    assert made["slug"] == "jo-park" and made["photo_url"] is None and made["archived_at"] is None
    assert sorted(made["treatments"]) == sorted([SWEDISH, TREATMENT])
    listed = next(t for t in await public(booking, "therapists") if t["id"] == made["id"])
    assert listed["photo_url"] is None and listed["credentials"] == ["Level 5 Clinical Massage"]
    changed = await owner.call(
        "PATCH",
        f"{THERAPISTS}/{made['id']}",
        json={"credentials": ["GCMT registration", "CPD"], "treatments": [SWEDISH]},
    )
    assert changed["credentials"] == ["GCMT registration", "CPD"] and changed["treatments"] == [SWEDISH]
    error = await owner.error("POST", THERAPISTS, 422, json={"name": "X", "treatments": [SWEDISH, SPINECARE_TREATMENT]})
    assert fields(error) == {"treatments.1": "treatment_not_found"}
    error = await owner.error("POST", THERAPISTS, 422, json={"name": "", "slug": "amara-okafor", "credentials": [""]})
    assert fields(error) == {"name": "string_too_short", "credentials.0": "string_too_short"}
    assert fields(await owner.error("POST", THERAPISTS, 422, json={"name": "Amara", "slug": "amara-okafor"})) == {
        "slug": "slug_taken"
    }


async def test_a_therapist_with_bookings_is_archived_and_leaves_availability(booking, booking_pool, owner):
    fresh = await owner.call("POST", THERAPISTS, 201, json={"name": "Sam Lee", "treatments": [TREATMENT]})
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO working_hours (therapist_id, weekday, starts, ends) VALUES ($1, 1, '09:00', '17:00')",
            uuid.UUID(fresh["id"]),
        )
    gone = await owner.call("DELETE", f"{THERAPISTS}/{fresh['id']}")
    assert (gone["outcome"], gone["therapist"]) == ("deleted", None)
    async with booking_pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM working_hours WHERE therapist_id = $1", uuid.UUID(fresh["id"]))
            == 0
        )

    day = next_weekday(3)
    slot = (await free_slots(booking, day))[0]
    await hold(booking, slot["start"])
    removed = await owner.call("DELETE", f"{THERAPISTS}/{THERAPIST}")
    assert (removed["outcome"], removed["reason"]) == ("archived", "booked")
    assert THERAPIST not in {t["id"] for t in await public(booking, "therapists")}
    assert {s["therapist"]["id"] for s in await free_slots(booking, day, therapist=None)} == {OTHER_THERAPIST}
    resp = await booking.get(
        f"/api/v1/clinics/{CLINIC}/availability", params={"treatment": TREATMENT, "therapist": THERAPIST}
    )
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "therapist_not_found"
    resp = await booking.post(
        "/api/v1/holds", json={"clinic": CLINIC, "treatment": TREATMENT, "therapist": THERAPIST, "start": slot["end"]}
    )
    assert resp.status == 404
    # Nor a course with them, nor a booking moved to them, by anyone who knows their id.
    resp = await booking.post(
        "/api/v1/holds", json={"clinic": CLINIC, "course": COURSE, "therapist": THERAPIST, "start": slot["end"]}
    )
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "therapist_not_found", await resp.text()
    assert (await owner.call("GET", f"{THERAPISTS}/{THERAPIST}"))["archived_at"] is not None, "kept for the clinic"
    await owner.call("PATCH", f"{THERAPISTS}/{THERAPIST}", json={"archived": False})
    assert THERAPIST in {s["therapist"]["id"] for s in await free_slots(booking, day, therapist=None)}


# --- photos --------------------------------------------------------------------------------------


async def test_a_photo_is_kept_safely_and_served_as_its_own_type(booking, owner):
    photo = f"{THERAPISTS}/{THERAPIST}/photo"
    # The type is the bytes', not the header's.
    stored = await owner.call("PUT", photo, data=png(), headers={"Content-Type": "text/html"})
    url = stored["photo_url"]
    assert url.startswith(f"/api/v1/clinics/{CLINIC}/therapists/{THERAPIST}/photo?v=")
    assert next(t for t in await public(booking, "therapists") if t["id"] == THERAPIST)["photo_url"] == url

    served = await booking.get(url)
    assert served.status == 200 and await served.read() == png()
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in served.headers["Cache-Control"] and "max-age=31536000" in served.headers["Cache-Control"]
    assert "sandbox" in served.headers["Content-Security-Policy"]
    etag = served.headers["ETag"]
    again = await booking.get(url, headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    unversioned = await booking.get(url.split("?")[0])
    assert unversioned.status == 200 and "immutable" not in unversioned.headers["Cache-Control"]

    replaced = await owner.call("PUT", photo, data=JPEG, headers={"Content-Type": "image/png"})
    assert replaced["photo_url"] != url, "a new photo, a new URL"
    served = await booking.get(replaced["photo_url"])
    assert served.headers["Content-Type"] == "image/jpeg" and await served.read() == JPEG
    assert (await booking.get(url, headers={"If-None-Match": etag})).status == 200, "the old ETag is stale"

    for not_an_image in (b"<html><script>alert(1)</script></html>", b'<svg xmlns="http://www.w3.org/2000/svg"/>', b""):
        error = await owner.error("PUT", photo, 415, data=not_an_image, headers={"Content-Type": "image/png"})
        assert error["code"] == "unsupported_image"
    too_big = io.BytesIO(png(extra=2 * MB))  # (a file: the client sends large bytes that way)
    assert (await owner.error("PUT", photo, 413, data=too_big))["code"] == "photo_too_large"

    async def chunked():  # no Content-Length: cut off once past the limit
        for _ in range(3):
            yield b"\xff\xd8\xff" + b"\0" * MB

    assert (await owner.error("PUT", photo, 413, data=chunked()))["code"] == "photo_too_large"
    at_limit = await owner.call("PUT", photo, data=io.BytesIO(JPEG + b"\0" * (2 * MB - len(JPEG))))
    assert (await booking.get(at_limit["photo_url"])).status == 200

    assert await owner.call("DELETE", photo, 204) == b""
    assert (await booking.get(at_limit["photo_url"])).status == 404
    assert (await owner.call("GET", f"{THERAPISTS}/{THERAPIST}"))["photo_url"] is None


async def test_an_archived_therapist_s_photo_is_not_served(booking, owner):
    made = await owner.call("POST", THERAPISTS, 201, json={"name": "Kai"})
    stored = await owner.call("PUT", f"{THERAPISTS}/{made['id']}/photo", data=png())
    await owner.call("PATCH", f"{THERAPISTS}/{made['id']}", json={"archived": True})
    resp = await booking.get(stored["photo_url"])
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "photo_not_found"
    resp = await booking.get(stored["photo_url"].replace(CLINIC, "spinecare"))
    assert resp.status == 404


async def test_the_database_refuses_a_photo_over_the_limit(booking_pool):
    async with booking_pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO therapist_photos (therapist_id, content_type, data, digest) VALUES ($1, 'image/png', $2, $3)",
                stable_id(CLINIC, "therapist", "amara-okafor"),
                b"\x89" * (2 * MB + 1),
                "0" * 64,
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO therapist_photos (therapist_id, content_type, data, digest) VALUES ($1, 'text/html', $2, $3)",
                stable_id(CLINIC, "therapist", "amara-okafor"),
                b"<html>",
                "0" * 64,
            )


# --- who may do what -----------------------------------------------------------------------------

WRITES = [
    ("POST", TREATMENTS, {"json": treatment_body()}),
    ("POST", f"{TREATMENTS}/order", {"json": {"ids": [SWEDISH]}}),
    ("PATCH", f"{TREATMENTS}/{SWEDISH}", {"json": {"bookable": False}}),
    ("DELETE", f"{TREATMENTS}/{SWEDISH}", {}),
    ("POST", COURSES, {"json": course_body()}),
    ("POST", f"{COURSES}/order", {"json": {"ids": [COURSE]}}),
    ("PATCH", f"{COURSES}/{COURSE}", {"json": {"sessions": 5}}),
    ("DELETE", f"{COURSES}/{COURSE}", {}),
    ("POST", THERAPISTS, {"json": {"name": "Kai"}}),
    ("PATCH", f"{THERAPISTS}/{THERAPIST}", {"json": {"bio": "New"}}),
    ("DELETE", f"{THERAPISTS}/{THERAPIST}", {}),
    ("PUT", f"{THERAPISTS}/{THERAPIST}/photo", {"data": png()}),
    ("DELETE", f"{THERAPISTS}/{THERAPIST}/photo", {}),
]


async def test_staff_read_the_catalogue_but_only_the_owner_changes_it(booking, booking_pool, settings):
    staff = Clinic(booking, settings, role="staff")
    for path in (
        TREATMENTS,
        COURSES,
        THERAPISTS,
        f"{TREATMENTS}/{SWEDISH}",
        f"{COURSES}/{COURSE}",
        f"{THERAPISTS}/{THERAPIST}",
    ):
        await staff.call("GET", path)
    async with booking_pool.acquire() as conn:
        before = await conn.fetch("SELECT * FROM treatments ORDER BY id")
    for method, path, kwargs in WRITES:
        assert (await staff.error(method, path, 403, **kwargs))["code"] == "owner_only", (method, path)
    async with booking_pool.acquire() as conn:
        assert await conn.fetch("SELECT * FROM treatments ORDER BY id") == before


async def test_another_clinic_s_ids_are_not_found(booking, settings):
    spinecare = Clinic(booking, settings, clinic="spinecare")
    not_an_image = ("PUT", f"{THERAPISTS}/{THERAPIST}/photo", {"data": b"<html>"})  # 404 first, not 415
    for method, path, kwargs in WRITES[2:4] + WRITES[6:8] + WRITES[9:] + [not_an_image]:
        error = await spinecare.error(method, path, 404, **kwargs)
        assert error["code"].endswith("_not_found"), (method, path)
    for path in (f"{TREATMENTS}/{SWEDISH}", f"{COURSES}/{COURSE}", f"{THERAPISTS}/{THERAPIST}", f"{TREATMENTS}/nope"):
        assert (await spinecare.error("GET", path, 404))["code"].endswith("_not_found")
    listed = (await spinecare.call("GET", TREATMENTS))["treatments"]
    assert SWEDISH not in {t["id"] for t in listed} and listed
    assert (await Clinic(booking, settings).call("GET", f"{TREATMENTS}/{SWEDISH}"))["bookable"] is True


async def test_without_the_gateway_s_word_nothing(booking):
    for method, path, kwargs in WRITES[:1] + [("GET", TREATMENTS, {})]:
        resp = await booking.request(method, path, **kwargs)
        assert resp.status == 401


# --- through the gateway -------------------------------------------------------------------------


async def test_the_gateway_routes_the_catalogue_to_booking(gateway, keys):
    key = bearer(keys[CLINIC])
    for path in (TREATMENTS, COURSES, THERAPISTS):
        resp = await gateway.get(path, headers=key)
        assert resp.status == 200, await resp.text()
    resp = await gateway.post(TREATMENTS, headers=key, json=treatment_body())
    assert resp.status == 201, await resp.text()
    resp = await gateway.put(f"{THERAPISTS}/{THERAPIST}/photo", headers=key, data=png())
    assert resp.status == 200, await resp.text()
    served = await gateway.get((await resp.json())["photo_url"])
    assert served.status == 200 and served.headers["Content-Type"] == "image/png" and await served.read() == png()
    assert (await gateway.get(TREATMENTS)).status == 401
