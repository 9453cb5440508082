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


async def commit_event(pool: asyncpg.Pool, event: Event) -> Event:
    async with pool.acquire() as conn, conn.transaction():
        await add_event(conn, event)
    return event
