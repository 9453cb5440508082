"""Request bodies of the waitlist's API (validated with pydantic; the OpenAPI spec shows these very models). The
rules are waitlist_rules'."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from services.booking import waitlist_rules
from shared.input import StrictModel


def _weekdays(days: list[int]) -> list[int]:
    try:
        return list(waitlist_rules.weekdays(days))
    except waitlist_rules.WishInvalid as exc:
        raise PydanticCustomError("weekdays_invalid", exc.message) from None


def _times(times: list[str]) -> list[str]:
    try:
        return list(waitlist_rules.times_of_day(times))
    except waitlist_rules.WishInvalid as exc:
        raise PydanticCustomError("times_of_day_invalid", exc.message) from None


Weekdays = Annotated[
    list[Annotated[int, Field(ge=0, le=6)]],
    Field(max_length=7, examples=[[0, 4]]),
    AfterValidator(_weekdays),
]
TimesOfDay = Annotated[
    list[Annotated[str, Field(max_length=20)]],
    Field(max_length=3, examples=[["morning", "evening"]]),
    AfterValidator(_times),
]


class WaitlistCustomerIn(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class WaitlistIn(StrictModel):
    """Join a clinic's waitlist for a treatment: with one therapist or any giving it, on some weekdays and at some
    times of day (the clinic's wall time), or any."""

    clinic: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$", description="The clinic's slug")
    treatment: uuid.UUID
    therapist: uuid.UUID | None = Field(default=None, description="One therapist; left out or null: any")
    weekdays: Weekdays = Field(
        default_factory=list, description="0 = Monday … 6 = Sunday, each once; empty or left out: any day"
    )
    times_of_day: TimesOfDay = Field(
        default_factory=list,
        description="`morning` (starts before 12:00), `afternoon` (12:00 to 17:00), `evening` (from 17:00), in the "
        "clinic's wall time, each once; empty or left out: any time",
    )
    customer: WaitlistCustomerIn


class WaitlistLeaveIn(StrictModel):
    token: str = Field(min_length=1, max_length=200, description="The token of the leave link (`leave_url`)")
