"""The booking service's public operations, for the gateway's OpenAPI document (see shared/openapi.py)."""

from __future__ import annotations

from services.booking import (
    accounts_spec,
    calendar_feed_spec,
    catalogue_spec,
    clinic_actions_spec,
    clinic_settings,
    payment_policy,
    privacy_spec,
    schedules_spec,
    waitlist_spec,
)
from services.booking.schemas import (
    MAX_EMBED_ORIGINS,
    ApiKeyIn,
    BookingIn,
    ClinicSettingsPatch,
    HoldIn,
    ManageIn,
    RescheduleIn,
    RotateKeyIn,
    ScreeningIn,
)
from services.booking.settings_routes import SETTINGS_PATH
from shared.openapi import (
    DATE,
    DATETIME,
    IDEMPOTENCY_KEY,
    MONEY,
    UUID,
    Operation,
    json_response,
    operation,
    path_param,
    query_param,
)

TAG = "Booking"
CLINIC_TAG = "Clinic API"
CLINIC = path_param("clinic", {"type": "string"}, "The clinic's slug, e.g. `urban-therapy`")
BOOKING_ID = path_param("id", {"type": "string"}, "The booking's id (a uuid)")
TOKEN = query_param("token", {"type": "string"}, "The signed token of the booking's manage link")
NULLABLE_STR = {"type": ["string", "null"]}


def _obj(required: list[str], **props) -> dict:
    return {"type": "object", "required": required, "properties": props}


def _list(key: str, item: dict) -> dict:
    return _obj([key], **{key: {"type": "array", "items": item}})


