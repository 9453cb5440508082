"""The bench's own database (a clone, so the bench may change it): connections set up like the
services', the demo clinic's catalogue, a longer booking horizon and synthetic therapists added by SQL,
and waiting for the booking outbox to drain."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import time as dt_time
from typing import Any, Sequence

from tests.perf.harness import assert_loopback, log

CLINIC = "urban-therapy"
# The bench database's booking horizon (the product allows 1..730 days; the demo default is 60).
BENCH_HORIZON_DAYS = 730
# (weekday, starts, ends) rows of a therapist's working hours or breaks, Monday = 0.
WeeklyTimes = Sequence[tuple[int, dt_time, dt_time]]


def _settings(database_url: str):
    from shared.config import Settings

    return Settings(database_url=assert_loopback(database_url))


async def service_connection(database_url: str, schema: str = "booking"):
    """A connection set up like that service's pool (its search_path, jsonb codec)."""
    from shared import db

    return await db.connect(_settings(database_url), schema)


async def booking_pool(database_url: str, size: int):
    from shared import db

    return await db.create_pool(_settings(database_url), "booking", min_size=size, max_size=size)


@dataclass(frozen=True)
class Catalogue:
    """The demo clinic and the treatment every section books, as the service's own domain objects."""

    clinic: Any  # services.booking.domain.Clinic
    treatment: Any  # services.booking.domain.Treatment


async def load_catalogue(conn) -> Catalogue:
    from services.booking import store
    from tests.support.booking import TREATMENT

    clinic = await store.get_clinic(conn, CLINIC)
    treatment = None if clinic is None else await store.get_treatment(conn, clinic.id, uuid.UUID(TREATMENT))
    if treatment is None:
        raise RuntimeError("the seeded demo clinic is missing from the template database")
    return Catalogue(clinic, treatment)


async def set_bench_horizon(conn) -> None:
    """More bookable days for the bench's own database (the demo default is 60), so wrk never runs
    out of distinct valid starts."""
    await conn.execute("UPDATE clinics SET booking_horizon_days = $2 WHERE slug = $1", CLINIC, BENCH_HORIZON_DAYS)


async def add_therapists(
    conn,
    cat: Catalogue,
    prefix: str,
    count: int,
    hours: WeeklyTimes = (),
    breaks: WeeklyTimes = (),
    with_hours: int | None = None,
) -> list[uuid.UUID]:
    """`count` synthetic therapists of the demo clinic (slugs <prefix>0000, <prefix>0001, ...), giving the
    bench's treatment, with these weekly hours and breaks (for the first `with_hours` of them, default
    all). Idempotent. Returns their ids in slug order."""
    with_hours = count if with_hours is None else with_hours
    if count > 10_000:
        raise ValueError("at most 10,000 synthetic therapists per prefix (4-digit slugs)")
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO therapists (id, clinic_id, slug, name, bio)
               SELECT gen_random_uuid(), $1, $2 || lpad(g::text, 4, '0'), 'Bench therapist ' || $2 || g, 'synthetic'
               FROM generate_series(0, $3 - 1) AS g ON CONFLICT (clinic_id, slug) DO NOTHING""",
            cat.clinic.id,
            prefix,
            count,
        )
        rows = await conn.fetch(
            "SELECT id FROM therapists WHERE clinic_id = $1 AND starts_with(slug, $2) ORDER BY slug LIMIT $3",
            cat.clinic.id,
            prefix,
            count,
        )
        ids = [r["id"] for r in rows]
        staffed = ids[:with_hours]
        await conn.execute(
            "INSERT INTO therapist_treatments (therapist_id, treatment_id) SELECT t, $2 FROM unnest($1::uuid[]) t "
            "ON CONFLICT DO NOTHING",
            staffed,
            cat.treatment.id,
        )
        fresh = [
            r["id"]
            for r in await conn.fetch(
                "SELECT t AS id FROM unnest($1::uuid[]) t WHERE NOT EXISTS (SELECT 1 FROM working_hours w "
                "WHERE w.therapist_id = t)",
                staffed,
            )
        ]
        for table, rows_ in (("working_hours", hours), ("breaks", breaks)):
            await conn.executemany(
                f"INSERT INTO {table} (therapist_id, weekday, starts, ends) VALUES ($1, $2, $3, $4)",
                [(t, d, a, b) for t in fresh for d, a, b in rows_],
            )
    return ids


async def wait_outbox_drained(conn, timeout: float = 60.0) -> float:
    """Wait until the relay has published every booking outbox row; returns the seconds waited."""
    began = time.monotonic()
    while await conn.fetchval("SELECT count(*) FROM booking.outbox WHERE published_at IS NULL"):
        if time.monotonic() - began > timeout:
            log(f"outbox not drained after {timeout:g}s; carrying on")
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def insert_api_key(conn, name: str) -> tuple[str, uuid.UUID]:
    """A clinic API key of the demo clinic, straight into the bench database (revoke it when done)."""
    from services.booking import api_keys

    key, prefix = api_keys.generate()
    key_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO booking.api_keys (id, clinic_id, prefix, key_hash, name) "
        "SELECT $1, id, $2, $3, $4 FROM booking.clinics WHERE slug = $5",
        key_id,
        prefix,
        api_keys.digest(key),
        name,
        CLINIC,
    )
    return key, key_id


async def revoke_api_key(conn, key_id: uuid.UUID) -> None:
    await conn.execute("UPDATE booking.api_keys SET revoked_at = now() WHERE id = $1", key_id)
