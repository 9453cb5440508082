"""The OpenAPI operations of the clinic's actions on behalf of customers (services/booking/http/clinic_actions.py)
and of paying a booking from its manage link (http/booking_payment.py); api_spec.OPERATIONS takes them in."""

from __future__ import annotations

from typing import Any

from services.booking.clinic_actions_schemas import ClinicCancelIn, ClinicRescheduleIn, PhoneBookingIn
from services.booking.domain import PHONE_PAYMENT_WINDOW
from shared.openapi import (
    DATETIME,
    IDEMPOTENCY_KEY,
    MONEY,
    UUID,
    JsonObject,
    Operation,
    json_response,
    operation,
    path_param,
    query_param,
)

CLINIC_TAG = "Clinic API"
TAG = "Booking"
STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
BOOKING_ID = path_param("id", STRING, "The booking's id (a uuid)")
ANY_ROLE = "Owner and staff (an API key acts as the owner)."
PHONE_HOURS = int(PHONE_PAYMENT_WINDOW.total_seconds() // 3600)


def _obj(required: list[str], **props: Any) -> JsonObject:
    return {"type": "object", "required": required, "properties": props}


NAMED = _obj(["id", "name"], id=UUID, name=STRING)
ACTION = _obj(
    ["action", "role", "staff_id", "detail", "at"],
    action={"enum": ["book", "cancel", "reschedule"]},
    role={"enum": ["owner", "staff"]},
    staff_id={**NULLABLE_STRING, "description": "the signed-in staff account that acted; null for an API key"},
    detail={"type": "object", "description": "the reason of a cancel, the times of a move, a booking's payment"},
    at=DATETIME,
)
# The clinic's view of a booking (as GET /api/v1/clinic/bookings/{id}, without the screening answers), with what
# the clinic's actions left on it.
ACTED_ON = _obj(
    ["id", "status", "start", "end", "treatment", "therapist", "customer", "price", "booked_by", "payment", "actions"],
    id=UUID,
    status=STRING,
    start=DATETIME,
    end=DATETIME,
    treatment=NAMED,
    therapist=NAMED,
    customer=_obj(["name", "email"], name=STRING, email=STRING, phone=NULLABLE_STRING),
    price=MONEY,
    series={"type": ["object", "null"]},
    screening={"type": ["object", "null"]},
    booked_by={"enum": ["customer", "clinic"]},
    payment=_obj(["mode"], mode={"enum": ["online", "at_clinic"]}),
    cancellation={
        **_obj(["by", "reason"], by={"enum": ["customer", "clinic"]}, reason=NULLABLE_STRING),
        "type": ["object", "null"],
    },
    actions={"type": "array", "items": ACTION},
)
PHONE_BOOKED = {
    "allOf": [
        ACTED_ON,
        _obj(
            ["payment", "manage_url"],
            payment=_obj(
                ["mode", "amount_due", "due_at_clinic", "pay_by", "pay_url"],
                mode={"enum": ["online", "at_clinic"]},
                amount_due={
                    "allOf": [MONEY],
                    "description": "`online`: what the card pays now under the treatment's payment policy, as "
                    "GET /api/v1/bookings/{id}/payment answers (the price in full; a deposit; 0 when the card is "
                    "only saved); `at_clinic`: the price",
                },
                due_at_clinic={
                    "allOf": [MONEY],
                    "description": "what is left to pay at the clinic (`online`: the rest after a deposit, the price "
                    "when the card is only saved, 0 in full; `at_clinic`: the price)",
                },
                pay_by={**NULLABLE_TIME, "description": "awaiting its online payment: the time it must be paid by"},
                pay_url={**NULLABLE_STRING, "description": "the link the customer was emailed to pay online"},
            ),
            manage_url={"type": "string", "format": "uri"},
        ),
    ]
}
# The payment as the manage page is given it: every field always there (null where it does not apply).
PAYMENT_FIELDS: dict[str, Any] = {
    "id": UUID,
    "status": STRING,
    "amount": {"type": "integer"},
    "currency": STRING,
    "stripe_payment_intent": {**NULLABLE_STRING, "description": "null when the card is only saved (`setup`)"},
    "client_secret": {
        **STRING,
        "description": "for Stripe.js to confirm the card payment (or, `setup`, the SetupIntent) in the customer's "
        "browser",
    },
    "setup": {"type": "boolean", "description": "nothing to pay now: a SetupIntent saves the card (card saved only)"},
    "stripe_setup_intent": {**NULLABLE_STRING, "description": "the SetupIntent's id when `setup`, else null"},
}
PAYMENT_DUE = _obj(
    ["booking", "status", "pay_by", "amount_due", "due_at_clinic", "payment_policy_words", "payment"],
    booking=UUID,
    status={"const": "pending_payment"},
    pay_by=DATETIME,
    amount_due=MONEY,
    due_at_clinic=MONEY,
    payment_policy_words={
        **NULLABLE_STRING,
        "description": "the booking's payment policy in words (a deposit, card saved only, fees); null: paid in full",
    },
    payment=_obj(list(PAYMENT_FIELDS), **PAYMENT_FIELDS),
)

OPERATIONS: tuple[Operation, ...] = (
    operation(
        "POST",
        "/api/v1/clinic/bookings",
        summary="Book for a customer (a phone booking): held and booked in one go",
        tag=CLINIC_TAG,
        clinic_auth=True,
        body=PhoneBookingIn,
        parameters=[IDEMPOTENCY_KEY],
        errors=(404, 409, 422),
        description=f"{ANY_ROLE} The customer's slot rules (hours, grid, notice; 409 `slot_taken`) and screening "
        "(422 `screening_required` with the questions, unless answered within the year; 422 `screening_red_flag` "
        "with the advice, and nothing is booked). `payment: at_clinic`: confirmed now, nothing charged; the "
        "customer gets the confirmation email (saying to pay at the clinic) and the clinic the `booking.created` "
        f"webhook. `payment: online`: awaiting payment for up to {PHONE_HOURS} hours (never past its start); the "
        "customer is emailed a link to pay (`payment.pay_url`, their manage link), and once paid gets the "
        "confirmation email and the clinic the `booking.created` webhook; unpaid, it lapses and its time is free. "
        "Online, the treatment's payment policy says what the card pays now (`payment.amount_due`: a deposit, or 0 "
        "when the card is only saved) and what is left to pay at the clinic (`payment.due_at_clinic`).",
        responses={201: json_response("Booked", PHONE_BOOKED)},
    ),
    operation(
        "POST",
        "/api/v1/clinic/bookings/{id}/cancel",
        summary="Cancel a booking for the customer, with a full refund, whatever the change window",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[BOOKING_ID],
        body=ClinicCancelIn,
        errors=(404, 409),
        description=f"{ANY_ROLE} Only a confirmed booking (409 `invalid_transition` naming its status). What was "
        "paid by card is refunded and a voucher's part given back to the voucher; the customer gets the "
        "cancellation email and the clinic the `booking.cancelled` webhook (`cancelled_by: clinic`, `refund: full`). "
        "The reason is kept on the booking.",
        responses={200: json_response("Cancelled", ACTED_ON)},
    ),
    operation(
        "POST",
        "/api/v1/clinic/bookings/{id}/reschedule",
        summary="Move a booking for the customer, whatever the change window",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[BOOKING_ID],
        body=ClinicRescheduleIn,
        errors=(404, 409, 422),
        description=f"{ANY_ROLE} Only a confirmed booking (409 `invalid_transition`); the slot rules of a customer's "
        "move (422 for a time off the grid or outside hours, 409 `slot_taken`). Not counted as the customer's "
        "own move. The customer gets the rescheduled email and the clinic the `booking.rescheduled` webhook "
        "(`rescheduled_by: clinic`).",
        responses={200: json_response("Moved", ACTED_ON)},
    ),
    operation(
        "GET",
        "/api/v1/bookings/{id}/payment",
        summary="What is left to pay by card for a booking awaiting its payment, from its manage link",
        tag=TAG,
        parameters=[BOOKING_ID, query_param("token", STRING, "The signed token of the booking's manage link")],
        errors=(403, 404, 409),
        description="For the manage page to take the payment of a booking awaiting it (a phone booking paid "
        "online): the card payment made when it was booked, with its client secret for Stripe.js. 409 "
        "`nothing_to_pay` for a booking in any other state (paid, at the clinic, lapsed, cancelled). Under the "
        "treatment's payment policy: `amount_due` is what the card pays now (a deposit; 0 when the card is only "
        "saved, `payment.setup`, by a SetupIntent) and `due_at_clinic` what is left to pay at the clinic.",
        responses={200: json_response("The payment due", PAYMENT_DUE)},
    ),
)
