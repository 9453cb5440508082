"""The clinic's catalogue rules (pure): request bodies refused field by field, slugs made and kept unique,
a list's new order, the columns a body sets, and a photo's type read from its bytes."""

from __future__ import annotations

import json
import struct
import uuid
import zlib

import pydantic
import pytest

from services.booking.catalogue_admin import (
    MAX_SLUG,
    CourseIn,
    CoursePatch,
    OrderIn,
    TherapistIn,
    TreatmentIn,
    TreatmentPatch,
    course_columns,
    first_free_slug,
    new_order,
    photo_path,
    slugify,
    sniff_image,
    treatment_columns,
    unknown_ids,
)
from shared.errors import validation_details


def parse(model, body: dict):
    return model.model_validate_json(json.dumps(body), strict=True)


def problems(model, body: dict) -> dict[str, str]:
    """field → error type, as the API's 422 details name them."""
    with pytest.raises(pydantic.ValidationError) as refused:
        parse(model, body)
    return {d["field"]: d["type"] for d in validation_details(refused.value)}


TREATMENT = {"name": "Sports massage", "duration_minutes": 45, "price": {"amount": 5000, "currency": "GBP"}}


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b"")
    )


def test_a_treatment_with_defaults():
    body = parse(TreatmentIn, {**TREATMENT, "name": "  Sports massage  "})
    assert body.name == "Sports massage" and body.slug is None and body.bookable and body.requires_screening
    assert treatment_columns(body) == {
        "name": "Sports massage",
        "description": "",
        "duration_minutes": 45,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 0,
        "requires_screening": True,
        "bookable": True,
        "price_amount": 5000,
        "currency": "GBP",
    }


def test_bad_treatments_are_refused_field_by_field():
    found = problems(
        TreatmentIn,
        {
            "name": " ",
            "slug": "Deep Tissue!",
            "duration_minutes": 2,
            "buffer_after_minutes": 121,
            "price": {"amount": -1, "currency": "EUR"},
            "colour": "red",
        },
    )
    assert found == {
        "name": "string_too_short",
        "slug": "slug_invalid",
        "duration_minutes": "greater_than_equal",
        "buffer_after_minutes": "less_than_equal",
        "price.amount": "greater_than_equal",
        "price.currency": "currency_mismatch",
        "colour": "extra_forbidden",
    }


@pytest.mark.parametrize(
    "amount, problem",
    [(-1, "greater_than_equal"), (1, "amount_too_small"), (49, "amount_too_small"), (500_001, "less_than_equal")],
)
def test_a_price_is_free_or_one_a_card_can_pay(amount, problem):
    assert problems(TreatmentIn, {**TREATMENT, "price": {"amount": amount, "currency": "GBP"}}) == {
        "price.amount": problem
    }


def test_prices_a_card_can_pay():
    for amount in (0, 50, 500_000):
        assert parse(TreatmentIn, {**TREATMENT, "price": {"amount": amount, "currency": "GBP"}}).price.amount == amount


@pytest.mark.parametrize(
    "slug", ["-deep", "deep-", "deep--tissue", "Deep", "deep tissue", "déep", "a" * (MAX_SLUG + 1)]
)
def test_bad_slugs(slug):
    assert "slug" in problems(TreatmentIn, {**TREATMENT, "slug": slug})


def test_good_slugs():
    for slug in ("deep-tissue-60", "a", "60"):
        assert parse(TreatmentIn, {**TREATMENT, "slug": slug}).slug == slug


def test_a_patch_sets_only_what_it_gives():
    assert treatment_columns(parse(TreatmentPatch, {})) == {}
    patch = parse(TreatmentPatch, {"price": {"amount": 7000, "currency": "GBP"}, "bookable": False, "name": None})
    assert treatment_columns(patch) == {"price_amount": 7000, "currency": "GBP", "bookable": False}
    assert problems(TreatmentPatch, {"price": {"amount": -5, "currency": "GBP"}}) == {
        "price.amount": "greater_than_equal"
    }


