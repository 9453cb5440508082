"""Who a clinic API request is for. The gateway checks the clinic's API key and forwards the clinic's
id with the internal token; each service checks both again and scopes every query by that clinic
(defence in depth: a service never trusts a clinic header without the token)."""

from __future__ import annotations

import hmac
import uuid

from aiohttp import web

from shared.config import InternalTokenSettings
from shared.errors import ApiError
from shared.keys import SETTINGS

CLINIC_ID_HEADER = "X-Clinic-Id"
INTERNAL_TOKEN_HEADER = "X-Internal-Token"


def internal_caller(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    if not isinstance(settings, InternalTokenSettings):
        return False  # a process without the token (the web pages) answers no internal call
    given = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    return hmac.compare_digest(given.encode(), settings.internal_token.encode())


def require_internal(request: web.Request) -> None:
    if not internal_caller(request):
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
