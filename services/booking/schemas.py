"""Request bodies of the booking API (validated with pydantic; the same models will feed the OpenAPI spec)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from services.booking import api_keys
from shared.input import Instant, StrictModel
from shared.origins import EXAMPLE, MAX_ORIGIN_LENGTH, canonical_origin, origin_problem

# How many websites a clinic may let frame its booking pages (migration 0005's CHECK says the same).
MAX_EMBED_ORIGINS = 10


class CustomerIn(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)


class HoldIn(StrictModel):
    """Hold one treatment slot, or every session of a course (planned from `start`, or exactly `starts`)."""

    clinic: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
    treatment: uuid.UUID | None = None
    course: uuid.UUID | None = None
    therapist: uuid.UUID
    start: Instant | None = None
    starts: list[Instant] | None = Field(default=None, min_length=1, max_length=12)

    @model_validator(mode="after")
    def one_kind(self) -> "HoldIn":
        if (self.treatment is None) == (self.course is None):
            raise ValueError("give either a treatment or a course")
        if self.treatment is not None and (self.start is None or self.starts is not None):
            raise ValueError("a treatment hold needs `start` (and no `starts`)")
        return self


class ScreeningIn(StrictModel):
    answers: dict[str, bool]


class BookingIn(StrictModel):
    hold: uuid.UUID
    customer: CustomerIn
    screening: ScreeningIn | None = None
    voucher_code: str | None = Field(default=None, max_length=40)
    # False: pay by voucher only; if it does not cover the booking, answer 402 instead of charging a card.
    pay_rest_by_card: bool = True


class ManageIn(StrictModel):
    token: str | None = Field(default=None, max_length=200)


class RescheduleIn(ManageIn):
    start: Instant
    therapist: uuid.UUID | None = None


class ApiKeyIn(StrictModel):
    """A new clinic API key; the name says what uses it (e.g. "practice software")."""

    name: str = Field(default="", max_length=100)


class ApiKeyCheckIn(StrictModel):
    """Internal (the gateway): a key to look up."""

    key: str = Field(min_length=1, max_length=200)


class RotateKeyIn(StrictModel):
    """Rotate a key: the old one keeps working for `grace_hours` (0 to stop it at once)."""

    grace_hours: int = Field(default=api_keys.ROTATION_GRACE_HOURS, ge=0, le=api_keys.MAX_ROTATION_GRACE_HOURS)


class SignInIn(StrictModel):
    """Dashboard sign-in, as the gateway passes it on."""

    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


def _origin(text: str) -> str:
    if (problem := origin_problem(text)) is not None:
        raise PydanticCustomError("origin_not_allowed", problem)
    return canonical_origin(text)


def _distinct(origins: list[str]) -> list[str]:
    return list(dict.fromkeys(origins))


EmbedOrigin = Annotated[str, Field(max_length=MAX_ORIGIN_LENGTH, examples=[EXAMPLE]), AfterValidator(_origin)]
# Counted as sent, before repeats are dropped (as the schema says).
EmbedOrigins = Annotated[list[EmbedOrigin], Field(max_length=MAX_EMBED_ORIGINS), AfterValidator(_distinct)]


class ClinicSettingsPatch(StrictModel):
    """Change some of the clinic's settings; a field left out (or null) keeps its value."""

    embed_origins: EmbedOrigins | None = Field(
        default=None,
        description="The clinic's own websites that may show the booking pages in a frame (the embed snippet), "
        "as origins: `https://host` or `https://host:port`, no path. `[]` allows none.",
    )
