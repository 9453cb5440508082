"""A clinic's catalogue as the pages show it (the clinic, its treatments, courses and therapists), read from
the API in one go and kept for a few seconds: every page of the flow shows it, and it changes rarely.
Free times are never kept: they are read fresh for every page that shows them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from services.web.api import Api

FRESH_SECONDS = 5.0
MAX_CLINICS = 1000


@dataclass(frozen=True)
class Catalogue:
    clinic: dict
    treatments: list[dict]
    courses: list[dict]
    therapists: list[dict]

    def treatment(self, treatment_id: str | None) -> dict | None:
        return next((t for t in self.treatments if t["id"] == treatment_id), None)

    def course(self, course_id: str | None) -> dict | None:
        return next((c for c in self.courses if c["id"] == course_id), None)

    def therapist(self, therapist_id: str | None) -> dict | None:
        return next((t for t in self.therapists if t["id"] == therapist_id), None)


class CatalogueCache:
    def __init__(self, fresh_seconds: float = FRESH_SECONDS):
        self.fresh_seconds = fresh_seconds
        self._kept: dict[str, tuple[float, Catalogue]] = {}

    async def get(self, api: Api, slug: str) -> Catalogue:
        kept = self._kept.get(slug)
        if kept and kept[0] > time.monotonic():
            return kept[1]
        found = Catalogue(
            *await asyncio.gather(api.clinic(slug), api.treatments(slug), api.courses(slug), api.therapists(slug))
        )
        if len(self._kept) >= MAX_CLINICS:
            self._kept.clear()
        self._kept[slug] = (time.monotonic() + self.fresh_seconds, found)
        return found


class Kept:
    """One answer of the API that rarely changes, read again once `fresh_seconds` have passed."""

    def __init__(self, fresh_seconds: float):
        self.fresh_seconds = fresh_seconds
        self._value: tuple[float, Any] | None = None

    async def get(self, read: Callable[[], Awaitable[Any]]) -> Any:
        if self._value is None or self._value[0] <= time.monotonic():
            self._value = (time.monotonic() + self.fresh_seconds, await read())
        return self._value[1]


CATALOGUE = web.AppKey("catalogue", CatalogueCache)
# The voucher shop's limits (GET /api/v1/vouchers/options), kept as long as payments says they may be.
VOUCHER_OPTIONS = web.AppKey("voucher_options", Kept)
VOUCHER_OPTIONS_FRESH_SECONDS = 300.0
