"""The OpenAPI operations of the clinic's data-protection requests (services/booking/http/privacy.py);
api_spec.OPERATIONS takes them in."""

from __future__ import annotations

from typing import Any

from services.booking.privacy import EXPORT_FORMAT, MAX_REQUESTS_LISTED
from services.booking.schemas import PrivacyEraseIn, PrivacySubjectIn
from shared.openapi import DATE, DATETIME, MONEY, UUID, JsonObject, Operation, json_response, operation, query_param

CLINIC_TAG = "Clinic API"
OWNER_ONLY = "Owner only (staff get 403 `owner_only`)."
STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}, "description": "a count by kind of record"}
RECORDS = {"type": "array", "items": {"type": "object"}}


def _obj(required: list[str], **props: Any) -> JsonObject:
    return {"type": "object", "required": required, "properties": props}


def _nullable(schema: JsonObject) -> JsonObject:
    return {**schema, "type": [schema["type"], "null"]}


BLOCKER = _obj(
    ["code", "message"],
    code={"enum": ["customer_has_upcoming_bookings", "customer_has_vouchers_in_progress"]},
    message={**STRING, "description": "what the clinic must do first, in a sentence"},
    details={"type": ["object", "null"]},
)
REQUEST = _obj(
    ["id", "kind", "email_masked", "role", "staff_id", "at", "counts"],
    id=UUID,
    kind={"enum": ["export", "erase"]},
    email_masked={**STRING, "examples": ["j***@example.com"], "description": "never the email itself"},
    role={"enum": ["owner", "staff"]},
    staff_id={**NULLABLE_STRING, "description": "the signed-in staff account that asked; null for an API key"},
    at=DATETIME,
    counts={
        "type": "object",
        "description": "an export: records exported by kind; an erasure: `{erased: {kind: n}, kept: {kind: n}}`",
    },
)
SCREENING = _nullable(
    _obj(
        ["questionnaire_version", "answers", "outcome", "flags", "answered_at", "restricted", "retain_until"],
        questionnaire_version={"type": "integer"},
        answers={"type": "object", "additionalProperties": {"type": "boolean"}},
        outcome={"enum": ["clear", "flag"]},
        flags={"type": "array", "items": STRING},
        answered_at=DATETIME,
        restricted={
            "type": "boolean",
            "description": "kept after an erasure until `retain_until`, shown nowhere but in an export",
        },
        retain_until={**DATE, "type": ["string", "null"], "description": "when the daily job deletes the answers"},
    )
)
EXPORTED_BOOKING = _obj(
    [
        "id",
        "treatment",
        "therapist",
        "course",
        "starts_at",
        "ends_at",
        "status",
        "price",
        "erased",
        "customer",
        "screening",
        "actions",
    ],
    id=UUID,
    treatment=_obj(["id", "name"], id=UUID, name=STRING),
    therapist=_obj(["id", "name"], id=UUID, name=STRING),
    course={"type": ["object", "null"]},
    starts_at=DATETIME,
    ends_at=DATETIME,
    status=STRING,
    price=MONEY,
    booked_by={"enum": ["customer", "clinic"]},
    payment_mode={"enum": ["online", "at_clinic"]},
    cancelled_by={"type": ["string", "null"]},
    cancel_reason=NULLABLE_STRING,
    voucher={"type": ["object", "null"]},
    created_at=DATETIME,
    confirmed_at=NULLABLE_TIME,
    cancelled_at=NULLABLE_TIME,
    erased={"type": "boolean", "description": "its customer was erased: the customer fields are null"},
    customer=_obj(
        ["name", "email", "phone", "date_of_birth"],
        name=NULLABLE_STRING,
        email=NULLABLE_STRING,
        phone=NULLABLE_STRING,
        date_of_birth={**DATE, "type": ["string", "null"]},
    ),
    screening=SCREENING,
    actions={
        "type": "array",
        "items": _obj(
            ["action", "role", "at", "detail"], action=STRING, role=STRING, at=DATETIME, detail={"type": "object"}
        ),
    },
)
EXPORT_DOCUMENT = _obj(
    [
        "format",
        "exported_at",
        "clinic",
        "email",
        "customer",
        "bookings",
        "waitlist",
        "payments",
        "vouchers_bought",
        "vouchers_received",
        "emails",
        "reminders",
        "webhook_deliveries",
        "privacy_requests",
    ],
    format={"const": EXPORT_FORMAT},
    exported_at=DATETIME,
    clinic=_obj(["slug", "name"], slug=STRING, name=STRING),
    email={**STRING, "description": "as asked, lowercased"},
    customer=_obj(
        ["names", "phones", "dates_of_birth"],
        names={"type": "array", "items": STRING},
        phones={"type": "array", "items": STRING},
        dates_of_birth={"type": "array", "items": DATE},
    ),
    bookings={"type": "array", "items": EXPORTED_BOOKING},
    waitlist={
        **RECORDS,
        "description": "the customer's waitlist entries, each with its `offers` (the times held for them)",
    },
    payments={**RECORDS, "description": "the payments service's: each with its `refunds`"},
    vouchers_bought={**RECORDS, "description": "each with its `ledger`, `redemptions` and `changes`; never the code"},
    vouchers_received=RECORDS,
    emails={**RECORDS, "description": "the emails sent to the customer (bodies null once pruned)"},
    reminders=RECORDS,
    webhook_deliveries={**RECORDS, "description": "deliveries to the clinic's own systems that named the customer"},
    privacy_requests={"type": "array", "items": REQUEST, "description": "earlier requests about this customer"},
)
DRY_RUN = _obj(
    ["dry_run", "email_masked", "erase", "keep", "blockers"],
    dry_run={"const": True},
    email_masked=STRING,
    erase=COUNTS,
    keep=COUNTS,
    blockers={"type": "array", "items": BLOCKER, "description": "what refuses the erasure; none: it would go ahead"},
)
ERASED = _obj(
    ["dry_run", "request", "erased", "kept"],
    dry_run={"const": False},
    request=REQUEST,
    erased=COUNTS,
    kept=COUNTS,
)

