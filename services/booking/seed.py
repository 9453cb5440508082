"""Demo clinics for `make run` and the end-to-end tests. Idempotent: ids derive from slugs."""
from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg

from shared import db
from shared.config import load_settings
from shared.logs import setup_logging

log = logging.getLogger("seed")
NAMESPACE = uuid.UUID("7d8f1f0e-3c1a-4d65-9a51-6b1f0c7e2a10")

DEMO_CLINICS = [
    {
        "slug": "urban-therapy", "name": "Urban Therapy Clinic, London", "timezone": "Europe/London",
        "treatments": [
            ("deep-tissue-60", "Deep tissue massage (60 min)", "Slow, firm pressure on deeper muscle layers.", 60, 6500),
            ("swedish-60", "Swedish massage (60 min)", "Long flowing strokes to ease tension.", 60, 6000),
            ("myofascial-45", "Myofascial release (45 min)", "Sustained pressure to release fascial restrictions.", 45, 5500),
            ("trigger-point-30", "Trigger point therapy (30 min)", "Focused work on hyper-irritable spots.", 30, 4000),
        ],
        "therapists": [
            ("amara-okafor", "Amara Okafor", "Level 5 Clinical Massage; GCMT registered."),
            ("tom-hughes", "Tom Hughes", "Sports massage therapist; CPD in neuropathic pain."),
        ],
    },
    {
        "slug": "spinecare", "name": "SpineCare Clinic", "timezone": "Europe/London",
        "treatments": [
            ("sciatica-assessment-60", "Sciatica assessment and treatment (60 min)", "For back and leg pain.", 60, 7000),
            ("deep-tissue-90", "Deep tissue massage (90 min)", "Extended deep tissue session.", 90, 9000),
        ],
        "therapists": [
            ("priya-shah", "Priya Shah", "Level 5 Clinical Massage; CPD in neuropathic pain."),
        ],
    },
]


def stable_id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(parts))


async def seed(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        for c in DEMO_CLINICS:
            clinic_id = stable_id(c["slug"])
            await conn.execute(
                "INSERT INTO clinics (id, slug, name, timezone) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                clinic_id, c["slug"], c["name"], c["timezone"])
            for slug, name, description, minutes, price in c["treatments"]:
                await conn.execute(
                    "INSERT INTO treatments (id, clinic_id, slug, name, description, duration_minutes, price_amount, currency) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, 'GBP') ON CONFLICT (id) DO NOTHING",
                    stable_id(c["slug"], "treatment", slug), clinic_id, slug, name, description, minutes, price)
            for slug, name, bio in c["therapists"]:
                await conn.execute(
                    "INSERT INTO therapists (id, clinic_id, slug, name, bio) VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (id) DO NOTHING",
                    stable_id(c["slug"], "therapist", slug), clinic_id, slug, name, bio)


async def main() -> None:
    settings = load_settings()
    setup_logging("seed", settings.log_level)
    conn = await db.connect(settings, "booking")
    try:
        await seed(conn)
    finally:
        await conn.close()
    log.info("demo clinics seeded", extra={"clinics": [c["slug"] for c in DEMO_CLINICS]})


if __name__ == "__main__":
    asyncio.run(main())
