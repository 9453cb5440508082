"""The notifications service's public operations (the clinic webhook API), for the gateway's OpenAPI document."""

from __future__ import annotations

from services.notifications.webhooks.routes import BASE, STATUSES, EndpointIn, EndpointPatch, ReplayIn
from services.notifications.webhooks.rules import EVENT_TYPES, MAX_ENDPOINTS, TEST_EVENT
from shared.openapi import DATETIME, UUID, Operation, json_response, operation, path_param, query_param

TAG = "Clinic API"
EVENTS_DESCRIPTION = (
    "`events`: any of "
    + ", ".join(f"`{t}`" for t in sorted(EVENT_TYPES))
    + '. Each delivery\'s body is `{"type", "timestamp", "data"}` (Standard Webhooks headers and signature). '
    "`booking.created`, `booking.rescheduled` and `booking.cancelled` carry the booking; `voucher.purchased` the "
    "voucher (no code). `booking.fee_charged` (a booking's no-show or late-cancellation fee taken from the saved "
    "card, `via` `off_session`, or paid by the customer from the link we emailed, `via` `pay_link`) and "
    "`booking.fee_failed` (the saved card did not pay it; `failure` says why in words, and the customer is emailed a "
    "link to pay) carry only `fee_id`, `booking_id`, `kind` (`no_show` or `late_cancellation`), `amount` (money) "
    "and `via` or `failure`."
)
ENDPOINT_ID = path_param("id", {"type": "string"}, "The webhook endpoint's id (a uuid)")
NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
ENDPOINT = {
    "type": "object",
    "required": ["id", "url", "events", "description", "enabled", "created_at"],
    "properties": {
        "id": UUID,
        "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": sorted(EVENT_TYPES)}},
        "description": {"type": "string"},
        "enabled": {"type": "boolean"},
        "disabled_reason": NULLABLE_STR,
        "alert_email": NULLABLE_STR,
        "failing_since": NULLABLE_TIME,
        "created_at": DATETIME,
        "secret": {"type": "string", "description": "`whsec_…`, shown only at creation and rotation"},
    },
}
WITH_SECRET = {"allOf": [ENDPOINT, {"type": "object", "required": ["secret"]}]}
DELIVERY = {
    "type": "object",
    "required": ["id", "event_type", "status", "attempts", "created_at", "payload", "attempt_log"],
    "properties": {
        "id": UUID,
        "event_type": {"type": "string"},
        "status": {"enum": list(STATUSES)},
        "attempts": {"type": "integer"},
        "last_status": {"type": ["integer", "null"]},
        "last_error": NULLABLE_STR,
        "next_attempt_at": NULLABLE_TIME,
        "created_at": DATETIME,
        "delivered_at": NULLABLE_TIME,
        "payload": {"description": "The body sent; null once pruned (see `payload_pruned_at`)"},
        "payload_pruned_at": {
            **NULLABLE_TIME,
            "description": "When the retention job deleted the payload and the attempts' responses (after "
            "WEBHOOK_LOG_BODY_DAYS, 30 by default); such a delivery cannot be replayed",
        },
        "attempt_log": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": DATETIME,
                    "status_code": {"type": ["integer", "null"]},
                    "latency_ms": {"type": ["integer", "null"]},
                    "response": NULLABLE_STR,
                    "error": NULLABLE_STR,
                },
            },
        },
    },
}

