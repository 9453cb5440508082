"""Request bodies of the booking API (validated with pydantic; the same models will feed the OpenAPI spec)."""
from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from services.booking import api_keys


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)


class HoldIn(_Strict):
    """Hold one treatment slot, or every session of a course (planned from `start`, or exactly `starts`)."""
    clinic: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    treatment: uuid.UUID | None = None
    course: uuid.UUID | None = None
    therapist: uuid.UUID
    start: AwareDatetime | None = None
    starts: list[AwareDatetime] | None = Field(default=None, min_length=1, max_length=12)

    @model_validator(mode="after")
    def one_kind(self) -> "HoldIn":
        if (self.treatment is None) == (self.course is None):
            raise ValueError("give either a treatment or a course")
        if self.treatment is not None and (self.start is None or self.starts is not None):
            raise ValueError("a treatment hold needs `start` (and no `starts`)")
        return self


class ScreeningIn(_Strict):
    answers: dict[str, bool]


class BookingIn(_Strict):
    hold: uuid.UUID
    customer: CustomerIn
    screening: ScreeningIn | None = None
    voucher_code: str | None = Field(default=None, max_length=40)
    # False: pay by voucher only; if it does not cover the booking, answer 402 instead of charging a card.
    pay_rest_by_card: bool = True


class ManageIn(_Strict):
    token: str | None = Field(default=None, max_length=200)


class RescheduleIn(ManageIn):
    start: AwareDatetime
    therapist: uuid.UUID | None = None


class ApiKeyIn(_Strict):
    """A new clinic API key; the name says what uses it (e.g. "practice software")."""
    name: str = Field(default="", max_length=100)


class RotateKeyIn(_Strict):
    """Rotate a key: the old one keeps working for `grace_hours` (0 to stop it at once)."""
    grace_hours: int = Field(default=api_keys.ROTATION_GRACE_HOURS, ge=0, le=api_keys.MAX_ROTATION_GRACE_HOURS)


class SignInIn(_Strict):
    """Dashboard sign-in, as the gateway passes it on."""
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)
