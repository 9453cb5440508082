"""Checking clinic API keys at the door: the booking service knows them; answers are cached briefly
so the clinic API costs one lookup per key per half minute, not one per request. A key revoked or
rotated through this gateway is forgotten at once; one whose rotation grace ends stops then.

A signed-in staff member's token (`cst_…`, POST /api/v1/staff/sessions) is checked and cached the same way,
with the account's role. Signing out or removing the account through this gateway forgets it at once; through
another gateway replica (or an account disabled in the database) it stops here within CACHE_SECONDS."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import aiohttp

from shared.clinic_auth import INTERNAL_TOKEN_HEADER, OWNER, ROLES, STAFF
from shared.errors import ApiError

# A key revoked elsewhere (another gateway, the database) keeps working here for at most this long.
CACHE_SECONDS = 30.0
MAX_CACHED = 10_000
# What the services learn of a staff member's token beyond X-Clinic-Id and X-Clinic-Role: the session's id (so
# the booking service can say who is calling, and sign that session out). Only this gateway sets it.
SESSION_PREFIX = "cst_"


@dataclass(frozen=True)
class KnownKey:
    clinic_id: str
    key_id: str
    good_until: float  # time.monotonic()
    role: str = OWNER  # what it may do (shared.clinic_auth): an API key acts as the owner
    staff_id: str | None = None  # a staff member's sign-in (key_id is then the session's id); None for an API key


@dataclass
class KeyChecker:
    session: aiohttp.ClientSession
    booking_url: str
    internal_token: str
    clock: Callable[[], float] = time.monotonic  # how old a cached answer is (a test may move it on)
    _cache: dict[bytes, KnownKey] = field(default_factory=dict)

    async def clinic_for(self, authorization: str | None) -> KnownKey:
        """Whose is this `Bearer` key: its clinic and role; 401 in the error shape otherwise."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(
                401,
                "unauthorized",
                "Send your clinic API key as `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        fingerprint = _fingerprint(key)
        cached = self._cache.get(fingerprint)
        if cached and cached.good_until > self.clock():
            return cached
        known = await self._ask(key.strip())
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[fingerprint] = known
        return known

    def forget(self, key_id: str) -> None:
        """After the key was revoked or rotated: ask again next time."""
        for fingerprint in [f for f, known in self._cache.items() if known.key_id == key_id]:
            del self._cache[fingerprint]

    def forget_credential(self, authorization: str | None) -> None:
        """After the caller signed out with this `Authorization` header: ask again next time."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and key.strip():
            self._cache.pop(_fingerprint(key), None)

    def forget_staff(self, staff_id: str) -> None:
        """After the staff account was removed: each of its sessions is asked about again."""
        try:
            staff_id = str(uuid.UUID(staff_id))
        except ValueError:
            return
        for fingerprint in [f for f, known in self._cache.items() if known.staff_id == staff_id]:
            del self._cache[fingerprint]

    async def _ask(self, key: str) -> KnownKey:
        try:
            async with self.session.post(
                f"{self.booking_url}/internal/v1/api-keys/verify",
                json={"key": key},
                headers={INTERNAL_TOKEN_HEADER: self.internal_token},
            ) as resp:
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            raise ApiError(
                503,
                "service_unavailable",
                "Cannot check API keys right now, please retry shortly",
                headers={"Retry-After": "5"},
            ) from None
        if resp.status in (401, 422):
            if key.startswith(SESSION_PREFIX):
                raise ApiError(
                    401,
                    "invalid_session",
                    "This sign-in has ended; please sign in again",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            raise ApiError(
                401,
                "invalid_api_key",
                "This API key is not valid or has been revoked",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if resp.status != 200:
            raise ApiError(
                503,
                "service_unavailable",
                "Cannot check API keys right now, please retry shortly",
                headers={"Retry-After": "5"},
            )
        now = self.clock()
        good_until = now + CACHE_SECONDS
        if body.get("expires_at"):
            left = datetime.fromisoformat(body["expires_at"]) - datetime.now(timezone.utc)
            good_until = min(good_until, now + left.total_seconds())
        role = body.get("role", OWNER)
        return KnownKey(
            body["clinic_id"], body["key_id"], good_until, role if role in ROLES else STAFF, body.get("staff_id")
        )


def _fingerprint(key: str) -> bytes:
    return hashlib.sha256(key.strip().encode()).digest()
