"""JSON shapes more than one audience shows: money, clinic wall times, a customer, a booking, a treatment and
a course."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from services.booking import payment_policy, service
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


def money_or_none(amount: int | None, currency: str) -> dict | None:
    return money(amount, currency) if amount is not None else None


def fees(reservation: Reservation) -> dict:
    """Its fees (issue 20), fixed when it was booked (a course's session: of its share): money, or null if none."""
    return {
        "no_show": money_or_none(reservation.no_show_fee, reservation.currency),
        "late_cancellation": money_or_none(reservation.late_cancellation_fee, reservation.currency),
    }


def booking(
    reservation: Reservation, clinic: Clinic, links: service.Links, *, with_manage_url: bool, now: datetime
) -> dict:
    """A booking as its customer sees it (the manage link's own answers leave its URL out). `now`: whether
    cancelling now would cost its late-cancellation fee (`late_cancellation_fee_due`) depends on it."""
    body = {
        "id": str(reservation.id),
        "status": reservation.status,
        "clinic": clinic.slug,
        "treatment": str(reservation.treatment_id),
        "therapist": str(reservation.therapist_id),
        "start": local(reservation.start, clinic),
        "end": local(reservation.end, clinic),
        "amount_due": money(reservation.price_amount, reservation.currency),
        # Left to pay at the clinic (issue 20: a deposit booking; of the whole booking, a course's on each session).
        "due_at_clinic": money(reservation.due_at_clinic, reservation.currency),
        "customer": customer(reservation.customer),
        "change_deadline": local(reservation.start - timedelta(hours=clinic.change_window_hours), clinic),
        "policy": clinic.policy_message,
        "fees": fees(reservation),
        "late_cancellation_fee_due": money_or_none(
            reservation.late_cancellation_fee_due(clinic, now), reservation.currency
        ),
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
        **_payment_policy(r),
    }


def _payment_policy(r: asyncpg.Record) -> dict:
    """`payment_policy` (issue 20): the policy a booking is paid by (the treatment's, else its clinic's), with the
    deposit of its price in money and in words; only where the row has the policies (store.POLICIES)."""
    if "clinic_payment_policy" not in r.keys():
        return {}
    policy = payment_policy.effective(r["clinic_payment_policy"], r["payment_policy"])
    hours = r["clinic_change_window_hours"] if "clinic_change_window_hours" in r.keys() else None
    return {
        "payment_policy": payment_policy.public_json(
            policy,
            r["price_amount"],
            r["currency"],
            hours if hours is not None else payment_policy.DEFAULT_CHANGE_WINDOW_HOURS,
            r["sessions"] if "sessions" in r.keys() else 1,  # a course: its fees are of one session's share
        )
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
        **_payment_policy(r),
    }
