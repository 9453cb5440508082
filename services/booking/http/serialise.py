"""JSON shapes more than one audience shows: money, clinic wall times, a customer, a booking, a treatment and
a course."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from services.booking import service
from services.booking.domain import Clinic, Customer
from services.booking.reservation import Reservation


def money(amount: int, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


def local(instant: datetime, clinic: Clinic) -> str:
    """Clinic wall time, always with its UTC offset."""
    return instant.astimezone(clinic.rules.zone).isoformat()


def iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


def customer(who: Customer | None) -> dict:
    return {"name": who.name if who else None, "email": who.email if who else None}


def booking(reservation: Reservation, clinic: Clinic, links: service.Links, *, with_manage_url: bool) -> dict:
    """A booking as its customer sees it (the manage link's own answers leave its URL out)."""
    body = {
        "id": str(reservation.id),
        "status": reservation.status,
        "clinic": clinic.slug,
        "treatment": str(reservation.treatment_id),
        "therapist": str(reservation.therapist_id),
        "start": local(reservation.start, clinic),
        "end": local(reservation.end, clinic),
        "amount_due": money(reservation.price_amount, reservation.currency),
        "customer": customer(reservation.customer),
        "change_deadline": local(reservation.start - timedelta(hours=clinic.change_window_hours), clinic),
        "policy": clinic.policy_message,
    }
    if reservation.series_id is not None:
        body["series"] = {"id": str(reservation.series_id), "index": reservation.series_index}
    if with_manage_url:
        body["manage_url"] = links.manage_url(reservation.id, reservation.end)
    return body


def treatment(r: asyncpg.Record) -> dict:
    """A treatment as customers see it (the clinic's own view adds its state: http/catalogue.py)."""
    return {
        "id": str(r["id"]),
        "slug": r["slug"],
        "name": r["name"],
        "description": r["description"],
        "duration_minutes": r["duration_minutes"],
        "buffer_before_minutes": r["buffer_before_minutes"],
        "buffer_after_minutes": r["buffer_after_minutes"],
        "requires_screening": r["requires_screening"],
        "price": money(r["price_amount"], r["currency"]),
    }


def course(r: asyncpg.Record) -> dict:
    """A course as customers see it (the clinic's own view adds its state)."""
    return {
        "id": str(r["id"]),
        "slug": r["slug"],
        "name": r["name"],
        "description": r["description"],
        "treatment": str(r["treatment_id"]),
        "sessions": r["sessions"],
        "spacing": {"min_days_between": r["min_gap_days"], "max_days_between": r["max_gap_days"]},
        "price": money(r["price_amount"], r["currency"]),
    }