OPERATIONS: tuple[Operation, ...] = (
    operation(
        "POST",
        "/api/v1/clinic/privacy/export",
        summary="Export everything held about a customer (a subject access request), as one JSON file",
        tag=CLINIC_TAG,
        clinic_auth=True,
        body=PrivacySubjectIn,
        errors=(403, 422, 503),
        description=f"{OWNER_ONLY} The customer's bookings at this clinic (with the clinic's actions and their health "
        "screening, restricted ones included), payments and refunds, gift vouchers bought and received, emails, "
        "reminders, webhook deliveries that named them, and earlier requests about them; an attachment "
        "`customer-data-<date>.json`. Recorded in the audit log. 422 `invalid_email`; 503 "
        "`privacy_service_unavailable` if a service cannot answer (nothing is returned in part).",
        responses={200: json_response("The customer's data", EXPORT_DOCUMENT)},
    ),
    operation(
        "POST",
        "/api/v1/clinic/privacy/erase",
        summary="Erase a customer's data, keeping only what the law requires (or a dry run of it)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        body=PrivacyEraseIn,
        errors=(403, 409, 422, 503),
        description=f"{OWNER_ONLY} Names, emails, phones, dates of birth and free text about the customer are "
        "removed everywhere; payment and refund records (6 years, HMRC) and voucher sale records (without the "
        "people) are kept; health screening answers are kept, restricted, until their retention date (8 years "
        "after the last visit; a child's to their 25th or 26th birthday), then the daily job deletes them. "
        "`dry_run: true` changes nothing and answers what would be erased and kept, and what stops it. Refused "
        "with 409 (nothing changed anywhere) while the customer has a booking still to come "
        "(`customer_has_upcoming_bookings`) or a gift voucher awaiting payment or delivery "
        "(`customer_has_vouchers_in_progress`); `details.blockers` lists them all. An unknown email erases nothing "
        "(200, zero counts). Recorded in the audit log. 503 `privacy_service_unavailable` when a service cannot "
        "be reached: the same request again completes the erasure.",
        responses={200: json_response("Erased, or what an erasure would do", {"oneOf": [DRY_RUN, ERASED]})},
    ),
    operation(
        "GET",
        "/api/v1/clinic/privacy/requests",
        summary="The audit log of exports and erasures, newest first",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[
            query_param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_REQUESTS_LISTED, "default": 50},
                "How many entries",
            )
        ],
        errors=(403,),
        description=f"{OWNER_ONLY} Who asked (role, staff account), when, which kind, the counts, and the customer "
        "as a masked email only.",
        responses={
            200: json_response("The requests", _obj(["requests"], requests={"type": "array", "items": REQUEST}))
        },
    ),
)
