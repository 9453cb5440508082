"""The clinic's own catalogue as its owner edits it (pure: no I/O): the request bodies of the clinic API's
treatments, courses and therapists with their rules, slugs, the order of a list, the columns a body sets,
and a therapist's photo, whose type is read from its bytes (never from what the client says it is)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Collection, Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from services.booking import payment_policy
from shared.input import StrictModel

# Every clinic takes payments in pounds for now (payments' CLINIC_CURRENCY says the same, and refuses a
# booking or voucher in another): a price in another currency could never be paid, so it is refused here.
# A per-clinic currency would make this a clinic setting.
CLINIC_CURRENCY = "GBP"
# What one card payment may be, least and most (payments' MIN_AMOUNT and MAX_AMOUNT): a price outside them
# could not be paid by card, so no treatment or course is given one (0, free, is paid by nobody).
MIN_CARD_AMOUNT = 50
MAX_PRICE = 500_000

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
MAX_SLUG = 80
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_BIO = 4000
MAX_CREDENTIALS = 20
MAX_CREDENTIAL = 120
MAX_THERAPIST_TREATMENTS = 100
MAX_ORDERED = 500
# The limits of migration 0001's CHECKs, said again so that a body breaking them is refused with a message.
DURATION_MINUTES = (5, 480)
BUFFER_MINUTES = (0, 120)
COURSE_SESSIONS = (2, 12)
GAP_DAYS = (1, 365)

# A therapist's photo: these types only, recognised by their first bytes, at most 2 MiB (migration 0010).
MAX_PHOTO_BYTES = 2 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


# --- slugs ---------------------------------------------------------------------------------------


def _slug(value: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, value):
        raise PydanticCustomError(
            "slug_invalid", "use lower-case letters, digits and single hyphens between them, e.g. deep-tissue-60"
        )
    return value


Slug = Annotated[
    str,
    Field(min_length=1, max_length=MAX_SLUG, json_schema_extra={"pattern": SLUG_PATTERN}, examples=["deep-tissue-60"]),
    AfterValidator(_slug),
]


def slugify(name: str, fallback: str) -> str:
    """A slug made of a name ("Deep tissue (60 min)" → "deep-tissue-60-min"); `fallback` if the name has no
    letter or digit a slug can hold. Short enough to take a "-NN" suffix (first_free_slug)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[: MAX_SLUG - 4].strip("-")
    return slug or fallback


def first_free_slug(base: str, taken: Collection[str]) -> str:
    """`base`, or `base-2`, `base-3`, … whichever no other row of the clinic has."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# --- request bodies ------------------------------------------------------------------------------

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


def _clinic_currency(value: str) -> str:
    if value != CLINIC_CURRENCY:
        raise PydanticCustomError(
            "currency_mismatch", "must be {currency}, the clinic's currency", {"currency": CLINIC_CURRENCY}
        )
    return value


Currency = Annotated[
    str,
    Field(json_schema_extra={"pattern": "^[A-Z]{3}$"}, description="the clinic's currency", examples=["GBP"]),
    AfterValidator(_clinic_currency),
]


def _payable(amount: int) -> int:
    if 0 < amount < MIN_CARD_AMOUNT:
        raise PydanticCustomError(
            "amount_too_small",
            "must be 0 (free) or at least {least} (the least a card payment may be)",
            {"least": MIN_CARD_AMOUNT},
        )
    return amount


class PriceIn(StrictModel):
    """A price in minor units (pence) and the clinic's currency: free, or one a card can pay."""

    amount: Annotated[int, AfterValidator(_payable)] = Field(
        ge=0,
        le=MAX_PRICE,
        description=f"minor units (pence): 0 for free, else {MIN_CARD_AMOUNT} to {MAX_PRICE}; never negative",
    )
    currency: Currency


