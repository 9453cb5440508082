"""The clinic API as a clinic's integration calls it: an API key per seeded clinic, sent as a bearer token."""

from __future__ import annotations

import asyncpg

from services.booking import api_keys, store
from services.booking.seed import stable_id

CLINICS = ("urban-therapy", "spinecare")


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def issue_keys(pool: asyncpg.Pool) -> dict[str, str]:
    """A fresh API key for each seeded clinic, by slug."""
    made = {}
    async with pool.acquire() as conn:
        for slug in CLINICS:
            key, prefix = api_keys.generate()
            await store.insert_api_key(conn, stable_id(slug), prefix, api_keys.digest(key), "test")
            made[slug] = key
    return made