OPERATIONS: tuple[Operation, ...] = (
    operation(
        "GET",
        BASE,
        summary="The clinic's webhook endpoints",
        tag=TAG,
        clinic_auth=True,
        responses={
            200: json_response(
                "Endpoints",
                {
                    "type": "object",
                    "required": ["endpoints"],
                    "properties": {"endpoints": {"type": "array", "items": ENDPOINT}},
                },
            )
        },
    ),
    operation(
        "POST",
        BASE,
        summary="Register a webhook endpoint (answers its secret once)",
        tag=TAG,
        clinic_auth=True,
        body=EndpointIn,
        errors=(409,),
        description=EVENTS_DESCRIPTION
        + f" 409 `too_many_endpoints` when the clinic already has {MAX_ENDPOINTS} endpoints (delete one first).",
        responses={201: json_response("Registered", WITH_SECRET)},
    ),
    operation(
        "GET",
        BASE + "/{id}",
        summary="A webhook endpoint",
        tag=TAG,
        clinic_auth=True,
        parameters=[ENDPOINT_ID],
        errors=(404,),
        responses={200: json_response("The endpoint", ENDPOINT)},
    ),
    operation(
        "PATCH",
        BASE + "/{id}",
        summary="Change a webhook endpoint (URL, events, enabled…)",
        tag=TAG,
        clinic_auth=True,
        parameters=[ENDPOINT_ID],
        body=EndpointPatch,
        errors=(404,),
        responses={200: json_response("Changed", ENDPOINT)},
    ),
    operation(
        "DELETE",
        BASE + "/{id}",
        summary="Delete a webhook endpoint",
        tag=TAG,
        clinic_auth=True,
        parameters=[ENDPOINT_ID],
        errors=(404,),
        responses={204: {"description": "Deleted"}},
    ),
    operation(
        "POST",
        BASE + "/{id}/rotate-secret",
        summary="A new secret; the old one signs too for 24 h",
        tag=TAG,
        clinic_auth=True,
        parameters=[ENDPOINT_ID],
        errors=(404,),
        responses={
            200: json_response(
                "The new secret",
                {
                    "allOf": [
                        WITH_SECRET,
                        {
                            "type": "object",
                            "required": ["previous_secret_expires_at"],
                            "properties": {"previous_secret_expires_at": DATETIME},
                        },
                    ]
                },
            )
        },
    ),
    operation(
        "GET",
        BASE + "/{id}/deliveries",
        summary="The endpoint's deliveries and every attempt",
        tag=TAG,
        clinic_auth=True,
        errors=(404, 422),
        parameters=[ENDPOINT_ID, query_param("status", {"enum": list(STATUSES)}, "Only deliveries in this state")],
        responses={
            200: json_response(
                "Deliveries, newest first",
                {
                    "type": "object",
                    "required": ["deliveries"],
                    "properties": {"deliveries": {"type": "array", "items": DELIVERY}},
                },
            )
        },
    ),
    operation(
        "POST",
        BASE + "/{id}/replay",
        summary="Replay every failed delivery since a time",
        tag=TAG,
        clinic_auth=True,
        parameters=[ENDPOINT_ID],
        body=ReplayIn,
        errors=(404,),
        description="Deliveries whose payload was pruned (older than the delivery log's retention period) cannot "
        "be sent again: they are left as they are and counted in `skipped_pruned`.",
        responses={
            202: json_response(
                "Queued",
                {
                    "type": "object",
                    "required": ["replayed"],
                    "properties": {"replayed": {"type": "integer"}, "skipped_pruned": {"type": "integer"}},
                },
            )
        },
    ),
    operation(
        "POST",
        BASE + "/{id}/test",
        summary="Send the endpoint a test event",
        tag=TAG,
        clinic_auth=True,
        parameters=[ENDPOINT_ID],
        errors=(403, 404, 409),
        description=f"The owner's only (403 `owner_only` for staff). Queues a `{TEST_EVENT}` event to this endpoint "
        "alone, whatever events it subscribes to: a delivery like any other (Standard Webhooks headers and "
        "signature, retried on schedule, in the delivery log, replayable), body "
        f'`{{"type": "{TEST_EVENT}", "timestamp": …, "data": {{"endpoint_id": …, "message": …}}}}`. '
        "Answers the delivery (its `id` is the `webhook-id` the receiver gets). 409 `endpoint_disabled` if the "
        "endpoint is disabled.",
        responses={202: json_response("Queued", DELIVERY)},
    ),
    operation(
        "POST",
        "/api/v1/clinic/deliveries/{id}/replay",
        summary="Send one delivery again",
        tag=TAG,
        clinic_auth=True,
        parameters=[path_param("id", {"type": "string"}, "The delivery's id (a uuid)")],
        errors=(404, 409),
        description="409 `delivery_pruned` if the delivery's payload was deleted by the retention job (after "
        "WEBHOOK_LOG_BODY_DAYS, 30 by default): there is nothing left to send.",
        responses={202: json_response("Queued", DELIVERY)},
    ),
)
