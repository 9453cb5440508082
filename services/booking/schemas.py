"""Request bodies of the booking API (validated with pydantic; the same models feed the OpenAPI spec)."""
from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)


class BookingIn(BaseModel):
    """Skeleton booking: picks treatment, therapist and start directly (holds arrive with the booking issue)."""
    model_config = ConfigDict(extra="forbid")
    clinic: str = Field(min_length=1, max_length=100)
    treatment: uuid.UUID
    therapist: uuid.UUID
    start: AwareDatetime
    customer: CustomerIn
