"""What payments needs of the booking service's catalogue (clinic, treatment and course prices),
read from its public API: the booking service owns that data."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import AsyncIterator
from urllib.parse import quote

import aiohttp
from aiohttp import web

from services.payments.vouchers import CatalogueItem, VoucherError
from shared.keys import SETTINGS

CATALOGUE_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=2)


@dataclass(frozen=True)
class ClinicInfo:
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    voucher_validity_months: int


class Catalogue:
    def __init__(self, session: aiohttp.ClientSession, base_url: str):
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def _get(self, path: str) -> dict:
        try:
            async with self.session.get(f"{self.base_url}/api/v1/clinics/{path}") as resp:  # slugs are validated
                if resp.status == 404:
                    raise VoucherError(404, "clinic_not_found", "No such clinic")
                if resp.status != 200:
                    raise VoucherError(
                        503, "catalogue_unavailable", "The clinic's catalogue is unavailable; please retry"
                    )
                return await resp.json()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raise VoucherError(
                503, "catalogue_unavailable", "The clinic's catalogue is unavailable; please retry"
            ) from None

    async def clinic(self, slug: str) -> ClinicInfo:
        data = await self._get(quote(slug, safe=""))
        return ClinicInfo(
            uuid.UUID(data["id"]),
            data["slug"],
            data["name"],
            data["timezone"],
            data["policies"]["voucher_validity_months"],
        )

    async def treatment(self, slug: str, treatment_id: uuid.UUID) -> CatalogueItem:
        for t in (await self._get(f"{quote(slug, safe='')}/treatments"))["treatments"]:
            if t["id"] == str(treatment_id):
                return CatalogueItem(treatment_id, t["name"], t["price"]["amount"], t["price"]["currency"])
        raise VoucherError(404, "treatment_not_found", "This clinic has no such treatment")

    async def course(self, slug: str, course_id: uuid.UUID) -> CatalogueItem:
        for c in (await self._get(f"{quote(slug, safe='')}/courses"))["courses"]:
            if c["id"] == str(course_id):
                return CatalogueItem(
                    course_id,
                    c["name"],
                    c["price"]["amount"],
                    c["price"]["currency"],
                    c["sessions"],
                    uuid.UUID(c["treatment"]),
                )
        raise VoucherError(404, "course_not_found", "This clinic has no such course")


CATALOGUE = web.AppKey("catalogue", Catalogue)


async def catalogue_ctx(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession(timeout=CATALOGUE_TIMEOUT)
    app[CATALOGUE] = Catalogue(session, app[SETTINGS].upstream("booking"))
    yield
    await session.close()