class TreatmentIn(StrictModel):
    """A new treatment; `slug` is made from the name if not given."""

    multiline = frozenset({"description"})

    name: Name
    slug: Slug | None = None
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    duration_minutes: int = Field(ge=DURATION_MINUTES[0], le=DURATION_MINUTES[1])
    buffer_before_minutes: int = Field(default=0, ge=BUFFER_MINUTES[0], le=BUFFER_MINUTES[1])
    buffer_after_minutes: int = Field(default=0, ge=BUFFER_MINUTES[0], le=BUFFER_MINUTES[1])
    price: PriceIn
    requires_screening: bool = True
    bookable: bool = Field(default=True, description="false: kept, but not offered on the booking pages")
    payment_policy: Any = Field(
        default=None,
        description="How bookings of it are paid for (payment_policy.parse: 422 `invalid_payment_policy`); null or "
        "left out: the clinic's policy",
        json_schema_extra={"anyOf": [payment_policy.SCHEMA, {"type": "null"}]},
    )


class TreatmentPatch(StrictModel):
    """Change some of a treatment; a field left out (or null) keeps its value. A new price applies to bookings
    made from now on: every booking keeps the price it was made at."""

    multiline = frozenset({"description"})

    name: Name | None = None
    slug: Slug | None = None
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    duration_minutes: int | None = Field(default=None, ge=DURATION_MINUTES[0], le=DURATION_MINUTES[1])
    buffer_before_minutes: int | None = Field(default=None, ge=BUFFER_MINUTES[0], le=BUFFER_MINUTES[1])
    buffer_after_minutes: int | None = Field(default=None, ge=BUFFER_MINUTES[0], le=BUFFER_MINUTES[1])
    price: PriceIn | None = None
    requires_screening: bool | None = None
    bookable: bool | None = None
    archived: bool | None = Field(default=None, description="true archives it; false brings an archived one back")
    payment_policy: Any = Field(
        default=None,
        description="Its own payment policy; null: the clinic's from now on; left out: kept as it is",
        json_schema_extra={"anyOf": [payment_policy.SCHEMA, {"type": "null"}]},
    )


class SpacingIn(StrictModel):
    min_days_between: int = Field(ge=GAP_DAYS[0], le=GAP_DAYS[1])
    max_days_between: int = Field(ge=GAP_DAYS[0], le=GAP_DAYS[1])

    @model_validator(mode="after")
    def _ordered(self) -> SpacingIn:
        if self.max_days_between < self.min_days_between:
            raise PydanticCustomError("spacing_reversed", "max_days_between must not be less than min_days_between")
        return self


class CourseIn(StrictModel):
    """A new course: `sessions` of one of the clinic's treatments, spaced as the clinic recommends."""

    multiline = frozenset({"description"})

    name: Name
    slug: Slug | None = None
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    treatment: uuid.UUID = Field(description="one of the clinic's treatments")
    sessions: int = Field(ge=COURSE_SESSIONS[0], le=COURSE_SESSIONS[1])
    spacing: SpacingIn
    price: PriceIn
    bookable: bool = True


class CoursePatch(StrictModel):
    """Change some of a course; a field left out (or null) keeps its value (`spacing` is given whole). Its
    treatment stays: vouchers sold for the course pay for sessions of that treatment (make a new course, and
    archive this one, to offer another)."""

    multiline = frozenset({"description"})

    name: Name | None = None
    slug: Slug | None = None
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    sessions: int | None = Field(default=None, ge=COURSE_SESSIONS[0], le=COURSE_SESSIONS[1])
    spacing: SpacingIn | None = None
    price: PriceIn | None = None
    bookable: bool | None = None
    archived: bool | None = None


