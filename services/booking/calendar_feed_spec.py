"""The OpenAPI operations of the therapists' calendar feeds (services/booking/http/calendar_feed.py): the owner's
management of a therapist's feed, and the public feed itself; api_spec.OPERATIONS takes them in."""

from __future__ import annotations

from typing import Any

from services.booking.calendar_feed import DAYS_BACK, MAX_AGE_SECONDS
from services.booking.http.calendar_feed import FEED_PATH, MANAGE_PATH
from shared.openapi import DATETIME, JsonObject, Operation, json_response, operation, path_param

CLINIC_TAG = "Clinic API"
PUBLIC_TAG = "Calendar feeds"
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
THERAPIST_ID = path_param("id", {"type": "string"}, "The therapist's id (a uuid)")
TOKEN = path_param("token", {"type": "string"}, "The feed's secret token, as in the URL the owner was shown")
OWNER_ONLY = "The owner's only (403 `owner_only` for staff); 404 `therapist_not_found` for another clinic's."


def _obj(**props: Any) -> JsonObject:
    return {"type": "object", "required": list(props), "properties": props}


NEW_FEED = _obj(
    url={"type": "string", "format": "uri", "description": "the feed's secret URL, shown this once only"},
    created_at=DATETIME,
)
FEED_STATE = _obj(
    active={"type": "boolean", "description": "whether the therapist has a working feed URL"},
    created_at={**NULLABLE_TIME, "description": "when the working URL was made; null without one"},
    last_polled_at={**NULLABLE_TIME, "description": "when a calendar app last fetched it (to the minute)"},
)
CALENDAR = {
    "description": "The therapist's calendar (RFC 5545)",
    "headers": {
        "ETag": {"schema": {"type": "string"}, "description": "send it back as If-None-Match"},
        "Cache-Control": {"schema": {"type": "string"}, "description": f"private, max-age={MAX_AGE_SECONDS}"},
    },
    "content": {"text/calendar": {"schema": {"type": "string"}}},
}

OPERATIONS: tuple[Operation, ...] = (
    operation(
        "POST",
        MANAGE_PATH,
        summary="Make a therapist's calendar feed URL (shown once; replaces and revokes the earlier one)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        errors=(403, 404),
        description="A secret `.ics` URL for the therapist's calendar app to subscribe to. Only a digest of it is "
        "kept: it is in this answer only, and a repeat makes another (the earlier one then answers 404). " + OWNER_ONLY,
        responses={201: json_response("The new feed URL", NEW_FEED)},
    ),
    operation(
        "GET",
        MANAGE_PATH,
        summary="Whether a therapist has a calendar feed, and when it was last polled (never the URL)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        errors=(403, 404),
        description=OWNER_ONLY,
        responses={200: json_response("The feed's state", FEED_STATE)},
    ),
    operation(
        "DELETE",
        MANAGE_PATH,
        summary="Revoke a therapist's calendar feed: its URL answers 404 from now on",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        errors=(403, 404),
        description="A repeat changes nothing. " + OWNER_ONLY,
        responses={204: {"description": "Revoked (or there was none)"}},
    ),
    operation(
        "GET",
        FEED_PATH,
        summary="A therapist's calendar feed (.ics), as calendar apps poll it",
        tag=PUBLIC_TAG,
        parameters=[TOKEN],
        description="The therapist's confirmed, completed and no-show bookings from "
        f"{DAYS_BACK} days back to the clinic's booking horizon ahead, each as one entry for its whole life (a "
        "move updates it); bookings awaiting payment and cancelled ones are not in it. Each entry names the "
        "treatment and the customer's initials only: no contact details, no health data. 304 when "
        "`If-None-Match` names the current ETag. A wrong, revoked or malformed token: 404, all alike.",
        responses={200: CALENDAR, 304: {"description": "Not modified since the ETag sent"}},
    ),
)
