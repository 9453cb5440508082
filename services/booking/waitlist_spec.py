"""The OpenAPI operations of the waitlist (services/booking/http/waitlist.py); api_spec.OPERATIONS takes them in."""

from __future__ import annotations

from typing import Any

from services.booking import waitlist_rules
from services.booking.waitlist import MAX_LISTED
from services.booking.waitlist_schemas import WaitlistIn, WaitlistLeaveIn
from shared.openapi import DATETIME, UUID, JsonObject, Operation, json_response, operation, path_param, query_param

PUBLIC_TAG = "Booking"
CLINIC_TAG = "Clinic API"
STRING = {"type": "string"}
REF = {"type": "object", "required": ["id", "name"], "properties": {"id": UUID, "name": STRING}}


def _obj(required: list[str], **props: Any) -> JsonObject:
    return {"type": "object", "required": required, "properties": props}


ENTRY_STATUS = {"enum": list(waitlist_rules.STATUSES)}
JOINED = _obj(
    ["id", "status", "leave_url"],
    id=UUID,
    status=ENTRY_STATUS,
    leave_url={**STRING, "description": "the link to leave the waitlist (carries a secret token; also emailed)"},
)
OFFER = _obj(
    ["id", "status", "expires_at", "hold", "start", "end", "treatment", "therapist", "clinic"],
    id=UUID,
    status={"const": "open"},
    expires_at={**DATETIME, "description": "until when the time is held for the person offered it"},
    hold=_obj(
        ["id", "expires_at"],
        id={**UUID, "description": "the hold to book (`POST /api/v1/bookings` with `hold`)"},
        expires_at=DATETIME,
    ),
    start={**DATETIME, "description": "the clinic's wall time, with its offset"},
    end=DATETIME,
    treatment=REF,
    therapist=REF,
    clinic=_obj(["slug", "name", "timezone"], slug=STRING, name=STRING, timezone=STRING),
)
ENTRY = _obj(
    ["id", "treatment", "therapist", "weekdays", "times_of_day", "wishes", "customer", "status", "created_at", "offer"],
    id=UUID,
    treatment=REF,
    therapist={"oneOf": [REF, {"type": "null"}], "description": "null: any therapist giving the treatment"},
    weekdays={"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 6}, "description": "0 = Monday"},
    times_of_day={"type": "array", "items": {"enum": list(waitlist_rules.TIMES_OF_DAY)}},
    wishes={**STRING, "description": 'the weekdays and times in words, e.g. "Mondays, mornings or evenings"'},
    customer=_obj(["name", "email"], name=STRING, email=STRING),
    status=ENTRY_STATUS,
    created_at=DATETIME,
    offer={
        "description": "the entry's latest offer, if it had one",
        "oneOf": [
            _obj(
                ["id", "starts_at", "expires_at", "status"],
                id=UUID,
                starts_at={**DATETIME, "description": "the clinic's wall time, with its offset"},
                expires_at=DATETIME,
                status={"enum": list(waitlist_rules.OFFER_STATUSES)},
            ),
            {"type": "null"},
        ],
    },
)
ENTRY_ID = path_param("id", {"type": "string"}, "The waitlist entry's id (a uuid)")

OPERATIONS: tuple[Operation, ...] = (
    operation(
        "POST",
        "/api/v1/waitlist",
        summary="Join a clinic's waitlist for a treatment",
        tag=PUBLIC_TAG,
        body=WaitlistIn,
        errors=(404,),
        description="For a customer for whom no time suits: when a time that suits them frees up (a cancellation, "
        "a move, a hold or unpaid booking that lapsed, new hours) and they are the first waiting whom it suits, it "
        "is held for them for the clinic's `waitlist_offer_minutes` and they are emailed a link straight into "
        "booking it. An email confirms they are on the list, with a link to leave. An identical live entry of "
        "the same email answers 200 with that entry. 404 `clinic_not_found`; 422 `treatment_not_found`, "
        "`therapist_not_found`, `therapist_does_not_give_treatment`, `too_many_waitlist_entries` "
        f"(at most {waitlist_rules.MAX_LIVE_ENTRIES_PER_EMAIL} live entries per email at a clinic), or "
        "`validation_failed`. Rate-limited per client address, as holds are.",
        responses={
            201: json_response("On the waitlist", JOINED),
            200: json_response("Already on it, asking for the same", JOINED),
        },
    ),
    operation(
        "GET",
        "/api/v1/waitlist/offers/{id}",
        summary="A waitlist offer, as its emailed link opens it",
        tag=PUBLIC_TAG,
        parameters=[
            path_param("id", {"type": "string"}, "The offer's id (a uuid)"),
            query_param("token", STRING, "The token of the offer's link", required=True),
        ],
        errors=(404, 410),
        description="While the offer is open: the held time and its hold, to book with `POST /api/v1/bookings`. "
        "404 `waitlist_offer_not_found` for an unknown id or a wrong token; 410 `offer_expired` once it ran out, "
        "was withdrawn or was used (`details.status`: `lapsed`, `withdrawn`, `taken`; the message says so in words).",
        responses={200: json_response("The open offer", OFFER)},
    ),
    operation(
        "POST",
        "/api/v1/waitlist/{id}/leave",
        summary="Leave the waitlist (from the emailed link)",
        tag=PUBLIC_TAG,
        parameters=[ENTRY_ID],
        body=WaitlistLeaveIn,
        errors=(404,),
        description="An open offer is withdrawn and its held time freed. Idempotent. `status` is `left`, or "
        "`booked` / `removed` if the entry had ended so before. 404 `waitlist_entry_not_found` for an unknown "
        "id or a wrong token.",
        responses={200: json_response("Left", _obj(["status"], status=ENTRY_STATUS))},
    ),
    operation(
        "GET",
        "/api/v1/clinic/waitlist",
        summary="The clinic's waitlist, oldest first",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[query_param("status", ENTRY_STATUS, "Only entries with this status")],
        description=f"Staff and owner. At most {MAX_LISTED} entries, each with its latest offer.",
        responses={200: json_response("The entries", _obj(["entries"], entries={"type": "array", "items": ENTRY}))},
    ),
    operation(
        "DELETE",
        "/api/v1/clinic/waitlist/{id}",
        summary="Take an entry off the waitlist",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[ENTRY_ID],
        errors=(404,),
        description="Staff and owner. The entry becomes `removed` (an entry already ended stays as it was); an open "
        "offer is withdrawn and its held time freed. Idempotent. 404 `waitlist_entry_not_found` for another "
        "clinic's entry.",
        responses={200: json_response("The entry as it now is", ENTRY)},
    ),
)