def _distinct(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


Credential = Annotated[str, Field(min_length=1, max_length=MAX_CREDENTIAL)]
Credentials = Annotated[list[Credential], Field(max_length=MAX_CREDENTIALS), AfterValidator(_distinct)]
GivenTreatments = Annotated[
    list[uuid.UUID],
    Field(max_length=MAX_THERAPIST_TREATMENTS, description="ids of the clinic's treatments they give"),
    AfterValidator(_distinct),
]


class TherapistIn(StrictModel):
    multiline = frozenset({"bio"})

    name: Name
    slug: Slug | None = None
    bio: str = Field(default="", max_length=MAX_BIO)
    credentials: Credentials = Field(default_factory=list, examples=[["GCMT registration"]])
    treatments: GivenTreatments = Field(default_factory=list)


class TherapistPatch(StrictModel):
    """Change some of a therapist's profile; a field left out (or null) keeps its value; `treatments`, if
    given, is the whole list of what they give."""

    multiline = frozenset({"bio"})

    name: Name | None = None
    slug: Slug | None = None
    bio: str | None = Field(default=None, max_length=MAX_BIO)
    credentials: Credentials | None = None
    treatments: GivenTreatments | None = None
    archived: bool | None = None


def _no_repeats(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise PydanticCustomError("duplicate_id", "must name each one once")
    return ids


class OrderIn(StrictModel):
    """The order of the clinic's list: these first, in this order; any not named keep theirs, after them."""

    ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_ORDERED), AfterValidator(_no_repeats)]


# --- what a body sets ----------------------------------------------------------------------------

Columns = dict[str, object]


def _price(price: PriceIn | None) -> Columns:
    return {} if price is None else {"price_amount": price.amount, "currency": price.currency}


def treatment_columns(body: TreatmentIn | TreatmentPatch) -> Columns:
    """The treatments columns a body sets (a patch: only those it gives; never `archived`, nor `slug`)."""
    fields = (
        "name",
        "description",
        "duration_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "requires_screening",
        "bookable",
    )
    columns: Columns = {f: getattr(body, f) for f in fields if getattr(body, f) is not None}
    return columns | _price(body.price)


def treatment_policy_columns(body: TreatmentIn | TreatmentPatch, currency: str) -> Columns:
    """The treatment's own payment policy, if the body sets it (given: checked, else PolicyInvalid; null: none, so
    the clinic's). A new treatment without one has none."""
    if "payment_policy" not in body.model_fields_set:
        return {}
    given = body.payment_policy
    return {"payment_policy": None if given is None else payment_policy.parse(given, currency)}


def course_columns(body: CourseIn | CoursePatch) -> Columns:
    """The courses columns a body sets (a patch: only those it gives; never `archived`, `slug`, nor the
    treatment of a course that exists)."""
    columns: Columns = {f: getattr(body, f) for f in ("name", "description", "sessions", "bookable")}
    if isinstance(body, CourseIn):
        columns["treatment_id"] = body.treatment
    if body.spacing is not None:
        columns |= {"min_gap_days": body.spacing.min_days_between, "max_gap_days": body.spacing.max_days_between}
    return {k: v for k, v in columns.items() if v is not None} | _price(body.price)


def therapist_columns(body: TherapistIn | TherapistPatch) -> Columns:
    """The therapists columns a body sets (not `treatments`: rows of their own)."""
    return {f: getattr(body, f) for f in ("name", "bio", "credentials") if getattr(body, f) is not None}


# --- the order of a list -------------------------------------------------------------------------


def unknown_ids(wanted: Iterable[uuid.UUID], known: Collection[uuid.UUID]) -> list[int]:
    """Where in `wanted` an id is none of `known` (the clinic's own): unknown and another clinic's alike."""
    return [i for i, one in enumerate(wanted) if one not in known]


def new_order(current: list[uuid.UUID], wanted: list[uuid.UUID]) -> list[uuid.UUID]:
    """`wanted` first, then the rest of `current` in their order."""
    named = set(wanted)
    return list(wanted) + [one for one in current if one not in named]


# --- photos --------------------------------------------------------------------------------------


def sniff_image(data: bytes) -> str | None:
    """The image type these bytes are, by their signature; None if they are none of PHOTO_TYPES."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
        return "image/webp"
    return None


def photo_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def photo_version(digest: str) -> str:
    """What a photo's URL carries (`?v=`): a new photo has a new URL, so the old one may be cached for ever."""
    return digest[:16]


def photo_path(clinic_slug: str, therapist_id: uuid.UUID, digest: str | None) -> str | None:
    """Where the public API serves a therapist's photo (relative to the API's base URL); None without one."""
    if digest is None:
        return None
    return f"/api/v1/clinics/{clinic_slug}/therapists/{therapist_id}/photo?v={photo_version(digest)}"
