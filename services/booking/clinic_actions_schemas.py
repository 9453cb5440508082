"""Request bodies of the clinic's actions on behalf of its customers (validated with pydantic; the OpenAPI
spec shows these very models)."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import Field

from services.booking.domain import MAX_CANCEL_REASON
from services.booking.schemas import CustomerIn, ScreeningIn
from shared.input import Instant, StrictModel


class ClinicCancelIn(StrictModel):
    """Cancel on the customer's behalf, whatever the change window, with a full refund."""

    multiline: ClassVar[frozenset[str]] = frozenset({"reason"})

    reason: str = Field(
        min_length=1,
        max_length=MAX_CANCEL_REASON,
        description="Why (kept on the booking for the clinic; not sent to the customer or in webhooks)",
    )


class ClinicRescheduleIn(StrictModel):
    """Move the booking, whatever the change window, to `start` (with `therapist`, or the same one)."""

    start: Instant
    therapist: uuid.UUID | None = None


class PhoneBookingIn(StrictModel):
    """Book for a customer (a phone booking): held and booked in one go."""

    treatment: uuid.UUID
    therapist: uuid.UUID
    start: Instant
    customer: CustomerIn
    payment: Literal["online", "at_clinic"] = Field(
        description="`online`: the customer is emailed a link to pay by card, and the booking is confirmed when "
        "they do; `at_clinic`: confirmed now, paid at the clinic on the day (nothing charged here)"
    )
    screening: ScreeningIn | None = Field(
        default=None, description="The screening answers the customer gave on the phone (a red flag refuses, 422)"
    )
