"""The booking service's client for the payments and notifications services' internal privacy API: what each
holds about a customer of a clinic (export), and erasing it (a dry run first). Whatever keeps a service from
answering (down, slow, an answer that is not the agreed shape) is 503 `privacy_service_unavailable`: an export
is never returned in part, and an erasure stops where it was (each part is idempotent, so the clinic retries).
A 409 from a service is its blocker, passed on as it said it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web

from services.booking.domain import BookingError
from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.keys import SETTINGS

SERVICES = ("payments", "notifications")
# The gateway gives the privacy routes 30 s: an erasure asks both services for a dry run at once, then each for
# the erasure in turn, so three of these fit.
PRIVACY_TIMEOUT = aiohttp.ClientTimeout(total=8, connect=2)


def unavailable(service: str) -> BookingError:
    return BookingError(
        503,
        "privacy_service_unavailable",
        f"The {service} service cannot answer just now. Nothing was exported; an erasure stopped part way is "
        "finished by asking again. Please try again in a minute",
        {"service": service},
    )


def _counts(answer: Any, key: str, service: str) -> dict[str, int]:
    found = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(found, dict) or not all(isinstance(v, int) for v in found.values()):
        raise unavailable(service)
    return found


class PrivacyClient:
    def __init__(self, session: aiohttp.ClientSession, base_urls: dict[str, str], token: str):
        self.session = session
        self.base_urls = {service: url.rstrip("/") for service, url in base_urls.items()}
        self.token = token

    async def _post(self, service: str, action: str, body: dict[str, Any]) -> Any:
        url = f"{self.base_urls[service]}/internal/v1/privacy/{action}"
        try:
            async with self.session.post(url, json=body, headers={INTERNAL_TOKEN_HEADER: self.token}) as resp:
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            raise unavailable(service) from None
        if resp.status == 409 and isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            error = answer["error"]
            details = error.get("details")
            blockers = (details or {}).get("blockers") if isinstance(details, dict) else None
            blocker = {"code": error.get("code", "conflict"), "message": error.get("message", ""), "details": details}
            raise BookingError(409, blocker["code"], blocker["message"], {"blockers": blockers or [blocker]})
        if resp.status != 200:
            raise unavailable(service)
        return answer

    async def export(
        self, service: str, clinic_id: uuid.UUID, email: str, more: dict[str, Any] | None = None
    ) -> dict[str, list]:
        """The service's records of this customer at this clinic, by kind (`more`: what else the service asks)."""
        answer = await self._post(service, "export", {"clinic_id": str(clinic_id), "email": email, **(more or {})})
        records = answer.get("records") if isinstance(answer, dict) else None
        if not isinstance(records, dict) or not all(isinstance(v, list) for v in records.values()):
            raise unavailable(service)
        return records

    async def erase(
        self, service: str, clinic_id: uuid.UUID, email: str, *, dry_run: bool, more: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A dry run: `{"erase", "keep", "blockers"}`; else `{"erased", "kept"}` (409: the service's blocker)."""
        body = {"clinic_id": str(clinic_id), "email": email, "dry_run": dry_run, **(more or {})}
        answer = await self._post(service, "erase", body)
        if dry_run:
            blockers = answer.get("blockers", [])
            if not isinstance(blockers, list):
                raise unavailable(service)
            return {
                "erase": _counts(answer, "erase", service),
                "keep": _counts(answer, "keep", service),
                "blockers": blockers,
            }
        return {"erased": _counts(answer, "erased", service), "kept": _counts(answer, "kept", service)}


PRIVACY = web.AppKey("privacy", PrivacyClient)


async def privacy_client_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    session = aiohttp.ClientSession(timeout=PRIVACY_TIMEOUT)
    app[PRIVACY] = PrivacyClient(
        # Named one by one: deploy's NetworkPolicy test finds who calls whom by these calls.
        session,
        {"payments": settings.upstream("payments"), "notifications": settings.upstream("notifications")},
        settings.internal_token,
    )
    yield
    await session.close()
