"""When scheduled emails go out: appointment reminders and gift voucher deliveries. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from shared import contracts, gift_delivery

# Booking events carry the clinic's own reminder offsets (its settings); these stand in for an event without them.
DEFAULT_REMINDER_OFFSETS = (timedelta(hours=24), timedelta(hours=2))
# Voucher events carry no time zone; the demo clinics (and payments' delivery-date check) use this one.
DEFAULT_CLINIC_ZONE = "Europe/London"


@dataclass(frozen=True)
class BookingView:
    """What notifications keeps of a booking (the projection row), read from a booking event."""

    booking_id: uuid.UUID
    clinic_id: str
    status: str
    start: datetime
    end: datetime
    customer_name: str | None
    customer_email: str | None
    clinic_name: str
    clinic_timezone: str
    treatment_name: str
    therapist_name: str
    manage_url: str | None
    series_index: int | None


def booking_view(booking: contracts.BookingChanged | Mapping[str, Any]) -> BookingView:
    """What the projection keeps of a booking event's payload (the model, or its data to parse)."""
    if not isinstance(booking, contracts.BookingChanged):
        booking = contracts.BookingChanged.from_data(booking)
    customer = booking.customer
    return BookingView(
        booking_id=uuid.UUID(booking.booking_id),
        clinic_id=booking.clinic.id,
        status=booking.status,
        start=booking.start,
        end=booking.end,
        customer_name=customer.name if customer else None,
        customer_email=customer.email if customer else None,
        clinic_name=booking.clinic.name,
        clinic_timezone=booking.clinic.timezone,
        treatment_name=booking.treatment.name,
        therapist_name=booking.therapist.name,
        manage_url=booking.manage_url,
        series_index=booking.series.index if booking.series else None,
    )


@dataclass(frozen=True)
class PlannedReminder:
    offset: timedelta
    due_at: datetime

    @property
    def offset_minutes(self) -> int:
        return int(self.offset.total_seconds() // 60)


def offsets_of(clinic: contracts.ClinicRef | Mapping[str, Any]) -> tuple[timedelta, ...]:
    """The clinic's reminder offsets as its booking events carry them; the defaults if they do not."""
    minutes = (
        clinic.reminder_offsets_minutes
        if isinstance(clinic, contracts.ClinicRef)
        else clinic.get("reminder_offsets_minutes")
    )
    if not minutes:
        return DEFAULT_REMINDER_OFFSETS
    return tuple(timedelta(minutes=m) for m in minutes if m > 0)


def plan_reminders(
    start: datetime, now: datetime, offsets: tuple[timedelta, ...] = DEFAULT_REMINDER_OFFSETS
) -> list[PlannedReminder]:
    """One reminder per offset before `start`, leaving out those already due: a booking made 3 hours
    ahead gets the 2-hour reminder only, not a '24 hours to go' email at once."""
    return [PlannedReminder(offset, start - offset) for offset in sorted(offsets, reverse=True) if start - offset > now]


def reminder_obsolete(
    planned_start: datetime, booking_status: str | None, booking_start: datetime | None, now: datetime
) -> str | None:
    """Why a due reminder must not be sent (checked at send time), or None to send it."""
    if booking_status is None:
        return "booking unknown"
    if booking_status != "confirmed":
        return f"booking {booking_status}"
    if booking_start != planned_start:
        return "booking moved"
    if booking_start <= now:
        return "appointment already started"
    return None


def gift_due_at(deliver_on: date, tz_name: str = DEFAULT_CLINIC_ZONE) -> datetime:
    """The moment the gift email is due (shared.gift_delivery: the pages say the same)."""
    return gift_delivery.due_at(deliver_on, ZoneInfo(tz_name))
