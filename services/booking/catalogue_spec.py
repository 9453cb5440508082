"""The OpenAPI operations of the clinic's own catalogue (services/booking/http/catalogue.py): treatments,
courses, therapists and their photos; api_spec.OPERATIONS takes them in."""

from __future__ import annotations

from typing import Any

from services.booking import payment_policy
from services.booking.catalogue_admin import (
    MAX_PHOTO_BYTES,
    PHOTO_TYPES,
    CourseIn,
    CoursePatch,
    OrderIn,
    TherapistIn,
    TherapistPatch,
    TreatmentIn,
    TreatmentPatch,
)
from shared.openapi import MONEY, UUID, JsonObject, Operation, json_response, operation, path_param, query_param

TAG = "Clinic catalogue"
PUBLIC_TAG = "Booking"
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
OWNER_ONLY = "The owner's only (403 `owner_only` for staff)."
ANY_ROLE = "Owner and staff. Archived ones too, after the rest."


def _obj(**props: Any) -> JsonObject:
    """An object with every one of these properties, always."""
    return {"type": "object", "required": list(props), "properties": props}


KEPT = {
    "archived_at": {
        **NULLABLE_TIME,
        "description": "when it was archived (kept for its bookings, hidden from customers); null if it is not",
    }
}
TREATMENT = _obj(
    id=UUID,
    slug=STRING,
    name=STRING,
    description=STRING,
    duration_minutes=INTEGER,
    buffer_before_minutes=INTEGER,
    buffer_after_minutes=INTEGER,
    requires_screening=BOOLEAN,
    price=MONEY,
    payment_policy={
        "anyOf": [payment_policy.SCHEMA, {"type": "null"}],
        "description": "its own payment policy; null: the clinic's",
    },
    effective_payment_policy={
        "type": "object",
        "description": "the policy its bookings are paid by, as customers see it (its own, else the clinic's): "
        "with `deposit_amount` (money), `no_show_fee` and `late_cancellation_fee` (money or null), `save_card` and "
        "`words`",
    },
    bookable={**BOOLEAN, "description": "false: not offered to customers"},
    position={**INTEGER, "description": "its place in the clinic's order (lowest first)"},
    **KEPT,
)
COURSE = _obj(
    id=UUID,
    slug=STRING,
    name=STRING,
    description=STRING,
    treatment=UUID,
    sessions=INTEGER,
    spacing=_obj(min_days_between=INTEGER, max_days_between=INTEGER),
    price=MONEY,
    payment_policy={
        "type": "object",
        "description": "the policy its bookings are paid by (its treatment's), as customers see it: with "
        "`deposit_amount` (money, of the course's price), `no_show_fee` and `late_cancellation_fee` (money or null, "
        "per session), `save_card` and `words`",
    },
    bookable=BOOLEAN,
    position=INTEGER,
    **KEPT,
)
THERAPIST = _obj(
    id=UUID,
    slug=STRING,
    name=STRING,
    bio=STRING,
    credentials={"type": "array", "items": STRING},
    treatments={"type": "array", "items": UUID},
    photo_url={"type": ["string", "null"], "description": "the photo's public URL (versioned), relative to the API"},
    **KEPT,
)


def _removed(singular: str, schema: JsonObject) -> JsonObject:
    return _obj(
        id=UUID,
        outcome={"enum": ["deleted", "archived"]},
        reason={
            "enum": ["booked", "in_course", "referenced", None],
            "description": "why it was archived, not deleted: a booking or hold has it (`booked`), a course is "
            "of it (`in_course`), something else refers to it (`referenced`); null when deleted",
        },
        **{singular: {"oneOf": [schema, {"type": "null"}], "description": "the archived one; null when deleted"}},
    )


