"""Request bodies of the payments API."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field, model_validator

from services.payments.vouchers import MESSAGE_MAX_LENGTH
from shared.input import PG_INTEGER_MAX, Day, StrictModel


class BookingPaymentIn(StrictModel):
    """Internal: how the booking service asks for a booking's payment."""

    booking_id: uuid.UUID
    clinic_id: uuid.UUID
    amount: int = Field(ge=0, le=PG_INTEGER_MAX)
    currency: str = Field(min_length=3, max_length=3)
    customer_email: str = Field(min_length=3, max_length=254)
    treatment_id: uuid.UUID
    sessions: int = Field(ge=1, le=12)
    voucher_code: str | None = Field(default=None, max_length=40)
    # The customer's address (what the gateway forwarded to booking): a voucher code it gets wrong counts against
    # the same budget of misses as the balance check's. None: a caller with no customer (nothing limited).
    client: str | None = Field(default=None, min_length=1, max_length=100)
    pay_rest_by_card: bool = True
    # A deposit (issue 20): the card pays at most this now, after the voucher part; the rest is due at the clinic.
    # None: the card pays all the rest.
    card_at_most: int | None = Field(default=None, ge=0, le=PG_INTEGER_MAX)
    # Fees or the card saved only (issue 20): keep the card for charges off session (a SetupIntent when nothing is
    # paid by card now).
    save_card: bool = False


EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Person(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=EMAIL)


class Money(StrictModel):
    amount: int
    currency: str = Field(min_length=3, max_length=3)


CLINIC_SLUG = r"^[a-z0-9][a-z0-9-]*$"
MAX_SLUG_LENGTH = 100


class VoucherPurchaseIn(StrictModel):
    clinic: str = Field(min_length=1, max_length=100, pattern=CLINIC_SLUG)
    kind: Literal["amount", "treatment", "course"]
    amount: Money | None = None
    treatment: uuid.UUID | None = None
    course: uuid.UUID | None = None
    buyer: Person
    recipient: Person
    message: str = Field(default="", max_length=MESSAGE_MAX_LENGTH)
    deliver_on: Day
    multiline = frozenset({"message"})  # a gift message may have lines; names and emails may not

    @model_validator(mode="after")
    def matches_kind(self) -> "VoucherPurchaseIn":
        wanted = {"amount": self.amount, "treatment": self.treatment, "course": self.course}
        if wanted[self.kind] is None:
            raise ValueError(f"a {self.kind} voucher needs `{self.kind}`")
        if any(v is not None for k, v in wanted.items() if k != self.kind):
            raise ValueError(f"a {self.kind} voucher takes only `{self.kind}`")
        return self


class BalanceIn(StrictModel):
    code: str = Field(min_length=1, max_length=40)


class GiftDeliveryChangeIn(StrictModel):
    """The buyer's change to a gift not yet sent (the receipt's link carries `token`)."""

    token: str = Field(min_length=1, max_length=100)
    recipient_email: str | None = Field(default=None, min_length=3, max_length=254, pattern=EMAIL)
    deliver_on: Day | None = None


class FeePayIn(StrictModel):
    """The customer paying a fee from its pay link (the email's link carries `token`)."""

    token: str = Field(min_length=1, max_length=100)
