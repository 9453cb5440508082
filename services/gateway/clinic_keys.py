"""Checking clinic API keys at the door: the booking service knows them; answers are cached briefly
so the clinic API costs one lookup per key per half minute, not one per request."""
from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field

import aiohttp

from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.errors import ApiError

# A revoked key keeps working for at most this long (the cache), a trade for speed.
CACHE_SECONDS = 30.0
MAX_CACHED = 10_000


@dataclass
class KeyChecker:
    session: aiohttp.ClientSession
    booking_url: str
    internal_token: str
    _cache: dict[bytes, tuple[str, float]] = field(default_factory=dict)

    async def clinic_for(self, authorization: str | None) -> str:
        """The clinic id of a `Bearer` key; 401 in the error shape otherwise."""
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "unauthorized", "Send your clinic API key as `Authorization: Bearer <key>`",
                           headers={"WWW-Authenticate": "Bearer"})
        fingerprint = hashlib.sha256(key.strip().encode()).digest()
        cached = self._cache.get(fingerprint)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        clinic_id = await self._ask(key.strip())
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[fingerprint] = (clinic_id, time.monotonic() + CACHE_SECONDS)
        return clinic_id

    async def _ask(self, key: str) -> str:
        try:
            async with self.session.post(f"{self.booking_url}/internal/v1/api-keys/verify", json={"key": key},
                                         headers={INTERNAL_TOKEN_HEADER: self.internal_token}) as resp:
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            raise ApiError(503, "service_unavailable", "Cannot check API keys right now, please retry shortly",
                           headers={"Retry-After": "5"}) from None
        if resp.status == 401:
            raise ApiError(401, "invalid_api_key", "This API key is not valid or has been revoked",
                           headers={"WWW-Authenticate": "Bearer"})
        if resp.status != 200:
            raise ApiError(503, "service_unavailable", "Cannot check API keys right now, please retry shortly",
                           headers={"Retry-After": "5"})
        return body["clinic_id"]
