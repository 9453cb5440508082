"""Request bodies of the payments API."""
from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field


class BookingPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    booking_id: uuid.UUID
    clinic_id: uuid.UUID
    amount: int
    currency: str = Field(min_length=3, max_length=3)
    customer_email: str = Field(min_length=3, max_length=254)
