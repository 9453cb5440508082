"""Request bodies of the booking API (validated with pydantic; the same models will feed the OpenAPI spec)."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from services.booking import api_keys, clinic_settings, payment_policy, privacy_rules
from services.booking.domain import Customer
from shared.input import Instant, StrictModel
from shared.origins import EXAMPLE, MAX_ORIGIN_LENGTH, canonical_origin, origin_problem

# How many websites a clinic may let frame its booking pages (migration 0005's CHECK says the same).
MAX_EMBED_ORIGINS = 10


class CustomerIn(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)
    date_of_birth: str | None = Field(
        default=None,
        max_length=10,
        examples=["1990-04-23"],
        description="Optional, YYYY-MM-DD: in the past, at most 120 years ago (else 422 `invalid_date_of_birth`). "
        "Kept only to keep a child's health screening as long as clinical records must be kept "
        "(docs/privacy.md); never sent in emails or webhooks",
    )

    def customer(self, today: date) -> Customer:
        """The customer, their date of birth checked (privacy_rules.date_of_birth)."""
        born = privacy_rules.date_of_birth(self.date_of_birth, today) if self.date_of_birth is not None else None
        return Customer(self.name, self.email, self.phone, born)


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


def _origin(text: str) -> str:
    if (problem := origin_problem(text)) is not None:
        raise PydanticCustomError("origin_not_allowed", problem)
    return canonical_origin(text)


def _distinct(origins: list[str]) -> list[str]:
    return list(dict.fromkeys(origins))


EmbedOrigin = Annotated[str, Field(max_length=MAX_ORIGIN_LENGTH, examples=[EXAMPLE]), AfterValidator(_origin)]
# Counted as sent, before repeats are dropped (as the schema says).
EmbedOrigins = Annotated[list[EmbedOrigin], Field(max_length=MAX_EMBED_ORIGINS), AfterValidator(_distinct)]


def _zone(name: str) -> str:
    if (problem := clinic_settings.zone_problem(name)) is not None:
        raise PydanticCustomError("time_zone_unknown", problem)
    return name


def _email_or_blank(email: str) -> str:
    if email and re.fullmatch(clinic_settings.EMAIL_PATTERN, email) is None:
        raise PydanticCustomError("email_invalid", "must be an email address, like hello@example.com")
    return email


def _phone_or_blank(phone: str) -> str:
    if phone and (problem := clinic_settings.phone_problem(phone)) is not None:
        raise PydanticCustomError("phone_invalid", problem)
    return phone


def _setting(name: str, description: str, **constraints: Any) -> Any:
    """A whole-number setting's field, within clinic_settings.BOUNDS (the database's CHECKs say the same)."""
    least, most = clinic_settings.BOUNDS[name]
    return Field(default=None, ge=least, le=most, description=f"{description} ({least} to {most})", **constraints)


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64, examples=["Europe/London"]), AfterValidator(_zone)]
ReminderOffset = Annotated[
    int, Field(ge=clinic_settings.REMINDER_OFFSET_BOUNDS[0], le=clinic_settings.REMINDER_OFFSET_BOUNDS[1])
]
# Counted as sent, then each kept once, the earliest reminder first.
ReminderOffsets = Annotated[
    list[ReminderOffset],
    Field(min_length=1, max_length=clinic_settings.MAX_REMINDERS, examples=[[1440, 120]]),
    AfterValidator(clinic_settings.reminder_offsets),
]
ContactEmail = Annotated[str, Field(max_length=clinic_settings.EMAIL_MAX_LENGTH), AfterValidator(_email_or_blank)]
ContactPhone = Annotated[str, Field(max_length=clinic_settings.PHONE_MAX_LENGTH), AfterValidator(_phone_or_blank)]


class ClinicSettingsPatch(StrictModel):
    """Change some of the clinic's settings; a field left out (or null) keeps its value, and an empty
    `email`, `phone` or `address` clears it. Every field is checked before anything changes."""

    multiline: ClassVar[frozenset[str]] = frozenset({"policy_message", "address"})

    embed_origins: EmbedOrigins | None = Field(
        default=None,
        description="The clinic's own websites that may show the booking pages in a frame (the embed snippet), "
        "as origins: `https://host` or `https://host:port`, no path. `[]` allows none.",
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=clinic_settings.NAME_MAX_LENGTH, description="The clinic's name"
    )
    timezone: TimeZoneName | None = Field(
        default=None,
        description="The IANA time zone of the clinic's wall clock (hours, breaks, what customers see)",
    )
    booking_horizon_days: int | None = _setting("booking_horizon_days", "How many days ahead customers may book")
    min_notice_minutes: int | None = _setting(
        "min_notice_minutes", "How long before a visit online booking closes (shorter than the horizon)"
    )
    slot_step_minutes: int | None = _setting(
        "slot_step_minutes",
        "The grid appointments start on, in minutes",
        multiple_of=clinic_settings.SLOT_STEP_MULTIPLE,
    )
    hold_minutes: int | None = _setting("hold_minutes", "How long a chosen time is held while the customer books")
    change_window_hours: int | None = _setting(
        "change_window_hours", "Until how many hours before a visit customers may cancel or move it online"
    )
    reminder_offsets_minutes: ReminderOffsets | None = Field(
        default=None,
        description="When reminder emails go, in minutes before the visit: 1 to "
        f"{clinic_settings.MAX_REMINDERS} of them, each {clinic_settings.REMINDER_OFFSET_BOUNDS[0]} to "
        f"{clinic_settings.REMINDER_OFFSET_BOUNDS[1]}; repeats are dropped. Bookings made after a change get them.",
    )
    policy_message: str | None = Field(
        default=None,
        min_length=1,
        max_length=clinic_settings.POLICY_MESSAGE_MAX_LENGTH,
        description="The cancellation policy as customers read it (shown when a change is refused)",
    )
    voucher_validity_months: int | None = _setting(
        "voucher_validity_months", "How long a gift voucher sold from now on stays valid, in months"
    )
    voucher_min_amount: int | None = _setting(
        "voucher_min_amount", "The least a gift voucher of money may be worth, in minor units (pence)"
    )
    voucher_max_amount: int | None = _setting(
        "voucher_max_amount", "The most a gift voucher of money may be worth, in minor units (pence)"
    )
    address: str | None = Field(
        default=None, max_length=clinic_settings.ADDRESS_MAX_LENGTH, description='The clinic\'s address; `""` clears it'
    )
    email: ContactEmail | None = Field(default=None, description='The clinic\'s contact email; `""` clears it')
    phone: ContactPhone | None = Field(default=None, description='The clinic\'s contact phone; `""` clears it')
    waitlist_offer_minutes: int | None = _setting(
        "waitlist_offer_minutes", "How long a time offered from the waitlist is held for the person offered it"
    )
    # Checked whole by payment_policy.parse (422 `invalid_payment_policy`, with a sentence), not here.
    payment_policy: Any = Field(
        default=None,
        description='How bookings are paid for, unless a treatment has its own policy: `{"mode": "full"}` '
        "(all when booking), a deposit when booking (a percent of the price, 1 to 99, or an amount in the "
        'clinic\'s currency, at most the price) and the rest at the clinic, or `{"mode": "card"}` (the card '
        "saved only, all paid at the clinic); any of them with a `no_show_fee` and a `late_cancellation_fee` (a "
        "percent, 1 to 100, or an amount), charged to the card saved when booking",
        json_schema_extra={"anyOf": [payment_policy.SCHEMA, {"type": "null"}]},
    )


class PrivacySubjectIn(StrictModel):
    """The customer a data export is for, by email (in the body: never in a URL, so never in an access log)."""

    email: str = Field(
        min_length=1,
        max_length=320,
        description="The customer's email (case and surrounding spaces do not matter; 422 `invalid_email` if it is "
        "not one)",
    )


class PrivacyEraseIn(PrivacySubjectIn):
    """Erase a customer's data at this clinic, or (dry run) say what would be erased and kept, and what stops it."""

    dry_run: bool = Field(default=False, description="true: change nothing, answer what would happen")
