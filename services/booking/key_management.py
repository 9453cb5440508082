"""A clinic's own API keys: create (the key is shown once), rotate (with a grace period), revoke."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.booking import api_keys, store
from services.booking.domain import BookingError


@dataclass(frozen=True)
class NewKey:
    id: uuid.UUID
    key: str  # the only time it is ever available
    record: asyncpg.Record


async def create(conn: asyncpg.Connection, clinic_id: uuid.UUID, name: str) -> NewKey:
    if await store.count_live_api_keys(conn, clinic_id) >= api_keys.MAX_LIVE_KEYS:
        raise BookingError(
            409,
            "too_many_api_keys",
            f"A clinic can have {api_keys.MAX_LIVE_KEYS} working keys; revoke one you no longer use",
        )
    key, prefix = api_keys.generate()
    key_id = await store.insert_api_key(conn, clinic_id, prefix, api_keys.digest(key), name)
    if key_id is None:  # a prefix clash (1 in 4 billion): the caller may simply retry
        raise BookingError(503, "try_again", "Could not create a key just now, please retry")
    return NewKey(key_id, key, await store.get_api_key(conn, clinic_id, key_id))


async def rotate(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, key_id: uuid.UUID, grace_hours: int, now: datetime
) -> tuple[NewKey, asyncpg.Record]:
    """A new key with the old one's name; the old one works for `grace_hours` more (0: stops now)."""
    old = await _usable(conn, clinic_id, key_id, now)
    if old["replaced_by"] is not None:
        raise BookingError(409, "already_rotated", "This key has already been replaced; rotate its replacement")
    new = await create(conn, clinic_id, old["name"])
    await store.retire_api_key(conn, clinic_id, key_id, new.id, now + timedelta(hours=grace_hours))
    return new, await store.get_api_key(conn, clinic_id, key_id)


async def revoke(conn: asyncpg.Connection, clinic_id: uuid.UUID, key_id: uuid.UUID) -> asyncpg.Record:
    """Stops the key at once; revoking it again changes nothing."""
    if await store.get_api_key(conn, clinic_id, key_id, for_update=True) is None:
        raise _not_found()
    await store.revoke_api_key(conn, clinic_id, key_id)
    return await store.get_api_key(conn, clinic_id, key_id)


async def _usable(conn, clinic_id: uuid.UUID, key_id: uuid.UUID, now: datetime) -> asyncpg.Record:
    row = await store.get_api_key(conn, clinic_id, key_id, for_update=True)
    if row is None:
        raise _not_found()
    if row["revoked_at"] is not None or (row["expires_at"] is not None and row["expires_at"] <= now):
        raise BookingError(409, "api_key_revoked", "This key no longer works; create a new one instead")
    return row


def _not_found() -> BookingError:
    return BookingError(404, "api_key_not_found", "No such API key")