def _resource(
    plural: str,
    singular: str,
    schema: JsonObject,
    create: type,
    patch: type,
    *,
    ordered: bool,
    extra: str = "",
) -> list[Operation]:
    path = f"/api/v1/clinic/{plural}"
    item = path + "/{id}"
    the_id = path_param("id", STRING, f"The {singular}'s id (a uuid)")
    listed = json_response(f"The clinic's {plural}", {**_obj(**{plural: {"type": "array", "items": schema}})})
    ops = [
        operation(
            "GET",
            path,
            summary=f"The clinic's {plural}",
            tag=TAG,
            clinic_auth=True,
            description=f"{ANY_ROLE}" + (" In the clinic's order, which the public list follows." if ordered else ""),
            responses={200: listed},
        ),
        operation(
            "POST",
            path,
            summary=f"Add a {singular}",
            tag=TAG,
            clinic_auth=True,
            body=create,
            errors=(403,),
            description=f"{OWNER_ONLY} `slug` is made from the name if not given (unique in the clinic; a given one "
            f"already taken: 422 `slug_taken` on `slug`). Shown to customers at once.{extra}",
            responses={201: json_response(f"The new {singular}", schema)},
        ),
    ]
    if ordered:
        ops.append(
            operation(
                "POST",
                path + "/order",
                summary=f"Put the clinic's {plural} in order",
                tag=TAG,
                clinic_auth=True,
                body=OrderIn,
                errors=(403,),
                description=f"{OWNER_ONLY} `ids` first, in that order; the rest keep theirs, after them. An id that "
                f"is not one of the clinic's {plural}: 422 on `ids.<index>`. Customers see the new order at once.",
                responses={200: listed},
            )
        )
    ops += [
        operation(
            "GET",
            item,
            summary=f"One {singular}",
            tag=TAG,
            clinic_auth=True,
            parameters=[the_id],
            description=f"{ANY_ROLE.split('.')[0]}. Another clinic's id: 404, as one nobody has.",
            responses={200: json_response(f"The {singular}", schema)},
        ),
        operation(
            "PATCH",
            item,
            summary=f"Change a {singular} (the fields given)",
            tag=TAG,
            clinic_auth=True,
            parameters=[the_id],
            body=patch,
            errors=(403,),
            description=f"{OWNER_ONLY} `archived`: true archives it, false brings it back. Customers see the "
            f"change at once.{extra}",
            responses={200: json_response(f"The {singular}, changed", schema)},
        ),
        operation(
            "DELETE",
            item,
            summary=f"Delete a {singular}, or archive one that is in use",
            tag=TAG,
            clinic_auth=True,
            parameters=[the_id],
            errors=(403,),
            description=f"{OWNER_ONLY} Deleted if nothing refers to it; archived instead if any booking or hold "
            "(whatever its status) or anything else refers to it: kept for those, hidden from customers and from "
            "booking. `outcome` says which.",
            responses={200: json_response("What was done", _removed(singular, schema))},
        ),
    ]
    return ops


PRICE_NOTE = (
    " A new price applies to what is held and booked from then on: every booking keeps the price it was made "
    "at, and a voucher what it was bought for."
)
IMAGE = {"type": "string", "format": "binary"}
PHOTO_HEADERS = {
    "ETag": {"schema": STRING, "description": "the photo's digest"},
    "Cache-Control": {"schema": STRING, "description": "a year with the current `v`, else revalidate"},
}
THERAPIST_ID = path_param("id", STRING, "The therapist's id (a uuid)")


def _photo_operations() -> list[Operation]:
    put = operation(
        "PUT",
        "/api/v1/clinic/therapists/{id}/photo",
        summary="Set a therapist's photo (the body is the image)",
        tag=TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        errors=(403, 413, 415),
        description=f"{OWNER_ONLY} A JPEG, PNG or WebP image of at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB, "
        "recognised by its bytes (the Content-Type sent does not count): anything else 415 `unsupported_image`, "
        "larger 413 `photo_too_large`. Replaces the one before; `photo_url` changes with it.",
        responses={200: json_response("The therapist, with the new photo_url", THERAPIST)},
    )
    put.spec["requestBody"] = {"required": True, "content": {kind: {"schema": IMAGE} for kind in PHOTO_TYPES}}
    delete = operation(
        "DELETE",
        "/api/v1/clinic/therapists/{id}/photo",
        summary="Remove a therapist's photo",
        tag=TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        errors=(403,),
        description=f"{OWNER_ONLY} Idempotent.",
        responses={204: {"description": "No photo now"}},
    )
    public = operation(
        "GET",
        "/api/v1/clinics/{clinic}/therapists/{id}/photo",
        summary="A therapist's photo",
        tag=PUBLIC_TAG,
        parameters=[
            path_param("clinic", STRING, "The clinic's slug, e.g. `urban-therapy`"),
            THERAPIST_ID,
            query_param("v", STRING, "The photo's version, as in `photo_url`: then cached for a year"),
        ],
        description="The URL is a therapist's `photo_url`. Served as the image type its bytes are, with "
        "`nosniff`; `If-None-Match` with its ETag answers 304. A therapist who is archived, or has no photo: 404.",
        responses={
            200: {
                "description": "The image",
                "headers": PHOTO_HEADERS,
                "content": {kind: {"schema": IMAGE} for kind in PHOTO_TYPES},
            },
            304: {"description": "Not changed since the ETag given", "headers": PHOTO_HEADERS},
        },
    )
    return [put, delete, public]


OPERATIONS: tuple[Operation, ...] = (
    *_resource("treatments", "treatment", TREATMENT, TreatmentIn, TreatmentPatch, ordered=True, extra=PRICE_NOTE),
    *_resource("courses", "course", COURSE, CourseIn, CoursePatch, ordered=True, extra=PRICE_NOTE),
    *_resource("therapists", "therapist", THERAPIST, TherapistIn, TherapistPatch, ordered=False),
    *_photo_operations(),
)
