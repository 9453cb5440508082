"""Booking request bodies for the demo clinic."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.booking.seed import stable_id

CLINIC = "urban-therapy"
TREATMENT = str(stable_id(CLINIC, "treatment", "deep-tissue-60"))
THERAPIST = str(stable_id(CLINIC, "therapist", "amara-okafor"))


def tomorrow_at(hour: int, minute: int = 0, days: int = 1) -> str:
    day = datetime.now(timezone.utc).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc).isoformat()


def booking_body(**overrides) -> dict:
    body = {"clinic": CLINIC, "treatment": TREATMENT, "therapist": THERAPIST, "start": tomorrow_at(10),
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"}}
    body.update(overrides)
    return body
