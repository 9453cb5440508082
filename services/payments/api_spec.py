"""The payments service's public operations, for the gateway's OpenAPI document (see shared/openapi.py)."""

from __future__ import annotations

from services.payments.routes import ReactivateIn
from services.payments.schemas import BalanceIn, GiftDeliveryChangeIn, VoucherPurchaseIn
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

TAG = "Vouchers"
CLINIC_TAG = "Clinic API"
NULLABLE_STR = {"type": ["string", "null"]}
REMAINING = {
    "description": "money left, or sessions left for a course voucher",
    "oneOf": [MONEY, {"type": "object", "required": ["sessions"], "properties": {"sessions": {"type": "integer"}}}],
}
VOUCHER = {
    "type": "object",
    "required": ["id", "kind", "title", "status", "remaining", "code_hint", "expires_at", "deliver_on", "price"],
    "properties": {
        "id": UUID,
        "kind": {"enum": ["amount", "treatment", "course"]},
        "title": {"type": "string"},
        "status": {"type": "string"},
        "vat_class": NULLABLE_STR,
        "remaining": REMAINING,
        "code_hint": {**NULLABLE_STR, "description": "only the code's last characters"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "deliver_on": DATE,
        "price": MONEY,
    },
}
PERSON = {
    "type": "object",
    "required": ["name", "email"],
    "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
}
PAYMENT = {
    "type": "object",
    "required": ["id", "status", "amount", "currency", "client_secret", "covered"],
    "properties": {
        "id": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "amount": {"type": "integer"},
        "currency": NULLABLE_STR,
        "stripe_payment_intent": NULLABLE_STR,
        "client_secret": {**NULLABLE_STR, "description": "for Stripe.js to confirm the card payment"},
        "covered": {"type": "boolean"},
        "voucher": {"type": ["object", "null"]},
    },
}
MINOR_UNITS = {"type": "integer", "description": "minor units of `currency`"}
OPTIONS = {
    "type": "object",
    "required": ["amount", "message_max_length", "deliver_within_days"],
    "properties": {
        "amount": {
            "type": "object",
            "required": ["currency", "min", "max", "presets"],
            "properties": {
                "currency": {"type": "string"},
                "min": MINOR_UNITS,
                "max": MINOR_UNITS,
                "presets": {"type": "array", "items": MINOR_UNITS},
            },
        },
        "message_max_length": {"type": "integer"},
        "deliver_within_days": {"type": "integer", "description": "the latest delivery date, in days from today"},
    },
}
HELD_VOUCHER = {
    "type": "object",
    "required": [
        "voucher_id",
        "title",
        "kind",
        "status",
        "code",
        "remaining",
        "recipient",
        "buyer_name",
        "message",
        "deliver_on",
        "expires_at",
        "clinic",
        "clinic_name",
    ],
    "properties": {
        "voucher_id": UUID,
        "clinic_id": UUID,
        "title": {"type": "string"},
        "kind": {"enum": ["amount", "treatment", "course"]},
        "status": {"type": "string"},
        "code": {"type": "string"},
        "remaining": REMAINING,
        "recipient": PERSON,
        "buyer_name": {"type": "string"},
        "message": {"type": "string"},
        "deliver_on": DATE,
        "expires_at": DATETIME,
        "clinic": {"type": "string"},
        "clinic_name": {"type": "string"},
    },
}
GIFT = {
    "type": "object",
    "required": ["voucher_id", "title", "clinic", "clinic_name", "recipient", "deliver_on", "changeable"],
    "properties": {
        "voucher_id": UUID,
        "title": {"type": "string"},
        "clinic": {"type": "string"},
        "clinic_name": {"type": "string"},
        "recipient": PERSON,
        "deliver_on": DATE,
        "changeable": {"type": "boolean", "description": "false once the gift has been sent"},
    },
}
VOUCHER_ID = path_param("id", {"type": "string"}, "The voucher's id (a uuid)")
STRIPE_ACK = {
    "type": "object",
    "required": ["received", "duplicate"],
    "properties": {"received": {"const": True}, "duplicate": {"type": "boolean"}},
}

OPERATIONS: tuple[Operation, ...] = (
    operation(
        "POST",
        "/api/v1/vouchers",
        summary="Buy a gift voucher (answers the card payment to confirm)",
        tag=TAG,
        body=VoucherPurchaseIn,
        parameters=[IDEMPOTENCY_KEY],
        errors=(404, 409),
        responses={
            201: json_response(
                "Awaiting payment; issued when the payment succeeds",
                {
                    "allOf": [
                        VOUCHER,
                        {
                            "type": "object",
                            "required": ["clinic", "payment"],
                            "properties": {"clinic": {"type": "string"}, "payment": PAYMENT},
                        },
                    ]
                },
            )
        },
    ),
    operation(
        "GET",
        "/api/v1/vouchers/options",
        summary="What a voucher shop may offer: amount limits and presets",
        tag=TAG,
        responses={200: json_response("The options", OPTIONS)},
    ),
    operation(
        "GET",
        "/api/v1/vouchers/{id}",
        summary="A voucher, code included, from its gift email's link",
        tag=TAG,
        parameters=[
            VOUCHER_ID,
            query_param("token", description="the token the gift email's links carry", required=True),
        ],
        errors=(404,),
        responses={200: json_response("The voucher as its recipient holds it", HELD_VOUCHER)},
    ),
    operation(
        "GET",
        "/api/v1/vouchers/{id}/delivery",
        summary="Whom and when a gift goes, from its receipt's link",
        tag=TAG,
        parameters=[
            VOUCHER_ID,
            query_param("token", description="the token the receipt's link carries", required=True),
        ],
        errors=(404,),
        responses={200: json_response("The gift's delivery", GIFT)},
    ),
    operation(
        "PATCH",
        "/api/v1/vouchers/{id}/delivery",
        summary="Change a gift's recipient email or delivery day before it is sent (audited)",
        tag=TAG,
        parameters=[VOUCHER_ID],
        body=GiftDeliveryChangeIn,
        errors=(404, 409),
        responses={200: json_response("The gift's delivery, changed", GIFT)},
    ),
    operation(
        "POST",
        "/api/v1/vouchers/balance",
        summary="A voucher's balance and expiry (rate-limited)",
        tag=TAG,
        body=BalanceIn,
        errors=(404,),
        responses={
            200: json_response(
                "The voucher",
                {
                    "allOf": [
                        VOUCHER,
                        {
                            "type": "object",
                            "required": ["clinic", "clinic_name"],
                            "properties": {
                                "clinic": {"type": "string", "description": "the clinic's slug"},
                                "clinic_name": {"type": "string"},
                            },
                        },
                    ]
                },
            )
        },
    ),
    operation(
        "POST",
        "/api/v1/stripe/webhook",
        summary="Stripe's event webhook (signature-checked)",
        tag="Stripe",
        description="For Stripe only: the raw body must carry a valid `Stripe-Signature`.",
        parameters=[{"name": "Stripe-Signature", "in": "header", "required": True, "schema": {"type": "string"}}],
        raw_body={"type": "object", "description": "a Stripe event"},
        errors=(400, 413),
        responses={200: json_response("Received (or a duplicate of an event already received)", STRIPE_ACK)},
    ),
    operation(
        "GET",
        "/api/v1/clinic/vouchers",
        summary="The clinic's vouchers and balances",
        tag=CLINIC_TAG,
        clinic_auth=True,
        responses={
            200: json_response(
                "Vouchers",
                {
                    "type": "object",
                    "required": ["vouchers"],
                    "properties": {
                        "vouchers": {
                            "type": "array",
                            "items": {
                                "allOf": [
                                    VOUCHER,
                                    {
                                        "type": "object",
                                        "required": ["buyer", "recipient"],
                                        "properties": {"buyer": PERSON, "recipient": PERSON},
                                    },
                                ]
                            },
                        }
                    },
                },
            )
        },
    ),
    operation(
        "POST",
        "/api/v1/clinic/vouchers/{id}/reactivate",
        summary="Bring an expired voucher back (audited)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        body=ReactivateIn,
        errors=(404, 409),
        parameters=[VOUCHER_ID],
        responses={200: json_response("Reactivated", VOUCHER)},
    ),
)