EMBED_ORIGINS = {
    "type": "array",
    "items": {"type": "string"},
    "description": "Origins of the clinic's own websites that may frame its booking pages",
}
CLINIC_SCHEMA = _obj(
    ["id", "slug", "name", "timezone", "contact", "policies", "embed_origins"],
    id=UUID,
    slug={"type": "string"},
    name={"type": "string"},
    timezone={"type": "string"},
    contact=_obj(["email", "phone", "address"], email=NULLABLE_STR, phone=NULLABLE_STR, address=NULLABLE_STR),
    policies={
        "type": "object",
        "properties": {
            "booking_horizon_days": {"type": "integer"},
            "min_notice_minutes": {"type": "integer"},
            "slot_step_minutes": {"type": "integer"},
            "hold_minutes": {"type": "integer"},
            "change_window_hours": {"type": "integer"},
            "reminder_offsets_minutes": {"type": "array", "items": {"type": "integer"}},
            "voucher_validity_months": {"type": "integer"},
            "voucher_min_amount": {"type": "integer", "description": "minor units"},
            "voucher_max_amount": {"type": "integer", "description": "minor units"},
            "waitlist_offer_minutes": {
                "type": "integer",
                "description": "how long a time offered from the waitlist is held for the person offered it",
            },
            "message": NULLABLE_STR,
            "payment_policy": {
                "type": "object",
                "required": ["mode", "words"],
                "description": "how bookings are paid for unless a treatment says otherwise (the clinic's policy, "
                "as in its settings), and that in words",
                "properties": {
                    "mode": {"enum": list(payment_policy.MODES)},
                    "deposit": {},
                    "no_show_fee": payment_policy.FEE_SCHEMA,
                    "late_cancellation_fee": payment_policy.FEE_SCHEMA,
                    "words": {"type": "string"},
                },
            },
        },
    },
    embed_origins=EMBED_ORIGINS,
)
# What a booking of a treatment (a course: of its treatment) is paid by, for its price (issue 20).
NULLABLE_MONEY = {"anyOf": [MONEY, {"type": "null"}]}
PUBLIC_PAYMENT_POLICY = {
    "type": "object",
    "required": ["mode", "deposit_amount", "no_show_fee", "late_cancellation_fee", "save_card", "words"],
    "description": "the policy bookings of it are paid by (its own, else the clinic's): the policy, what is paid "
    "when booking (`deposit_amount`: the price when in full, nothing when the card is saved only), its fees for "
    "this price, whether booking saves the card, and the rest at the clinic, in words",
    "properties": {
        "mode": {"enum": list(payment_policy.MODES)},
        "deposit": {},
        "deposit_amount": MONEY,
        "no_show_fee": {
            **NULLABLE_MONEY,
            "description": "charged to the saved card if the customer does not come (a course: per session); "
            "null: none",
        },
        "late_cancellation_fee": {
            **NULLABLE_MONEY,
            "description": "charged to the saved card if the customer cancels inside the clinic's change window "
            "(a course: per session); null: none",
        },
        "save_card": {
            "type": "boolean",
            "description": "booking saves the customer's card (with Strong Customer Authentication): the mode is "
            "`card` or a fee is set",
        },
        "words": {
            "type": "string",
            "examples": ["Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic."],
        },
    },
}
TREATMENT = _obj(
    ["id", "slug", "name", "duration_minutes", "price"],
    id=UUID,
    slug={"type": "string"},
    name={"type": "string"},
    description=NULLABLE_STR,
    duration_minutes={"type": "integer"},
    buffer_before_minutes={"type": "integer"},
    buffer_after_minutes={"type": "integer"},
    requires_screening={"type": "boolean"},
    price=MONEY,
    payment_policy=PUBLIC_PAYMENT_POLICY,
)
COURSE = _obj(
    ["id", "slug", "name", "treatment", "sessions", "price"],
    id=UUID,
    slug={"type": "string"},
    name={"type": "string"},
    description=NULLABLE_STR,
    treatment=UUID,
    sessions={"type": "integer"},
    spacing=_obj([], min_days_between={"type": ["integer", "null"]}, max_days_between={"type": ["integer", "null"]}),
    price=MONEY,
    payment_policy=PUBLIC_PAYMENT_POLICY,
)
THERAPIST = _obj(
    ["id", "slug", "name", "credentials", "treatments", "photo_url"],
    id=UUID,
    slug={"type": "string"},
    name={"type": "string"},
    bio=NULLABLE_STR,
    credentials={"type": "array", "items": {"type": "string"}},
    treatments={"type": "array", "items": UUID},
    photo_url={"type": ["string", "null"], "description": "the photo's URL (versioned), relative to the API"},
)
SCREENING = _obj(
    ["version", "questions"],
    version={},
    intro={"type": "string"},
    questions={
        "type": "array",
        "items": _obj(
            ["id", "text", "answer"], id={"type": "string"}, text={"type": "string"}, answer={"const": "boolean"}
        ),
    },
)
SLOT = _obj(
    ["start", "end", "therapist"],
    start=DATETIME,
    end=DATETIME,
    therapist=_obj(["id", "name"], id=UUID, name={"type": "string"}),
)
AVAILABILITY = _obj(
    ["clinic", "timezone", "treatment", "from", "to", "slots"],
    clinic={"type": "string"},
    timezone={"type": "string"},
    treatment=UUID,
    **{"from": DATE, "to": DATE},
    slots={"type": "array", "items": SLOT},
)
SESSION = _obj(["id", "start", "end", "price"], id=UUID, start=DATETIME, end=DATETIME, price=MONEY)
HOLD = _obj(
    ["id", "expires_at", "therapist", "treatment", "kind"],
    id={**UUID, "description": "the hold (or, for a course, the series) to book with"},
    expires_at=DATETIME,
    therapist=UUID,
    treatment=UUID,
    kind={"enum": ["single", "series"]},
    start=DATETIME,
    end=DATETIME,
    price=MONEY,
    course=UUID,
    sessions={"type": "array", "items": SESSION},
)
# A booking's fees (issue 20), fixed when it was booked (a course's session: of its share of the course's price).
BOOKING_FEES = _obj(
    ["no_show", "late_cancellation"],
    no_show={**NULLABLE_MONEY, "description": "charged to the saved card if the customer does not come; null: none"},
    late_cancellation={
        **NULLABLE_MONEY,
        "description": "charged to the saved card if the customer cancels inside the change window; null: none",
    },
)
BOOKING = _obj(
    ["id", "status", "clinic", "treatment", "therapist", "start", "end", "amount_due", "customer"],
    id=UUID,
    status={"type": "string"},
    clinic={"type": "string"},
    treatment=UUID,
    therapist=UUID,
    start=DATETIME,
    end=DATETIME,
    amount_due=MONEY,
    due_at_clinic={
        "allOf": [MONEY],
        "description": "what is left to pay at the clinic (a deposit policy; zero when paid in full), of the whole "
        "booking (a course: of the whole course)",
    },
    customer=_obj(["name", "email"], name={"type": "string"}, email={"type": "string"}),
    change_deadline=DATETIME,
    policy=NULLABLE_STR,
    fees=BOOKING_FEES,
    late_cancellation_fee_due={
        **NULLABLE_MONEY,
        "description": "what cancelling now costs: its late-cancellation fee while it is confirmed, the change "
        "window has closed and the visit has not started (cancelling is then still allowed); null otherwise",
    },
    series=_obj(["id", "index"], id=UUID, index={"type": "integer"}),
    manage_url={"type": "string", "format": "uri"},
)
BOOKING["required"] = [*BOOKING["required"], "fees", "late_cancellation_fee_due"]
BOOKING_CANCELLED = {
    "allOf": [
        BOOKING,
        _obj(
            ["fee"],
            fee={
                **NULLABLE_MONEY,
                "description": "a late cancellation's fee, charged to the saved card (what was paid is refunded); "
                "null: cancelling cost nothing",
            },
        ),
    ]
}
BOOKING_CREATED = {
    "allOf": [
        BOOKING,
        _obj(
            ["price", "payment", "manage_url"],
            price=MONEY,
            payment={"type": "object"},
            pay_by={"type": ["string", "null"]},
            sessions={"type": "array", "items": BOOKING},
        ),
    ]
}
CLINIC_BOOKING = _obj(
    ["id", "status", "start", "end", "treatment", "therapist", "customer", "price", "fees"],
    id=UUID,
    status={"type": "string"},
    start=DATETIME,
    end=DATETIME,
    treatment=_obj(["id", "name"], id=UUID, name={"type": "string"}),
    therapist=_obj(["id", "name"], id=UUID, name={"type": "string"}),
    customer=_obj(
        ["name", "email"],
        name={**NULLABLE_STR, "description": "null once the customer was erased (/api/v1/clinic/privacy/erase)"},
        email=NULLABLE_STR,
        phone=NULLABLE_STR,
    ),
    price=MONEY,
    due_at_clinic={"allOf": [MONEY], "description": "left to pay at the clinic (a deposit booking); zero if none"},
    fees=BOOKING_FEES,
    series={"type": ["object", "null"]},
    screening={
        "type": ["object", "null"],
        "description": "null if none was answered, or if it is restricted (its customer was erased: only an export "
        "shows it until the daily job deletes it)",
    },
)
# One booking (GET /api/v1/clinic/bookings/{id}): also how it was booked and is paid, what a voucher paid, who
# cancelled it and why, and the clinic's actions on it (as the actions' own answers, clinic_actions_spec.ACTED_ON).
CLINIC_BOOKING_DETAIL = {
    "allOf": [
        CLINIC_BOOKING,
        _obj(
            ["booked_by", "payment", "cancellation", "actions", "voucher", "created_at"],
            booked_by={"enum": ["customer", "clinic"]},
            payment=_obj(["mode"], mode={"enum": ["online", "at_clinic"]}),
            cancellation={
                **_obj(["by", "reason"], by={"enum": ["customer", "clinic"]}, reason=NULLABLE_STR),
                "type": ["object", "null"],
            },
            actions={
                "type": "array",
                "items": _obj(
                    ["action", "role", "staff_id", "detail", "at"],
                    action={"enum": ["book", "cancel", "reschedule"]},
                    role={"enum": ["owner", "staff"]},
                    staff_id=NULLABLE_STR,
                    detail={"type": "object"},
                    at=DATETIME,
                ),
            },
            voucher={
                **_obj(
                    ["code_hint", "value", "remaining"],
                    code_hint={**NULLABLE_STR, "description": "only the code's last characters"},
                    value=MONEY,
                    remaining={"type": "object", "description": "money, or `{sessions}` for a course's voucher"},
                ),
                "type": ["object", "null"],
                "description": "what a gift voucher paid towards it",
            },
            created_at={"type": ["string", "null"], "format": "date-time"},
        ),
    ]
}
SPAN = _obj(["start", "end"], start=DATETIME, end=DATETIME)
DIARY_APPOINTMENT = _obj(
    ["id", "kind", "status", "start", "end", "treatment", "customer"],
    id=UUID,
    kind={"enum": ["hold", "booking"]},
    status={"enum": ["held", "pending_payment", "confirmed", "completed", "no_show"]},
    start=DATETIME,
    end=DATETIME,
    treatment=_obj(["id", "name"], id=UUID, name={"type": "string"}),
    customer={**_obj(["name"], name={"type": "string"}), "type": ["object", "null"]},
    series=_obj(["id", "index"], id=UUID, index={"type": "integer"}),
)
DIARY_DAY = _obj(
    ["date", "hours", "breaks", "time_off", "appointments"],
    date=DATE,
    hours={"type": "array", "items": SPAN},
    breaks={"type": "array", "items": SPAN},
    time_off={
        "type": "array",
        "items": _obj(["start", "end", "reason"], start=DATETIME, end=DATETIME, reason={"type": "string"}),
    },
    appointments={"type": "array", "items": DIARY_APPOINTMENT},
)
DIARY = _obj(
    ["timezone", "from", "to", "therapists"],
    timezone={"type": "string"},
    **{"from": DATE, "to": DATE},
    therapists={
        "type": "array",
        "items": _obj(
            ["id", "name", "days"], id=UUID, name={"type": "string"}, days={"type": "array", "items": DIARY_DAY}
        ),
    },
)

NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
API_KEY = _obj(
    ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at", "replaced_by"],
    id=UUID,
    name={"type": "string"},
    prefix={"type": "string"},
    created_at=DATETIME,
    last_used_at=NULLABLE_TIME,
    expires_at=NULLABLE_TIME,
    revoked_at=NULLABLE_TIME,
    replaced_by={"type": ["string", "null"]},
)
INTEGER = {"type": "integer"}
CLINIC_SETTINGS = _obj(
    list(clinic_settings.FIELDS),
    name={"type": "string"},
    timezone={"type": "string", "description": "IANA time zone name"},
    booking_horizon_days=INTEGER,
    min_notice_minutes=INTEGER,
    slot_step_minutes=INTEGER,
    hold_minutes=INTEGER,
    change_window_hours=INTEGER,
    reminder_offsets_minutes={"type": "array", "items": INTEGER, "description": "the earliest reminder first"},
    policy_message={"type": "string"},
    voucher_validity_months=INTEGER,
    voucher_min_amount={**INTEGER, "description": "minor units"},
    voucher_max_amount={**INTEGER, "description": "minor units"},
    address=NULLABLE_STR,
    email=NULLABLE_STR,
    phone=NULLABLE_STR,
    embed_origins=EMBED_ORIGINS,
    waitlist_offer_minutes={**INTEGER, "description": "how long a time offered from the waitlist is held"},
    payment_policy={**payment_policy.SCHEMA, "description": "how bookings are paid for, unless a treatment says"},
)
CLINIC_SETTINGS["required"] = [*CLINIC_SETTINGS["required"], "payment_policy"]
NEW_API_KEY = {"allOf": [API_KEY, _obj(["key"], key={"type": "string", "description": "shown this once only"})]}
KEY_ID = path_param("id", {"type": "string"}, "The API key's id (a uuid)")


