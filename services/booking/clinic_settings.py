"""A clinic's own settings: what each may be, the rules between them, and how they are shown. Pure: no I/O.

Every bound here is also a CHECK of the clinics table (migrations 0001, 0005 and 0011), as strict or laxer
there, so that a value these rules let through is always stored and never meets the database's refusal
(a 500). What the database cannot judge alone (a rule between two settings that only matters when one of
them changes) is judged here only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping
from zoneinfo import available_timezones

from services.booking.domain import Clinic

# Whole-number settings: (least, most), both allowed. Notice and the change window go up to a year (notice
# shorter than the horizon too: see `conflicts`); amounts are minor units of the clinic's currency, a voucher
# never more than one card payment may be (services/payments/domain.py MAX_AMOUNT).
BOUNDS: dict[str, tuple[int, int]] = {
    "booking_horizon_days": (1, 730),
    "min_notice_minutes": (0, 365 * 24 * 60),
    "slot_step_minutes": (5, 240),
    "hold_minutes": (1, 60),
    "change_window_hours": (0, 365 * 24),
    "voucher_validity_months": (1, 120),
    "voucher_min_amount": (100, 500_000),
    "voucher_max_amount": (100, 500_000),
    "waitlist_offer_minutes": (5, 240),
}
# Appointments start on a grid of whole five minutes (10:00, 10:05, …): nobody books a 10:07.
SLOT_STEP_MULTIPLE = 5
# Reminder emails: 1 to 5 of them, each from 10 minutes to 14 days before the visit.
REMINDER_OFFSET_BOUNDS = (10, 14 * 24 * 60)
MAX_REMINDERS = 5
NAME_MAX_LENGTH = 200
POLICY_MESSAGE_MAX_LENGTH = 1000
ADDRESS_MAX_LENGTH = 500
EMAIL_MAX_LENGTH = 254
PHONE_MAX_LENGTH = 40
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Digits, spaces and the usual punctuation of a written phone number; a leading + for the country code.
_PHONE = re.compile(r"\+?[0-9 ().-]+")
PHONE_DIGITS = (6, 20)
# Zone names the IANA database lists but that name no place: the machine's own zone, and a placeholder.
_NOT_PLACES = frozenset({"localtime", "Factory"})
# The settings that may be cleared: an empty text stores none.
CLEARABLE = ("email", "phone", "address")
# Every setting, in the order the settings object lists them.
FIELDS = (
    "name",
    "timezone",
    "booking_horizon_days",
    "min_notice_minutes",
    "slot_step_minutes",
    "hold_minutes",
    "change_window_hours",
    "reminder_offsets_minutes",
    "policy_message",
    "voucher_validity_months",
    "voucher_min_amount",
    "voucher_max_amount",
    "address",
    "email",
    "phone",
    "embed_origins",
    "waitlist_offer_minutes",
)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_PLACES


def zone_problem(name: str) -> str | None:
    """Why `name` is not a time zone we accept (an IANA name such as Europe/London, spelt exactly), or None."""
    if name in _zones():
        return None
    return "must be an IANA time zone name, like Europe/London"


def phone_problem(phone: str) -> str | None:
    if len(phone) > PHONE_MAX_LENGTH or _PHONE.fullmatch(phone) is None:
        return "must be a phone number: digits, spaces, brackets, dots or dashes, and an optional leading +"
    digits = sum(ch.isdigit() for ch in phone)
    if not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
        return f"must have {PHONE_DIGITS[0]} to {PHONE_DIGITS[1]} digits"
    return None


def reminder_offsets(minutes: list[int]) -> list[int]:
    """The offsets as kept: each once, the earliest reminder first."""
    return sorted(set(minutes), reverse=True)


def changes_of(given: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a change writes, from the fields given (none of them null): an empty contact clears it."""
    return {name: (None if name in CLEARABLE and value == "" else value) for name, value in given.items()}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    type: str

    def detail(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "type": self.type}


def conflicts(current: Clinic, changes: Mapping[str, Any]) -> list[Problem]:
    """What a change would make inconsistent, judged on the settings it would leave (the change over the
    current ones); a rule is judged only when the change touches one of its settings, so that a clinic set
    up otherwise (by an operator) can still change anything else."""
    after = {**{name: getattr(current, name) for name in FIELDS}, **changes}
    problems = []
    amounts = ("voucher_min_amount", "voucher_max_amount")
    if any(name in changes for name in amounts) and after["voucher_min_amount"] > after["voucher_max_amount"]:
        field = "voucher_min_amount" if "voucher_min_amount" in changes else "voucher_max_amount"
        problems.append(
            Problem(
                field,
                f"the least a voucher may be worth ({after['voucher_min_amount']}) must not be more than the most "
                f"({after['voucher_max_amount']})",
                "voucher_amounts_crossed",
            )
        )
    window = ("min_notice_minutes", "booking_horizon_days")
    if any(name in changes for name in window) and after["min_notice_minutes"] >= after["booking_horizon_days"] * 1440:
        field = "min_notice_minutes" if "min_notice_minutes" in changes else "booking_horizon_days"
        problems.append(
            Problem(
                field,
                "the minimum notice must be shorter than the booking horizon, or nothing could be booked online",
                "notice_beyond_horizon",
            )
        )
    return problems


def settings_json(clinic: Clinic) -> dict[str, Any]:
    """The settings object: every setting, named as a change names it (GET, change, PATCH round-trips)."""
    shown: dict[str, Any] = {name: getattr(clinic, name) for name in FIELDS}
    shown["reminder_offsets_minutes"] = list(clinic.reminder_offsets_minutes)
    shown["embed_origins"] = list(clinic.embed_origins)
    return shown
