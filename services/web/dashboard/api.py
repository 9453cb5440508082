"""The dashboard's calls. The clinic API goes through the gateway (its internal address), which turns the staff
member's bearer token into their clinic and role, exactly as for any integration's key; the public account calls
(sign in, set a password) go to the booking service's public API as every other page's public calls do (the
gateway counts the page's own sign-in posts against its per-address sign-in limit, once). Requests, errors and
the client's address are services/web/api.py's: ApiRefused for a 4xx, ApiUnavailable for the rest."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from aiohttp import web

from services.web.api import Api, ApiRefused

T = TypeVar("T")

GATEWAY_URL = web.AppKey("dashboard_gateway_url", str)


class SessionExpired(Exception):
    """The clinic API no longer takes the session's token (401): signed out elsewhere, removed, or expired."""


# --- before signing in: the public account API (booking) -------------------------------------------------


async def sign_in(api: Api, email: str, password: str) -> dict:
    """201 {token, expires_at, staff, clinic}; ApiRefused 401 (no such email and password), 429 (too many)."""
    return await api._call(
        "POST", f"{api.booking_url}/api/v1/staff/sessions", json={"email": email, "password": password}
    )


async def set_password(api: Api, token: str, password: str) -> dict:
    """{staff, clinic}; ApiRefused 410 (link_expired, link_used), 422 (a weak password)."""
    return await api._call(
        "POST", f"{api.booking_url}/api/v1/staff/password", json={"token": token, "password": password}
    )


# --- signed in: the clinic API (through the gateway) -----------------------------------------------------


@dataclass
class ClinicApi:
    api: Api  # this request's plumbing (its client's address, the request id)
    gateway_url: str
    token: str  # the staff member's bearer token, from their session

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """`path` of the clinic API, as the signed-in staff member; SessionExpired if the API no longer knows them."""
        return await self._as_staff(self.api._call, method, path, **kwargs)

    async def download(self, method: str, path: str, **kwargs: Any) -> tuple[bytes, Mapping[str, str]]:
        """`call`, for an answer that is a file: its body as sent and its headers (its Content-Disposition)."""
        return await self._as_staff(self.api._answer_and_headers, method, path, **kwargs)

    async def _as_staff(self, send: Callable[..., Awaitable[T]], method: str, path: str, **kwargs: Any) -> T:
        try:
            return await send(
                method, f"{self.gateway_url}{path}", extra_headers={"Authorization": f"Bearer {self.token}"}, **kwargs
            )
        except ApiRefused as exc:
            if exc.status == 401:
                raise SessionExpired() from None
            raise

    async def me(self) -> dict:
        return await self.call("GET", "/api/v1/clinic/me")

    async def end_session(self) -> None:
        await self.call("DELETE", "/api/v1/clinic/session")

    async def staff(self) -> list[dict]:
        return (await self.call("GET", "/api/v1/clinic/staff"))["staff"]

    async def invite(self, email: str, name: str, role: str) -> dict:
        return await self.call("POST", "/api/v1/clinic/staff", json={"email": email, "name": name, "role": role})

    async def remove(self, staff_id: uuid.UUID) -> None:
        await self.call("DELETE", f"/api/v1/clinic/staff/{staff_id}")
