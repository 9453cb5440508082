"""The payments service's public operations, for the gateway's OpenAPI document (see shared/openapi.py)."""

from __future__ import annotations

from services.payments.clinic_fees import DEFAULT_LIMIT, FEES_PATH, MAX_LIMIT
from services.payments.clinic_vouchers import FORMATS, REPORT_PATH, VOUCHER_PATH
from services.payments.routes import ReactivateIn
from services.payments.schemas import BalanceIn, FeePayIn, GiftDeliveryChangeIn, VoucherPurchaseIn
from services.payments.voucher_report import COLUMNS
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
        "stripe_setup_intent": {
            **NULLABLE_STR,
            "description": "a card saved with nothing to pay now: the SetupIntent Stripe.js confirms",
        },
        "client_secret": {
            **NULLABLE_STR,
            "description": "for Stripe.js to confirm the card payment (or, `setup` true, the card setup)",
        },
        "setup": {"type": "boolean", "description": "true: nothing to pay now, the card is only saved"},
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
FIGURE = {
    "type": "object",
    "required": ["count", "amount"],
    "properties": {"count": {"type": "integer"}, "amount": {"type": "integer", "description": "minor units"}},
}
FIGURES = {column: FIGURE for column in COLUMNS}
VOUCHER_REPORT = {
    "type": "object",
    "required": ["month", "timezone", "from", "to", "currency", "rows", "totals"],
    "properties": {
        "month": {"type": "string", "examples": ["2026-07"]},
        "timezone": {"type": "string"},
        "from": DATETIME,
        "to": DATETIME,
        "currency": {"type": "string"},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["vat_class", "kind", *COLUMNS],
                "properties": {
                    "vat_class": {"enum": ["single_purpose", "multi_purpose"]},
                    "kind": {"enum": ["treatment", "course", "amount"]},
                    **FIGURES,
                },
            },
        },
        "totals": {"type": "object", "required": list(COLUMNS), "properties": FIGURES},
    },
}
LEDGER_ENTRY = {
    "type": "object",
    "required": ["id", "entry", "units", "balance_after", "reference_id", "actor", "note", "at"],
    "properties": {
        "id": {"type": "integer"},
        "entry": {"enum": ["issue", "redeem", "release", "refund", "expire", "adjust"]},
        "units": {"type": "integer", "description": "signed, in the voucher's unit (pence or sessions)"},
        "balance_after": {"type": "integer"},
        "reference_id": {"type": ["string", "null"], "description": "the booking (or series) concerned"},
        "actor": {"type": "string"},
        "note": {"type": "string"},
        "at": DATETIME,
    },
}
CLINIC_VOUCHER = {
    "allOf": [
        VOUCHER,
        {
            "type": "object",
            "required": ["buyer", "recipient", "issued_at", "ledger", "delivery_changes"],
            "properties": {
                "buyer": PERSON,
                "recipient": PERSON,
                "issued_at": {"type": ["string", "null"], "format": "date-time"},
                "ledger": {"type": "array", "items": LEDGER_ENTRY},
                "delivery_changes": {"type": "array", "items": {"type": "object"}},
            },
        },
    ]
}
FEE_TAG = "Fees"
FEE_ID = path_param("id", {"type": "string"}, "The fee's id (a uuid)")
FEE = {
    "type": "object",
    "required": ["id", "kind", "amount", "status", "booking_id", "clinic_id", "created_at", "failure"],
    "properties": {
        "id": UUID,
        "kind": {"enum": ["no_show", "late_cancellation"]},
        "amount": MONEY,
        "status": {
            "enum": ["charged", "failed", "paid"],
            "description": "charged to the saved card; failed (to be paid from this link); paid from this link",
        },
        "booking_id": UUID,
        "clinic_id": UUID,
        "created_at": DATETIME,
        "failure": {**NULLABLE_STR, "description": "why the charge to the saved card did not go through"},
    },
}
FEE_PAYMENT = {
    "type": "object",
    "required": ["client_secret", "stripe_payment_intent", "amount", "status"],
    "properties": {
        "client_secret": {"type": "string", "description": "for Stripe.js to confirm the card payment"},
        "stripe_payment_intent": {"type": "string"},
        "amount": MONEY,
        "status": {"enum": ["requires_payment", "processing"]},
    },
}
CLINIC_FEE = {
    "type": "object",
    "required": ["id", "booking_id", "kind", "amount", "status", "failure", "created_at", "via"],
    "properties": {
        "id": UUID,
        "booking_id": UUID,
        "kind": {"enum": ["no_show", "late_cancellation"]},
        "amount": MONEY,
        "status": {
            "enum": ["pending", "charged", "failed", "paid"],
            "description": "pending: being charged; charged: to the saved card, off session; failed: the saved card "
            "was not charged (the customer is emailed a link to pay it); paid: by the customer, from that link",
        },
        "failure": {**NULLABLE_STR, "description": "why the charge to the saved card did not go through"},
        "created_at": DATETIME,
        "via": {
            "enum": ["off_session", "pay_link", None],
            "description": "how it was paid: charged to the saved card, or from the pay link; null while unpaid",
        },
    },
}
SETUP_STATUS = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"enum": ["requires_payment", "processing", "succeeded", "failed", "canceled"]}},
}
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
        parameters=[
            query_param("clinic", {"type": "string"}, "A clinic's slug: its own limits (the defaults without)")
        ],
        errors=(404, 503),
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
        "POST",
        "/api/v1/stripe/setup-intents/{id}/refresh",
        summary="Ask Stripe about a booking's card setup and apply what it says",
        tag="Stripe",
        description="For the pay page, right after Stripe.js confirmed a card-saving SetupIntent (a booking with "
        "nothing to pay now): its success confirms the booking as a payment would.",
        parameters=[path_param("id", {"type": "string"}, "The SetupIntent's id (`seti_…`)")],
        errors=(404, 503),
        responses={200: json_response("The booking payment's status now", SETUP_STATUS)},
    ),
    operation(
        "GET",
        "/api/v1/fees/{id}",
        summary="A no-show or late-cancellation fee, from its pay link",
        tag=FEE_TAG,
        parameters=[FEE_ID, query_param("token", description="the token the email's pay link carries", required=True)],
        errors=(404,),
        responses={200: json_response("The fee", FEE)},
    ),
    operation(
        "POST",
        "/api/v1/fees/{id}/pay",
        summary="Pay a fee the saved card could not be charged (answers the card payment to confirm)",
        tag=FEE_TAG,
        parameters=[FEE_ID],
        body=FeePayIn,
        errors=(404, 409, 503),
        description="Created once; a failed or canceled payment is replaced by a new one. 409 `fee_already_paid` "
        "once the fee is charged or paid.",
        responses={200: json_response("The card payment to confirm", FEE_PAYMENT)},
    ),
    operation(
        "GET",
        FEES_PATH,
        summary="The bookings' no-show and late-cancellation fees and what became of them",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[
            query_param("booking", UUID, "Only this booking's fees"),
            query_param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                "At most this many fees",
            ),
        ],
        description="Owner and staff. Newest first. Charged off session to the booking's saved card, or declined "
        "(`failed`, with why: the customer is emailed a link to pay it), then paid from that link. Another clinic's "
        "fees are never listed.",
        responses={
            200: json_response(
                "The fees",
                {
                    "type": "object",
                    "required": ["fees"],
                    "properties": {"fees": {"type": "array", "items": CLINIC_FEE}},
                },
            )
        },
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
    operation(
        "GET",
        REPORT_PATH,
        summary="Voucher sales and redemptions in a month, by VAT class (JSON or CSV)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[
            query_param(
                "month",
                {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "examples": ["2026-07"]},
                "The month, on the clinic's wall clock; this month by default",
            ),
            query_param("format", {"enum": list(FORMATS)}, "`csv` for a CSV download (or send `Accept: text/csv`)"),
        ],
        errors=(503,),
        description="Owner and staff. From the voucher ledger, month boundaries at midnight in the clinic's time "
        "zone. A row per VAT class and kind (single-purpose: treatment and course vouchers, taxed when sold; "
        "multi-purpose: money vouchers, taxed when redeemed), each column a count of ledger entries and their "
        "amount in minor units: `sold` (issued, at the price paid), `redeemed` (taken by bookings), `returned` "
        "(given back when a booking was let go or cancelled), `expired` (what expiry took), `reactivated` (given "
        "back by the clinic). A session is valued at the voucher's price per session. The CSV has a header row, the "
        "same rows and a `total` row, amounts in pounds, and comes as an attachment `vouchers-YYYY-MM.csv`.",
        responses={
            200: {
                "description": "The report",
                "content": {
                    "application/json": {"schema": VOUCHER_REPORT},
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        },
    ),
    operation(
        "GET",
        VOUCHER_PATH,
        summary="One voucher with its ledger",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[VOUCHER_ID],
        errors=(404,),
        description="Owner and staff. Every ledger entry with the balance it left, and the buyer's changes to "
        "where and when the gift goes. Another clinic's voucher is not found.",
        responses={200: json_response("The voucher", CLINIC_VOUCHER)},
    ),
)