def test_courses():
    body = {
        "name": "Sciatica course",
        "treatment": str(uuid.uuid4()),
        "sessions": 6,
        "spacing": {"min_days_between": 2, "max_days_between": 4},
        "price": {"amount": 30000, "currency": "GBP"},
    }
    columns = course_columns(parse(CourseIn, body))
    assert columns["min_gap_days"] == 2 and columns["max_gap_days"] == 4 and columns["sessions"] == 6
    assert columns["treatment_id"] == uuid.UUID(body["treatment"])
    assert problems(CourseIn, {**body, "sessions": 13, "spacing": {"min_days_between": 5, "max_days_between": 2}}) == {
        "sessions": "less_than_equal",
        "spacing": "spacing_reversed",
    }
    assert problems(CourseIn, {**body, "sessions": 1})["sessions"] == "greater_than_equal"
    # A course's treatment stays what it is (vouchers sold for it pay for sessions of that treatment).
    assert problems(CoursePatch, {"treatment": body["treatment"]}) == {"treatment": "extra_forbidden"}
    assert course_columns(parse(CoursePatch, {"sessions": 8})) == {"sessions": 8}


def test_therapists_lists_drop_repeats_and_are_bounded():
    t = str(uuid.uuid4())
    body = parse(TherapistIn, {"name": "Ada", "credentials": ["GCMT", "GCMT", "CPD"], "treatments": [t, t]})
    assert body.credentials == ["GCMT", "CPD"] and body.treatments == [uuid.UUID(t)]
    assert problems(TherapistIn, {"name": "Ada", "credentials": ["x"] * 21, "treatments": ["nope"]}) == {
        "credentials": "too_long",
        "treatments.0": "uuid_parsing",
    }
    assert problems(TherapistIn, {"name": "Ada", "bio": "line\x00"}) == {"bio": "text_not_allowed"}
    assert parse(TherapistIn, {"name": "Ada", "bio": "Two\nlines"}).bio == "Two\nlines"


def test_slugs_are_made_from_names_and_kept_unique():
    assert slugify("Deep tissue massage (60 min)", "treatment") == "deep-tissue-massage-60-min"
    assert slugify("Massage suédois", "treatment") == "massage-suedois"
    assert slugify("按摩", "treatment") == "treatment"
    assert len(slugify("x" * 300, "t")) <= MAX_SLUG - 4
    assert first_free_slug("swedish", set()) == "swedish"
    assert first_free_slug("swedish", {"swedish", "swedish-2", "swedish-x"}) == "swedish-3"


def test_a_new_order():
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    assert new_order([a, b, c, d], [c, a]) == [c, a, b, d]
    assert unknown_ids([a, uuid.uuid4(), d], {a, b, c, d}) == [1]
    assert problems(OrderIn, {"ids": [str(a), str(a)]}) == {"ids": "duplicate_id"}
    assert problems(OrderIn, {"ids": []}) == {"ids": "too_short"}


def test_a_photo_s_type_is_read_from_its_bytes():
    assert sniff_image(png()) == "image/png"
    assert sniff_image(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00") == "image/jpeg"
    assert sniff_image(b"RIFF\x10\x00\x00\x00WEBPVP8 \x00\x00") == "image/webp"
    for not_an_image in (
        b"",
        b"<html><script>alert(1)</script>",
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        b"GIF89a\x01\x00",
        b"\x89PNG\r\n\x1a\n",  # a signature and nothing of an image after it
        b"RIFF\x10\x00\x00\x00WAVEfmt ",
    ):
        assert sniff_image(not_an_image) is None


def test_a_photo_s_url_names_its_version():
    therapist = uuid.uuid4()
    assert photo_path("urban-therapy", therapist, None) is None
    assert photo_path("urban-therapy", therapist, "ab" * 32) == (
        f"/api/v1/clinics/urban-therapy/therapists/{therapist}/photo?v={'ab' * 8}"
    )
