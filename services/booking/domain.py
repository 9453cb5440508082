"""Booking rules with no I/O: the catalogue's shapes, holds, the change window, and what events say."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.booking.availability import Interval, Rules, Timing
from shared import contracts
from shared.domain_errors import DomainError

# The one table of a reservation's life: the statuses each status may become. A hold becomes a booking
# awaiting its payment; a reschedule moves a confirmed booking (same id, same status), so it is no entry here.
TRANSITIONS: dict[str, frozenset[str]] = {
    "held": frozenset({"pending_payment", "released", "expired"}),
    # Back to held: payments refused it or could not answer, so the customer may try again.
    # Cancelled: the clinic calls off a phone booking still awaiting its payment (its payment is cancelled too).
    "pending_payment": frozenset({"held", "confirmed", "expired", "cancelled"}),
    # A payment that succeeds after the time ran out: booked again if the time is still free.
    "expired": frozenset({"confirmed"}),
    "released": frozenset({"confirmed"}),
    "confirmed": frozenset({"cancelled", "completed", "no_show"}),
    "cancelled": frozenset(),
    "completed": frozenset(),
    "no_show": frozenset(),
}
# The statuses that block the therapist's time (a hold and an unpaid booking only until they expire).
LIVE_STATUSES = ("held", "pending_payment", "confirmed")
# The statuses a reservation can never leave.
FINAL_STATUSES = tuple(status for status, after in TRANSITIONS.items() if not after)
# What the clinic's diary leaves out: holds, and what ran out or was let go before it was paid.
UNLISTED_STATUSES = ("held", "expired", "released")
# How long after the appointment a manage link keeps working (to view it).
MANAGE_LINK_LIFETIME = timedelta(days=30)
# The longest availability range one request may ask for, and what it gets when it names no end.
MAX_AVAILABILITY_DAYS = 31
DEFAULT_AVAILABILITY_DAYS = 7


class BookingError(DomainError):
    """A request the booking rules refuse, with a message a customer understands."""


@dataclass(frozen=True)
class Clinic:
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    booking_horizon_days: int = 60
    min_notice_minutes: int = 120
    slot_step_minutes: int = 15
    hold_minutes: int = 10
    change_window_hours: int = 24
    reminder_offsets_minutes: tuple[int, ...] = (1440, 120)
    voucher_validity_months: int = 24
    policy_message: str = ""
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    # Origins of the clinic's own websites allowed to frame its booking pages (shared/origins.py).
    embed_origins: tuple[str, ...] = ()
    # What a gift voucher of money may be worth, least and most, in minor units (payments checks a purchase).
    voucher_min_amount: int = 2500
    voucher_max_amount: int = 50000
    # How long a time offered from the waitlist is held for the person offered it (migration 0017).
    waitlist_offer_minutes: int = 30

    @property
    def rules(self) -> Rules:
        return Rules(self.timezone, self.slot_step_minutes, self.min_notice_minutes, self.booking_horizon_days)


@dataclass(frozen=True)
class Treatment:
    id: uuid.UUID
    name: str
    duration_minutes: int
    price_amount: int
    currency: str
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    requires_screening: bool = True

    @property
    def timing(self) -> Timing:
        return Timing(self.duration_minutes, self.buffer_before_minutes, self.buffer_after_minutes)


@dataclass(frozen=True)
class Course:
    id: uuid.UUID
    name: str
    treatment_id: uuid.UUID
    sessions: int
    min_gap_days: int
    max_gap_days: int
    price_amount: int
    currency: str


@dataclass(frozen=True)
class Therapist:
    id: uuid.UUID
    name: str
    treatment_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    phone: str | None = None
    # Optional (privacy_rules): how long a child's health answers are kept. Never in an event (booking_changed).
    date_of_birth: date | None = None


@dataclass(frozen=True)
class Hold:
    """A reservation of a therapist's time that becomes a booking, or expires."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    treatment: Treatment
    therapist_id: uuid.UUID
    start: datetime
    end: datetime
    blocked: Interval
    expires_at: datetime
    price_amount: int
    currency: str
    course_id: uuid.UUID | None = None
    series_id: uuid.UUID | None = None
    series_index: int | None = None

    @property
    def treatment_id(self) -> uuid.UUID:
        return self.treatment.id


