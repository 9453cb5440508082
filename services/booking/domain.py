"""Booking rules with no I/O: what a new booking is, and what its event says."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


class BookingError(Exception):
    """A request the rules refuse; `code` is the stable error code for clients."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Clinic:
    id: uuid.UUID
    slug: str
    name: str
    timezone: str


@dataclass(frozen=True)
class Treatment:
    id: uuid.UUID
    name: str
    duration_minutes: int
    price_amount: int
    currency: str


@dataclass(frozen=True)
class Therapist:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class Customer:
    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True)
class Booking:
    id: uuid.UUID
    clinic: Clinic
    treatment: Treatment
    therapist: Therapist
    starts_at: datetime
    ends_at: datetime
    customer: Customer
    status: str = "confirmed"


def new_booking(clinic: Clinic, treatment: Treatment, therapist: Therapist, start: datetime,
                customer: Customer, now: datetime) -> Booking:
    if start.tzinfo is None:
        raise BookingError("invalid_start", "The start time must carry a UTC offset")
    start = start.astimezone(timezone.utc)
    if start <= now:
        raise BookingError("start_in_past", "The start time has already passed")
    return Booking(
        id=uuid.uuid4(), clinic=clinic, treatment=treatment, therapist=therapist, starts_at=start,
        ends_at=start + timedelta(minutes=treatment.duration_minutes), customer=customer,
    )


def confirmed_event_data(booking: Booking) -> dict:
    """What `booking.confirmed` carries: enough for emails and webhooks, never health data."""
    return {
        "booking_id": str(booking.id),
        "status": booking.status,
        "clinic": {"id": str(booking.clinic.id), "slug": booking.clinic.slug, "name": booking.clinic.name,
                   "timezone": booking.clinic.timezone},
        "treatment": {"id": str(booking.treatment.id), "name": booking.treatment.name,
                      "duration_minutes": booking.treatment.duration_minutes},
        "therapist": {"id": str(booking.therapist.id), "name": booking.therapist.name},
        "start": booking.starts_at.isoformat(),
        "end": booking.ends_at.isoformat(),
        "price": {"amount": booking.treatment.price_amount, "currency": booking.treatment.currency},
        "customer": {"name": booking.customer.name, "email": booking.customer.email},
    }
