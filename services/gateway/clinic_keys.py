"""Checking clinic API keys at the door: the booking service knows them; answers are cached briefly
so the clinic API costs one lookup per key per half minute, not one per request. A key revoked or
rotated through this gateway is forgotten at once; one whose rotation grace ends stops then."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import aiohttp

from shared.clinic_auth import INTERNAL_TOKEN_HEADER, OWNER, ROLES, STAFF
from shared.errors import ApiError

# A key revoked elsewhere (another gateway, the database) keeps working here for at most this long.
CACHE_SECONDS = 30.0
MAX_CACHED = 10_000


@dataclass(frozen=True)
class KnownKey:
    clinic_id: str
    key_id: str
    good_until: float  # time.monotonic()
    role: str = OWNER  # what it may do (shared.clinic_auth): an API key acts as the owner


@dataclass
class KeyChecker:
    session: aiohttp.ClientSession
    booking_url: str
    internal_token: str
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
        fingerprint = hashlib.sha256(key.strip().encode()).digest()
        cached = self._cache.get(fingerprint)
        if cached and cached.good_until > time.monotonic():
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
        good_until = time.monotonic() + CACHE_SECONDS
        if body.get("expires_at"):
            left = datetime.fromisoformat(body["expires_at"]) - datetime.now(timezone.utc)
            good_until = min(good_until, time.monotonic() + left.total_seconds())
        role = body.get("role", OWNER)
        return KnownKey(body["clinic_id"], body["key_id"], good_until, role if role in ROLES else STAFF)