def new_hold(
    clinic: Clinic,
    treatment: Treatment,
    therapist_id: uuid.UUID,
    start: datetime,
    now: datetime,
    *,
    price_amount: int | None = None,
    course_id: uuid.UUID | None = None,
    series_id: uuid.UUID | None = None,
    series_index: int | None = None,
) -> Hold:
    return Hold(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        treatment=treatment,
        therapist_id=therapist_id,
        start=start,
        end=treatment.timing.end(start),
        blocked=treatment.timing.blocked(start),
        expires_at=now + timedelta(minutes=clinic.hold_minutes),
        price_amount=treatment.price_amount if price_amount is None else price_amount,
        currency=treatment.currency,
        course_id=course_id,
        series_id=series_id,
        series_index=series_index,
    )


def course_session_prices(course: Course) -> list[int]:
    """The course price split over its sessions in minor units, the remainder on the first."""
    base, remainder = divmod(course.price_amount, course.sessions)
    return [base + remainder] + [base] * (course.sessions - 1)


def can_become(status: str, after: str) -> bool:
    return after in TRANSITIONS[status]


def statuses_before(after: str) -> tuple[str, ...]:
    """The statuses that can become `after`, in TRANSITIONS' order."""
    return tuple(status for status, following in TRANSITIONS.items() if after in following)


def check_hold_usable(status: str, expires_at: datetime | None, now: datetime) -> None:
    if not can_become(status, "pending_payment"):
        raise BookingError(409, "hold_used", "This hold has already been used or released; please choose a time again")
    if expires_at is not None and expires_at <= now:
        raise BookingError(409, "hold_expired", "This hold has expired; please choose a time again")


def check_change_allowed(clinic: Clinic, status: str, start: datetime, now: datetime) -> None:
    """Cancel or reschedule: only confirmed bookings, and only before the clinic's window closes."""
    if status != "confirmed":
        raise BookingError(409, "not_changeable", f"This booking is {status.replace('_', ' ')} and cannot be changed")
    if start - now < timedelta(hours=clinic.change_window_hours):
        raise BookingError(
            409, "outside_change_window", clinic.policy_message, {"change_window_hours": clinic.change_window_hours}
        )


def inside_change_window(clinic: Clinic, start: datetime, now: datetime) -> bool:
    """Whether `now` is past the clinic's change deadline for a visit at `start`, but before it starts: when a
    customer's cancellation is late (issue 20: allowed, for its fee, when the booking has a late-cancellation fee)."""
    return now < start and start - now < timedelta(hours=clinic.change_window_hours)


# --- the clinic's actions on behalf of its customers ----------------------------------------------

# How a booking the clinic makes is paid: online by card (the customer pays from the link in the email the
# booking sends), or at the clinic on the day (no charge, no payment row).
PAYMENT_MODES = ("online", "at_clinic")
# How long a phone booking paid online keeps its time for the customer to pay from that email (a customer's
# own booking gets minutes: they are paying there and then); never past its start.
PHONE_PAYMENT_WINDOW = timedelta(hours=24)
MAX_CANCEL_REASON = 500


def phone_pay_by(start: datetime, now: datetime) -> datetime:
    return min(now + PHONE_PAYMENT_WINDOW, start)


# What the clinic may change on a customer's behalf, from which statuses: it calls off a phone booking still
# awaiting its payment too; it moves only a confirmed one.
CLINIC_CHANGES: dict[str, tuple[str, ...]] = {"cancelled": ("confirmed", "pending_payment"), "moved": ("confirmed",)}


def check_clinic_change(status: str, change: str) -> None:
    """The clinic cancels or moves (`change`: "cancelled", "moved") a booking whatever the change window says,
    from the statuses CLINIC_CHANGES allows: the refusal names the status."""
    allowed = CLINIC_CHANGES[change]
    if status not in allowed:
        which = "a confirmed booking" + (" or one awaiting payment" if "pending_payment" in allowed else "")
        raise BookingError(
            409,
            "invalid_transition",
            f"This booking is {status.replace('_', ' ')} and cannot be {change}; only {which} can",
            {"status": status},
        )


