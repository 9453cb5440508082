"""Who a clinic API request is for. The gateway checks the clinic's API key (or a signed-in staff member's
session token) and forwards the clinic's id and the caller's role with the internal token; each service checks
them again and scopes every query by that clinic (defence in depth: a service never trusts a clinic header
without the token).

Roles: `owner` may do everything; `staff` (reception) runs the diary, bookings and vouchers but not API keys,
webhooks, staff accounts or settings. An API key acts as the owner who created it. The gateway always names
the role; a caller holding the internal token that names none is an operator's own tool, acting as owner."""

from __future__ import annotations

import hmac
import uuid

from aiohttp import web

from shared.config import InternalTokenSettings
from shared.errors import ApiError
from shared.keys import SETTINGS

CLINIC_ID_HEADER = "X-Clinic-Id"
CLINIC_ROLE_HEADER = "X-Clinic-Role"
# The caller's staff session id, when a signed-in staff member (not an API key) makes the request.
CLINIC_SESSION_HEADER = "X-Clinic-Session"
INTERNAL_TOKEN_HEADER = "X-Internal-Token"
OWNER, STAFF = "owner", "staff"
ROLES = (OWNER, STAFF)


def internal_caller(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    if not isinstance(settings, InternalTokenSettings):
        return False  # a process without the token (the web pages) answers no internal call
    given = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    return hmac.compare_digest(given.encode(), settings.internal_token.encode())


def require_internal(request: web.Request) -> None:
    """Another service's call. A request naming a clinic is the clinic API's, forwarded by the gateway with the same
    token: never an internal call (a second wall behind the gateway's routing, which keeps such paths out)."""
    if not internal_caller(request) or CLINIC_ID_HEADER in request.headers:
        raise ApiError(401, "unauthorized", "Internal API: missing or wrong token")


def clinic_scope(request: web.Request) -> uuid.UUID:
    """The clinic a clinic-API request acts for; 401 unless it came through the gateway's key check."""
    raw = request.headers.get(CLINIC_ID_HEADER, "")
    if not internal_caller(request) or not raw:
        raise ApiError(401, "unauthorized", "Send your clinic API key as `Authorization: Bearer <key>`")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(401, "unauthorized", "Send your clinic API key as `Authorization: Bearer <key>`") from None


def clinic_role(request: web.Request) -> str:
    """The role of whoever a clinic-API request acts for (call after `clinic_scope`)."""
    role = request.headers.get(CLINIC_ROLE_HEADER, OWNER)
    return role if role in ROLES else STAFF  # an unknown role gets the least


def owner_scope(request: web.Request) -> uuid.UUID:
    """`clinic_scope` for the owner's actions: a staff account is refused (403)."""
    clinic_id = clinic_scope(request)
    if clinic_role(request) != OWNER:
        raise ApiError(403, "owner_only", "Only the clinic's owner may do this; ask them to")
    return clinic_id
