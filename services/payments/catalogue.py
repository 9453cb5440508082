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

from services.payments.vouchers import MAX_AMOUNT, MIN_AMOUNT, CatalogueItem, VoucherError
from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.keys import SETTINGS

CATALOGUE_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=2)


@dataclass(frozen=True)
class ClinicInfo:
    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    voucher_validity_months: int
    # What a voucher of money may be worth at this clinic (its settings; the defaults if the clinic's JSON
    # does not say).
    voucher_min_amount: int = MIN_AMOUNT
    voucher_max_amount: int = MAX_AMOUNT

    @property
    def voucher_limits(self) -> tuple[int, int]:
        return self.voucher_min_amount, self.voucher_max_amount


@dataclass(frozen=True)
class ClinicZone:
    """A clinic as the clinic API's X-Clinic-Id names it, for what payments reckons in its wall time."""

    id: uuid.UUID
    slug: str
    timezone: str


class Catalogue:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, internal_token: str = ""):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.internal_token = internal_token

    async def _get(self, path: str, *, internal: bool = False) -> dict:
        url = f"{self.base_url}/internal/v1/clinics/{path}" if internal else f"{self.base_url}/api/v1/clinics/{path}"
        headers = {INTERNAL_TOKEN_HEADER: self.internal_token} if internal else None
        try:
            async with self.session.get(url, headers=headers) as resp:  # slugs are validated, ids are uuids
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
            data["policies"].get("voucher_min_amount", MIN_AMOUNT),
            data["policies"].get("voucher_max_amount", MAX_AMOUNT),
        )

    async def clinic_by_id(self, clinic_id: uuid.UUID) -> ClinicZone:
        """The clinic (through the booking service's internal API: the public one knows clinics by slug)."""
        data = await self._get(str(clinic_id), internal=True)
        return ClinicZone(uuid.UUID(data["id"]), data["slug"], data["timezone"])

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
    app[CATALOGUE] = Catalogue(session, app[SETTINGS].upstream("booking"), app[SETTINGS].internal_token)
    yield
    await session.close()