SCREENING_VERDICT = {
    "type": "object",
    "required": ["outcome", "stops_booking", "advice"],
    "properties": {
        "outcome": {"enum": ["clear", "flag", "see_doctor", "emergency"]},
        "stops_booking": {"type": "boolean"},
        "advice": {"type": "array", "items": {"type": "string"}},
    },
}
OPERATIONS: tuple[Operation, ...] = (
    operation(
        "GET",
        "/api/v1/clinics",
        summary="List the clinics",
        tag=TAG,
        responses={200: json_response("The clinics", _list("clinics", CLINIC_SCHEMA))},
    ),
    operation(
        "GET",
        "/api/v1/clinics/{clinic}",
        summary="A clinic: settings, time zone, policies",
        tag=TAG,
        parameters=[CLINIC],
        errors=(404,),
        responses={200: json_response("The clinic", CLINIC_SCHEMA)},
    ),
    operation(
        "GET",
        "/api/v1/clinics/{clinic}/treatments",
        summary="The clinic's treatments",
        tag=TAG,
        parameters=[CLINIC],
        errors=(404,),
        responses={200: json_response("Treatments", _list("treatments", TREATMENT))},
    ),
    operation(
        "GET",
        "/api/v1/clinics/{clinic}/courses",
        summary="The clinic's courses of sessions",
        tag=TAG,
        parameters=[CLINIC],
        errors=(404,),
        responses={200: json_response("Courses", _list("courses", COURSE))},
    ),
    operation(
        "GET",
        "/api/v1/clinics/{clinic}/therapists",
        summary="The clinic's therapists",
        tag=TAG,
        parameters=[CLINIC],
        errors=(404,),
        responses={200: json_response("Therapists", _list("therapists", THERAPIST))},
    ),
    operation(
        "GET",
        "/api/v1/clinics/{clinic}/screening",
        summary="The pre-treatment health screening questions",
        tag=TAG,
        parameters=[CLINIC],
        errors=(404,),
        responses={200: json_response("The questions", SCREENING)},
    ),
    operation(
        "POST",
        "/api/v1/clinics/{clinic}/screening/check",
        summary="Judge screening answers before booking",
        tag=TAG,
        parameters=[CLINIC],
        body=ScreeningIn,
        errors=(404,),
        description="Nothing is stored. `stops_booking` with `advice` (e.g. go to A&E now) ends the booking "
        "there; the booking itself judges the same answers again.",
        responses={200: json_response("The verdict", SCREENING_VERDICT)},
    ),
    operation(
        "GET",
        "/api/v1/clinics/{clinic}/availability",
        summary="Free slots for a treatment",
        tag=TAG,
        parameters=[
            CLINIC,
            query_param("treatment", UUID, "The treatment's id", required=True),
            query_param("therapist", UUID, "Only this therapist's slots"),
            query_param("from", DATE, "First day (clinic time); today by default"),
            query_param("to", DATE, "Last day (clinic time); a week from `from` by default"),
        ],
        errors=(404, 422),
        responses={200: json_response("Slots, in clinic time with offsets", AVAILABILITY)},
    ),
    operation(
        "POST",
        "/api/v1/holds",
        summary="Hold a slot (or a course's sessions) for a few minutes",
        tag=TAG,
        body=HoldIn,
        parameters=[IDEMPOTENCY_KEY],
        errors=(404, 409),
        responses={
            201: json_response("Held", HOLD),
            200: json_response("The hold made earlier with this Idempotency-Key", HOLD),
        },
    ),
    operation(
        "DELETE",
        "/api/v1/holds/{id}",
        summary="Let a hold go: the time is free again at once",
        tag=TAG,
        parameters=[path_param("id", UUID, "The hold's (or the series') id")],
        description="Only a hold not yet booked; a repeat, or a hold already booked or expired, changes nothing.",
        responses={204: {"description": "Released (or nothing left to release)"}},
    ),
    operation(
        "POST",
        "/api/v1/bookings",
        summary="Book a held slot (screening, voucher, card payment)",
        tag=TAG,
        body=BookingIn,
        parameters=[IDEMPOTENCY_KEY],
        errors=(402, 404, 409, 429),
        description="422 `screening_red_flag` stops the booking with advice in `message`. A wrong `voucher_code` "
        "(404 `voucher_not_found`) counts against the client's misses, shared with the voucher balance check: once "
        "they are spent, 429 `rate_limited` with Retry-After for any voucher code (a booking without one still "
        "goes ahead).",
        responses={201: json_response("Booked, awaiting payment if `amount_due` is not zero", BOOKING_CREATED)},
    ),
    operation(
        "GET",
        "/api/v1/bookings/{id}",
        summary="A booking, from its manage link",
        tag=TAG,
        parameters=[BOOKING_ID, TOKEN],
        errors=(403, 404),
        responses={200: json_response("The booking", BOOKING)},
    ),
    operation(
        "POST",
        "/api/v1/bookings/{id}/cancel",
        summary="Cancel a booking within the policy window",
        tag=TAG,
        parameters=[BOOKING_ID, TOKEN],
        body=ManageIn,
        body_required=False,
        errors=(403, 404, 409),
        description="Before the clinic's change window closes; inside it only for a booking with a "
        "late-cancellation fee, which is then charged to the saved card (`fee`). Else 409 `outside_change_window`.",
        responses={200: json_response("Cancelled", BOOKING_CANCELLED)},
    ),
    operation(
        "POST",
        "/api/v1/bookings/{id}/reschedule",
        summary="Move a booking within the policy window",
        tag=TAG,
        parameters=[BOOKING_ID, TOKEN],
        body=RescheduleIn,
        errors=(403, 404, 409),
        responses={200: json_response("Rescheduled (with a new manage link)", BOOKING)},
    ),
    operation(
        "GET",
        "/api/v1/clinic/bookings",
        summary="The clinic's bookings over some days",
        tag=CLINIC_TAG,
        clinic_auth=True,
        errors=(422,),
        parameters=[
            query_param("from", DATE, "First day (clinic time); today by default"),
            query_param("to", DATE, "Last day (clinic time); a week from `from` by default"),
        ],
        responses={
            200: json_response(
                "Bookings",
                _obj(
                    ["from", "to", "bookings"],
                    **{"from": DATE, "to": DATE},
                    bookings={"type": "array", "items": CLINIC_BOOKING},
                ),
            )
        },
    ),
    operation(
        "GET",
        "/api/v1/clinic/bookings/{id}",
        summary="One booking, with its screening answers",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[BOOKING_ID],
        errors=(404,),
        description="Owner and staff. With the screening answers and their flags (health data: only here), who "
        "booked it (the customer, or the clinic by phone), how it is paid (`online` or `at_clinic`), what a gift "
        "voucher paid, who cancelled it and why, and the clinic's actions on it.",
        responses={200: json_response("The booking", CLINIC_BOOKING_DETAIL)},
    ),
    *(
        operation(
            "POST",
            f"/api/v1/clinic/bookings/{{id}}/{action}",
            summary=f"Mark a visit {label}",
            tag=CLINIC_TAG,
            clinic_auth=True,
            parameters=[BOOKING_ID],
            errors=(404, 409),
            description="Only a confirmed booking whose start has passed; repeating it changes nothing.",
            responses={200: json_response(f"Marked {label}", CLINIC_BOOKING)},
        )
        for action, label in (("complete", "completed"), ("no-show", "a no-show"))
    ),
    operation(
        "GET",
        "/api/v1/clinic/diary",
        summary="The diary: each therapist's days (a day or a week) with hours, breaks, time off, holds and bookings",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[
            query_param("from", DATE, "First day (clinic time); the clinic's today by default"),
            query_param("to", DATE, "Last day (clinic time), at most 6 days after `from`; `from` by default (a day)"),
            query_param("therapist", UUID, "Only this therapist's days"),
        ],
        errors=(404, 422),
        description="Owner and staff. Times in the clinic's zone with their offset. Shown: holds until they expire, "
        "bookings awaiting payment until their payment time runs out, confirmed, completed and no-show bookings; "
        "cancelled bookings and expired or released holds are left out (the bookings list still has a cancelled "
        "booking). An appointment is on the day it starts; time off is clipped to each day it covers. No contact "
        "details and no health data: GET /api/v1/clinic/bookings/{id} has those. 422 `range_too_large` for more "
        "than 7 days, `invalid_range` if `to` is before `from`; 404 `therapist_not_found` for a therapist who is "
        "not the clinic's.",
        responses={200: json_response("The diary", DIARY)},
    ),
    operation(
        "GET",
        SETTINGS_PATH,
        summary="The clinic's settings",
        tag=CLINIC_TAG,
        clinic_auth=True,
        errors=(403,),
        description="The owner's only (403 `owner_only` for staff).",
        responses={200: json_response("The settings", CLINIC_SETTINGS)},
    ),
    operation(
        "PATCH",
        SETTINGS_PATH,
        summary="Change the clinic's settings (the fields given)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        body=ClinicSettingsPatch,
        errors=(403,),
        description="The owner's only (403 `owner_only` for staff). Only the fields given change; every one is "
        "checked first, and on any error (422 `validation_failed`, a detail per field) nothing changes. A change "
        "applies at once: the next hold, availability answer and booking use it (reminder offsets: bookings "
        "confirmed after it). `embed_origins`: the websites allowed to show the booking pages in a frame, e.g. "
        f'`["https://www.example.com"]`; each an origin only (no path, no wildcard), at most '
        f"{MAX_EMBED_ORIGINS}; `[]` allows none.",
        responses={200: json_response("The settings, changed", CLINIC_SETTINGS)},
    ),
    operation(
        "GET",
        "/api/v1/clinic/api-keys",
        summary="The clinic's API keys (prefixes, never the keys)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        responses={200: json_response("Keys", _list("api_keys", API_KEY))},
    ),
    operation(
        "POST",
        "/api/v1/clinic/api-keys",
        summary="Create an API key (the key is shown once)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        body=ApiKeyIn,
        errors=(409,),
        responses={201: json_response("The new key", NEW_API_KEY)},
    ),
    operation(
        "POST",
        "/api/v1/clinic/api-keys/{id}/rotate",
        summary="Replace a key; the old one works for a grace period",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[KEY_ID],
        body=RotateKeyIn,
        body_required=False,
        errors=(404, 409),
        responses={
            201: json_response(
                "The new key, and the old one with its end",
                {"allOf": [NEW_API_KEY, _obj(["replaces"], replaces=API_KEY)]},
            )
        },
    ),
    operation(
        "DELETE",
        "/api/v1/clinic/api-keys/{id}",
        summary="Revoke a key at once",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[KEY_ID],
        errors=(404,),
        responses={200: json_response("Revoked", API_KEY)},
    ),
    *catalogue_spec.OPERATIONS,
    *calendar_feed_spec.OPERATIONS,
    *accounts_spec.OPERATIONS,
    *schedules_spec.OPERATIONS,
    *clinic_actions_spec.OPERATIONS,
    *privacy_spec.OPERATIONS,
    *waitlist_spec.OPERATIONS,
)
