"""Request bodies of the payments API."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BookingPaymentIn(_Strict):
    """Internal: how the booking service asks for a booking's payment."""
    booking_id: uuid.UUID
    clinic_id: uuid.UUID
    amount: int
    currency: str = Field(min_length=3, max_length=3)
    customer_email: str = Field(min_length=3, max_length=254)
    treatment_id: uuid.UUID
    sessions: int = Field(ge=1, le=12)
    voucher_code: str | None = Field(default=None, max_length=40)
    pay_rest_by_card: bool = True


class Person(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Money(_Strict):
    amount: int
    currency: str = Field(min_length=3, max_length=3)


CLINIC_SLUG = r"^[a-z0-9][a-z0-9-]*$"


class VoucherPurchaseIn(_Strict):
    clinic: str = Field(min_length=1, max_length=100, pattern=CLINIC_SLUG)
    kind: Literal["amount", "treatment", "course"]
    amount: Money | None = None
    treatment: uuid.UUID | None = None
    course: uuid.UUID | None = None
    buyer: Person
    recipient: Person
    message: str = Field(default="", max_length=1000)
    deliver_on: date

    @model_validator(mode="after")
    def matches_kind(self) -> "VoucherPurchaseIn":
        wanted = {"amount": self.amount, "treatment": self.treatment, "course": self.course}
        if wanted[self.kind] is None:
            raise ValueError(f"a {self.kind} voucher needs `{self.kind}`")
        if any(v is not None for k, v in wanted.items() if k != self.kind):
            raise ValueError(f"a {self.kind} voucher takes only `{self.kind}`")
        return self


class BalanceIn(_Strict):
    code: str = Field(min_length=1, max_length=40)
