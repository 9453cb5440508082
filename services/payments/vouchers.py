"""Gift voucher rules with no I/O: codes, what a purchase issues, and how a code pays for a booking."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.domain_errors import DomainError

# No 0/O, 1/I: a code read aloud or copied from paper survives. 32 symbols = 5 bits each.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 16  # 80 bits of entropy
GROUP = 4
MIN_AMOUNT, MAX_AMOUNT = 2500, 50000  # £25 to £500 for money vouchers
AMOUNT_PRESETS = (2500, 5000, 7500, 10000)  # what a shop offers first; any amount within the limits is fine
MESSAGE_MAX_LENGTH = 1000
VALIDITY_MONTHS = 24
MAX_DELIVERY_AHEAD = timedelta(days=365)
EXPIRY_NOTICE_BEFORE = timedelta(days=30)


class VoucherError(DomainError):
    """A purchase or redemption the voucher rules refuse."""


def generate_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def normalise(code: str) -> str | None:
    """The code as stored (upper case, no separators), or None if it cannot be one of ours."""
    cleaned = "".join(ch for ch in code.upper() if ch not in " -")
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def code_hash(key: str, normalised: str) -> bytes:
    return hmac.new(key.encode(), f"voucher:{normalised}".encode(), hashlib.sha256).digest()


def redact(normalised_or_last4: str) -> str:
    """How a code may appear in logs and to staff: its last four characters only."""
    return f"…{normalised_or_last4[-4:]}"


@dataclass(frozen=True)
class CatalogueItem:
    """A treatment or course as the booking service lists it."""

    id: uuid.UUID
    name: str
    price_amount: int
    currency: str
    sessions: int = 1
    treatment_id: uuid.UUID | None = None  # a course's treatment


@dataclass(frozen=True)
class VoucherSpec:
    kind: str
    vat_class: str
    unit: str
    title: str
    face_value: int
    price_amount: int
    currency: str
    treatment_id: uuid.UUID | None = None
    course_id: uuid.UUID | None = None


def purchase_options(currency: str, limits: tuple[int, int] = (MIN_AMOUNT, MAX_AMOUNT)) -> dict[str, Any]:
    """What a voucher shop needs to offer before asking: the limits a purchase is checked against (a clinic's
    own, or the defaults), and the presets within them."""
    least, most = limits
    presets = [preset for preset in AMOUNT_PRESETS if least <= preset <= most]
    return {
        "amount": {"currency": currency, "min": least, "max": most, "presets": presets},
        "message_max_length": MESSAGE_MAX_LENGTH,
        "deliver_within_days": MAX_DELIVERY_AHEAD.days,
    }


def _pounds(amount: int) -> str:
    return f"£{amount // 100}" if amount % 100 == 0 else f"£{amount / 100:,.2f}"


def spec_for_amount(
    amount: int, currency: str, clinic_currency: str, limits: tuple[int, int] = (MIN_AMOUNT, MAX_AMOUNT)
) -> VoucherSpec:
    """A voucher of money, within `limits` (least, most): the clinic's own settings, or the defaults."""
    if currency.upper() != clinic_currency:
        raise VoucherError(422, "currency_mismatch", f"This clinic sells vouchers in {clinic_currency}")
    least, most = limits
    if not least <= amount <= most:
        raise VoucherError(
            422,
            "amount_out_of_range",
            f"Gift vouchers are from {_pounds(least)} to {_pounds(most)}",
            {"min": least, "max": most, "currency": clinic_currency},
        )
    return VoucherSpec(
        "amount", "multi_purpose", "money", f"£{amount / 100:,.2f} gift voucher", amount, amount, clinic_currency
    )


def spec_for_treatment(treatment: CatalogueItem) -> VoucherSpec:
    return VoucherSpec(
        "treatment",
        "single_purpose",
        "sessions",
        treatment.name,
        1,
        treatment.price_amount,
        treatment.currency,
        treatment_id=treatment.id,
    )


def spec_for_course(course: CatalogueItem) -> VoucherSpec:
    return VoucherSpec(
        "course",
        "single_purpose",
        "sessions",
        course.name,
        course.sessions,
        course.price_amount,
        course.currency,
        treatment_id=course.treatment_id,
        course_id=course.id,
    )


def check_delivery_date(deliver_on: date, today: date) -> None:
    if deliver_on < today:
        raise VoucherError(422, "delivery_date_in_past", "The delivery date must be today or later")
    if deliver_on > today + MAX_DELIVERY_AHEAD:
        raise VoucherError(422, "delivery_date_too_far", "The delivery date must be within a year")


def expiry_for(issued_at: datetime, months: int = VALIDITY_MONTHS) -> datetime:
    """Same day and time `months` later (the last day of the month where that day does not exist)."""
    month_index = issued_at.month - 1 + months
    year, month = issued_at.year + month_index // 12, month_index % 12 + 1
    return issued_at.replace(year=year, month=month, day=min(issued_at.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class VoucherState:
    clinic_id: uuid.UUID
    unit: str
    status: str
    balance: int
    expires_at: datetime | None
    treatment_id: uuid.UUID | None


@dataclass(frozen=True)
class Charge:
    """What a booking costs: money due, and how many sessions of which treatment."""

    clinic_id: uuid.UUID
    amount: int
    treatment_id: uuid.UUID
    sessions: int


@dataclass(frozen=True)
class Redemption:
    units: int  # taken from the voucher: money or sessions
    value: int  # what that pays of the booking, in money
    card_amount: int  # what is left for the card


def plan_redemption(voucher: VoucherState, charge: Charge, now: datetime) -> Redemption:
    if voucher.status == "awaiting_payment":
        raise VoucherError(404, "voucher_not_found", "We don't recognise that voucher code")
    if voucher.clinic_id != charge.clinic_id:  # (the balance page names its clinic: no secret kept here)
        raise VoucherError(422, "voucher_other_clinic", "This voucher is for another clinic, so it cannot pay here")
    if voucher.status == "void":
        raise VoucherError(409, "voucher_void", "This voucher has been cancelled")
    if voucher.status == "expired" or (voucher.expires_at is not None and voucher.expires_at <= now):
        raise VoucherError(409, "voucher_expired", "This voucher has expired; the clinic may be able to reactivate it")
    if voucher.balance <= 0:
        raise VoucherError(409, "voucher_used_up", "This voucher has already been used in full")
    if voucher.unit == "money":
        units = min(voucher.balance, charge.amount)
        return Redemption(units, units, charge.amount - units)
    if voucher.treatment_id != charge.treatment_id:
        raise VoucherError(422, "voucher_not_valid_for_treatment", "This voucher is for a different treatment")
    if voucher.balance < charge.sessions:
        raise VoucherError(
            409,
            "voucher_not_enough_sessions",
            f"This voucher has {voucher.balance} session(s) left; the booking needs {charge.sessions}",
            {"sessions_left": voucher.balance, "sessions_needed": charge.sessions},
        )
    return Redemption(charge.sessions, charge.amount, 0)
