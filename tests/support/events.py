"""Sample events as the booking service writes them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg

from shared.events import Event
from shared.outbox import add_event

SAMPLE_CLINIC_ID = "0b6f6d2a-5c36-4f0e-9d59-3f1d0a9e2c11"


def booking_confirmed(email: str = "ada@example.com", start: datetime | None = None) -> Event:
    start = start or datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    return Event(
        "booking.confirmed",
        {
            "booking_id": "6f1c2b1e-0000-4000-8000-000000000001",
            "status": "confirmed",
            "clinic": {
                "id": SAMPLE_CLINIC_ID,
                "slug": "urban-therapy",
                "name": "Urban Therapy Clinic, London",
                "timezone": "Europe/London",
            },
            "treatment": {"id": "t1", "name": "Deep tissue massage (60 min)", "duration_minutes": 60},
            "therapist": {"id": "p1", "name": "Amara Okafor"},
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "price": {"amount": 6500, "currency": "GBP"},
            "customer": {"name": "Ada Lovelace", "email": email},
        },
        clinic_id=SAMPLE_CLINIC_ID,
    )


SAMPLE_CLINIC = {
    "id": SAMPLE_CLINIC_ID,
    "slug": "urban-therapy",
    "name": "Urban Therapy Clinic, London",
    "timezone": "Europe/London",
}
SAMPLE_WAITLIST_ENTRY_ID = "7a2d3c4e-0000-4000-8000-000000000001"


def waitlist_joined(
    email: str = "ada@example.com",
    *,
    name: str = "Ada Lovelace",
    clinic: dict | None = None,
    therapist: dict | None = None,
    weekdays: list[int] | None = None,
    times_of_day: list[str] | None = None,
    entry_id: str = SAMPLE_WAITLIST_ENTRY_ID,
) -> Event:
    """waitlist.joined as the booking service writes it (shared/contracts.WaitlistJoined); `therapist` None: any."""
    clinic = clinic or SAMPLE_CLINIC
    return Event(
        "waitlist.joined",
        {
            "entry_id": entry_id,
            "clinic": clinic,
            "treatment": {"id": "t1", "name": "Deep tissue massage (60 min)"},
            "therapist": therapist,
            "customer": {"name": name, "email": email},
            "leave_url": f"http://127.0.0.1:8080/waitlist/{entry_id}/leave?token=leave-t0ken",
            "weekdays": weekdays or [],
            "times_of_day": times_of_day or [],
        },
        clinic_id=clinic["id"],
    )


def waitlist_offered(
    email: str = "ada@example.com",
    *,
    name: str = "Ada Lovelace",
    clinic: dict | None = None,
    start: datetime | None = None,
    expires_at: datetime | None = None,
    entry_id: str = SAMPLE_WAITLIST_ENTRY_ID,
    offer_id: str = "8b3e4d5f-0000-4000-8000-000000000001",
) -> Event:
    """waitlist.offered as the booking service writes it (shared/contracts.WaitlistOffered): a freed time held for
    the customer until `expires_at` (by default 30 minutes from now)."""
    clinic = clinic or SAMPLE_CLINIC
    start = start or datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    expires_at = expires_at or datetime.now(timezone.utc) + timedelta(minutes=30)
    return Event(
        "waitlist.offered",
        {
            "offer_id": offer_id,
            "entry_id": entry_id,
            "clinic": clinic,
            "treatment": {"id": "t1", "name": "Deep tissue massage (60 min)"},
            "therapist": {"id": "p1", "name": "Amara Okafor"},
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "expires_at": expires_at.isoformat(),
            "customer": {"name": name, "email": email},
            "offer_url": f"http://127.0.0.1:8080/c/{clinic['slug']}/book/offer/{offer_id}?token=offer-t0ken",
            "leave_url": f"http://127.0.0.1:8080/waitlist/{entry_id}/leave?token=leave-t0ken",
        },
        clinic_id=clinic["id"],
    )


async def commit_event(pool: asyncpg.Pool, event: Event) -> Event:
    async with pool.acquire() as conn, conn.transaction():
        await add_event(conn, event)
    return event