# What a clinic records after the visit time has come: the status it becomes.
OUTCOMES = {"complete": "completed", "no-show": "no_show"}


def outcome_change(status: str, outcome: str, start: datetime, now: datetime) -> bool:
    """Whether recording `outcome` changes the booking: False if it is already recorded (a repeat is harmless)."""
    if status == outcome:
        return False
    if not can_become(status, outcome):
        raise BookingError(
            409,
            "invalid_transition",
            f"This booking is {status.replace('_', ' ')}; only a confirmed booking can be marked "
            f"{outcome.replace('_', ' ')}",
            {"status": status},
        )
    if now < start:
        raise BookingError(
            409,
            "visit_not_started",
            "A visit can be marked completed or no-show only once its start time has passed",
            {"start": start.isoformat()},
        )
    return True


def manage_link_expiry(end: datetime) -> datetime:
    return end + MANAGE_LINK_LIFETIME


REFUSALS = {
    "start_in_past": "That time has already passed; please choose a later one.",
    "too_little_notice": "That time is too soon to book online; please choose a later one or call the clinic.",
    "beyond_horizon": "That date is too far ahead to book yet.",
    "outside_hours": "The therapist is not working at that time.",
    "therapist_unavailable": "The therapist is not available at that time.",
    "off_grid": "Appointments start on the clinic's time grid; please choose one of the offered times.",
}


def refused_start(code: str) -> BookingError:
    return BookingError(422, code, REFUSALS[code])


def booking_changed(
    *,
    booking_id: uuid.UUID,
    status: str,
    clinic: Clinic,
    treatment: Treatment,
    therapist: Therapist,
    start: datetime,
    end: datetime,
    customer: Customer | None,
    price_amount: int,
    currency: str,
    series_id: uuid.UUID | None = None,
    series_index: int | None = None,
    manage_url: str | None = None,
    voucher: dict[str, Any] | None = None,
    cancelled_by: str | None = None,
    previous: contracts.PreviousSlot | None = None,
    expires_at: datetime | None = None,
    booked_by: str | None = None,
    payment: str | None = None,
    rescheduled_by: str | None = None,
    refund: str | None = None,
    due_at_clinic: int | None = None,
    payment_policy_words: str | None = None,
    fee: contracts.FeeDue | None = None,
) -> contracts.BookingChanged:
    """What booking events carry: enough for emails and webhooks, never health data."""
    return contracts.BookingChanged(
        booking_id=str(booking_id),
        status=status,
        clinic=contracts.ClinicRef(
            str(clinic.id), clinic.slug, clinic.name, clinic.timezone, tuple(clinic.reminder_offsets_minutes)
        ),
        treatment=contracts.TreatmentRef(str(treatment.id), treatment.name, treatment.duration_minutes),
        therapist=contracts.Ref(str(therapist.id), therapist.name),
        start=start,
        end=end,
        price=contracts.Money(price_amount, currency),
        customer=contracts.Person(customer.name, customer.email) if customer else None,
        series=contracts.SeriesRef(str(series_id), series_index) if series_id is not None else None,
        manage_url=manage_url,
        voucher=voucher,
        cancelled_by=cancelled_by,
        previous=previous,
        expires_at=expires_at,
        booked_by=booked_by,
        payment=payment,
        rescheduled_by=rescheduled_by,
        refund=refund,
        due_at_clinic=contracts.Money(due_at_clinic, currency) if due_at_clinic is not None else None,
        payment_policy_words=payment_policy_words,
        fee=fee,
    )


def booking_event_data(**particulars: Any) -> dict[str, Any]:
    """booking_changed's payload as the dict on the wire (`expires_at` may be given as ISO text)."""
    if isinstance(particulars.get("expires_at"), str):
        particulars["expires_at"] = datetime.fromisoformat(particulars["expires_at"])
    return booking_changed(**particulars).to_data()
