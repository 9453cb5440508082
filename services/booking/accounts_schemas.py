"""Request bodies of the staff accounts' endpoints (pydantic; the same models feed the OpenAPI spec)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.booking import accounts, staff
from shared.input import StrictModel


class StaffSignInIn(StrictModel):
    """Sign in with the account's email and password: the answer's `token` is a Bearer credential."""

    email: str = Field(min_length=3, max_length=accounts.MAX_EMAIL_LENGTH)
    password: str = Field(min_length=1, max_length=200)


class SetPasswordIn(StrictModel):
    """The token of the emailed set-password link, and the new password."""

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(
        min_length=staff.MIN_PASSWORD_LENGTH,
        max_length=200,
        description=f"At least {staff.MIN_PASSWORD_LENGTH} characters; a few words you remember make a good one",
    )


class StaffInviteIn(StrictModel):
    """Invite someone: an account without a password, and an email with a link to set one (valid 72 hours)."""

    email: str = Field(min_length=3, max_length=accounts.MAX_EMAIL_LENGTH, pattern=accounts.EMAIL_PATTERN)
    name: str = Field(min_length=1, max_length=accounts.MAX_NAME_LENGTH, pattern=r"\S")
    role: Literal["owner", "staff"] = Field(
        description="`owner`: everything; `staff` (reception): the diary, bookings and vouchers"
    )
