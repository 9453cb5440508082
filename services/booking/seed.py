"""Demo clinics for `make run` and the end-to-end tests. Idempotent: ids derive from slugs."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

import asyncpg

from services.booking import api_keys, staff, store
from services.booking.settings import BookingSettings
from shared import db
from shared.config import load_settings
from shared.dev import announce
from shared.logs import setup_logging

log = logging.getLogger("seed")
NAMESPACE = uuid.UUID("7d8f1f0e-3c1a-4d65-9a51-6b1f0c7e2a10")

WEEKDAYS = range(0, 5)
CHRISTMAS = ("2026-12-24T00:00:00+00:00", "2026-12-28T00:00:00+00:00", "Christmas: clinic closed")

DEMO_CLINICS = [
    {
        "slug": "urban-therapy",
        "name": "Urban Therapy Clinic, London",
        "timezone": "Europe/London",
        "email": "hello@urbantherapy.example",
        "phone": "020 7946 0000",
        "address": "12 Example Street, London",
        "treatments": [
            # slug, name, description, minutes, buffer before, buffer after, price (pence)
            (
                "deep-tissue-60",
                "Deep tissue massage (60 min)",
                "Slow, firm pressure on the deeper layers of muscle and fascia.",
                60,
                0,
                15,
                6500,
            ),
            ("swedish-60", "Swedish massage (60 min)", "Long, flowing strokes to ease tension.", 60, 0, 10, 6000),
            (
                "myofascial-45",
                "Myofascial release (45 min)",
                "Sustained pressure to release restrictions in the fascia.",
                45,
                0,
                15,
                5500,
            ),
            (
                "trigger-point-30",
                "Trigger point therapy (30 min)",
                "Focused work on hyper-irritable knots that refer pain.",
                30,
                0,
                10,
                4000,
            ),
        ],
        "courses": [
            (
                "sciatica-course",
                "Sciatica course: 6 sessions",
                "Six deep tissue sessions for chronic sciatica, two to three a week.",
                "deep-tissue-60",
                6,
                2,
                4,
                34500,
            ),
        ],
        "therapists": [
            (
                "amara-okafor",
                "Amara Okafor",
                "Clinical massage therapist specialising in back and leg pain.",
                ["GCMT registration", "Level 5 Clinical Massage"],
                ["deep-tissue-60", "swedish-60", "myofascial-45", "trigger-point-30"],
                [(d, "09:00", "18:00") for d in WEEKDAYS] + [(5, "10:00", "14:00")],
                [(d, "13:00", "14:00") for d in WEEKDAYS],
            ),
            (
                "tom-hughes",
                "Tom Hughes",
                "Sports and remedial massage; works with runners and cyclists.",
                ["Level 5 Clinical Massage", "CPD in neuropathic pain"],
                ["deep-tissue-60", "myofascial-45", "trigger-point-30"],
                [(d, "10:00", "19:00") for d in range(1, 6)],
                [(d, "14:00", "14:30") for d in range(1, 6)],
            ),
        ],
    },
    {
        "slug": "spinecare",
        "name": "SpineCare Clinic",
        "timezone": "Europe/London",
        "email": "appointments@spinecare.example",
        "phone": "020 7946 0001",
        "address": "3 Sample Road, London",
        "treatments": [
            (
                "sciatica-treatment-60",
                "Sciatica assessment and treatment (60 min)",
                "Assessment and hands-on treatment for back and leg pain.",
                60,
                0,
                15,
                7000,
            ),
            ("deep-tissue-90", "Deep tissue massage (90 min)", "An extended deep tissue session.", 90, 0, 15, 9000),
        ],
        "courses": [
            (
                "sciatica-acute-course",
                "Sciatica course: 6 sessions (acute)",
                "Six sessions for acute sciatica, one to two a week.",
                "sciatica-treatment-60",
                6,
                3,
                7,
                39000,
            ),
        ],
        "therapists": [
            (
                "priya-shah",
                "Priya Shah",
                "Clinical massage therapist with a focus on neuropathic pain.",
                ["GCMT registration", "Level 5 Clinical Massage", "CPD in neuropathic pain"],
                ["sciatica-treatment-60", "deep-tissue-90"],
                [(d, "08:00", "16:00") for d in WEEKDAYS],
                [(d, "12:00", "12:30") for d in WEEKDAYS],
            ),
        ],
    },
]


def stable_id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(parts))


def _time(text: str):
    return datetime.strptime(text, "%H:%M").time()


async def seed(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        for c in DEMO_CLINICS:
            await _seed_clinic(conn, c)


async def _seed_clinic(conn: asyncpg.Connection, c: dict) -> None:
    clinic_id = stable_id(c["slug"])
    await conn.execute(
        "INSERT INTO clinics (id, slug, name, timezone, email, phone, address) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (id) DO NOTHING",
        clinic_id,
        c["slug"],
        c["name"],
        c["timezone"],
        c["email"],
        c["phone"],
        c["address"],
    )
    for slug, name, description, minutes, before, after, price in c["treatments"]:
        await conn.execute(
            """INSERT INTO treatments (id, clinic_id, slug, name, description, duration_minutes,
                                       buffer_before_minutes, buffer_after_minutes, price_amount, currency)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'GBP') ON CONFLICT (id) DO NOTHING""",
            stable_id(c["slug"], "treatment", slug),
            clinic_id,
            slug,
            name,
            description,
            minutes,
            before,
            after,
            price,
        )
    for slug, name, description, treatment, sessions, min_gap, max_gap, price in c["courses"]:
        await conn.execute(
            """INSERT INTO courses (id, clinic_id, treatment_id, slug, name, description, sessions, min_gap_days,
                                    max_gap_days, price_amount, currency)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'GBP') ON CONFLICT (id) DO NOTHING""",
            stable_id(c["slug"], "course", slug),
            clinic_id,
            stable_id(c["slug"], "treatment", treatment),
            slug,
            name,
            description,
            sessions,
            min_gap,
            max_gap,
            price,
        )
    for slug, name, bio, credentials, treatments, hours, breaks in c["therapists"]:
        therapist_id = stable_id(c["slug"], "therapist", slug)
        created = await conn.fetchval(
            "INSERT INTO therapists (id, clinic_id, slug, name, bio, credentials) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (id) DO NOTHING RETURNING true",
            therapist_id,
            clinic_id,
            slug,
            name,
            bio,
            credentials,
        )
        if not created:
            continue
        await conn.executemany(
            "INSERT INTO therapist_treatments (therapist_id, treatment_id) VALUES ($1, $2)",
            [(therapist_id, stable_id(c["slug"], "treatment", t)) for t in treatments],
        )
        await conn.executemany(
            "INSERT INTO working_hours (therapist_id, weekday, starts, ends) VALUES ($1, $2, $3, $4)",
            [(therapist_id, d, _time(a), _time(b)) for d, a, b in hours],
        )
        await conn.executemany(
            "INSERT INTO breaks (therapist_id, weekday, starts, ends) VALUES ($1, $2, $3, $4)",
            [(therapist_id, d, _time(a), _time(b)) for d, a, b in breaks],
        )
        start, end, reason = CHRISTMAS
        await conn.execute(
            "INSERT INTO time_off (therapist_id, period, reason) VALUES ($1, tstzrange($2::timestamptz, $3::timestamptz), $4)",
            therapist_id,
            datetime.fromisoformat(start),
            datetime.fromisoformat(end),
            reason,
        )


async def development_keys(conn: asyncpg.Connection, seed_secret: str) -> dict[str, str]:
    """One stable clinic API key per demo clinic (development only), so the clinic API can be tried at once."""
    keys = {}
    for c in DEMO_CLINICS:
        key, prefix = api_keys.development_key(seed_secret, c["slug"])
        await store.insert_api_key(conn, stable_id(c["slug"]), prefix, api_keys.digest(key), "development")
        keys[c["slug"]] = key
    return keys


async def development_staff(conn: asyncpg.Connection, seed_secret: str) -> dict[str, tuple[str, str]]:
    """One demo dashboard account per demo clinic (development only): (email, password) by slug."""
    accounts = {}
    for c in DEMO_CLINICS:
        email, password = staff.development_email(c["slug"]), staff.development_password(seed_secret, c["slug"])
        await store.upsert_staff(conn, stable_id(c["slug"]), email, "Reception", staff.hash_password(password))
        accounts[c["slug"]] = (email, password)
    return accounts


async def main() -> None:
    settings = load_settings(BookingSettings)
    setup_logging("seed", settings.log_level)
    conn = await db.connect(settings, "booking")
    try:
        await seed(conn)
        keys = await development_keys(conn, settings.manage_link_key) if settings.development else {}
        accounts = await development_staff(conn, settings.manage_link_key) if settings.development else {}
    finally:
        await conn.close()
    log.info("demo clinics seeded", extra={"clinics": [c["slug"] for c in DEMO_CLINICS]})
    lines = [f"  Clinic API key for {slug}:  {key}" for slug, key in keys.items()]
    lines += [f"  Dashboard sign-in for {slug}:  {email} / {password}" for slug, (email, password) in accounts.items()]
    if lines:  # said again by shared.dev.announce once `make run` is up
        announce.var_dir().mkdir(parents=True, exist_ok=True)
        (announce.var_dir() / announce.ACCOUNTS_FILE).write_text("\n".join(lines) + "\n")
        print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
