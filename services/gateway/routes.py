"""Gateway routes: the API goes to the owning service, the pages to the web service."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from services.gateway.clinic_keys import KnownKey
from services.gateway.dashboard import session_clinic
from services.gateway.limits import enforce, may_check_alongside
from services.gateway.proxy import KEY_CHECKER, forward
from services.gateway.routing import route_for
from shared.clinic_auth import OWNER
from shared.errors import ApiError
from shared.keys import SETTINGS

routes = web.RouteTableDef()

CLINIC_API = "/api/v1/clinic/"
# A clinic's key revoked (DELETE) or rotated (POST .../rotate) here: /api/v1/clinic/api-keys/{id}[/rotate]
KEY_CHANGE = re.compile(r"^/api/v1/clinic/api-keys/([^/]+)(/rotate)?$")


ROUTE_TABLE = web.AppKey("route_table", tuple)  # of routing.Route


async def proxy(request: web.Request) -> web.StreamResponse:
    route = route_for(request.path, request.app[ROUTE_TABLE])
    if route is None or (route.prefix.startswith("/dev/") and not request.app[SETTINGS].development):
        raise web.HTTPNotFound()
    if not may_check_alongside(request):
        verdict = await enforce(request)
        response = await forward(request, route, await _clinic_of(request))
    else:
        # A read: the limit check's round trip overlaps the upstream's answer instead of preceding it.
        check = asyncio.ensure_future(enforce(request))
        try:
            response = await forward(request, route, await _clinic_of(request), admit=check)
        except BaseException:
            await _refusal_wins(check)
            raise
        verdict = check.result()
    if response.status < 300 and request.method in ("POST", "DELETE") and (changed := KEY_CHANGE.match(request.path)):
        request.app[KEY_CHECKER].forget(changed.group(1))
    if verdict is not None:
        response.headers.update(verdict.headers())
    return response


async def _refusal_wins(check: asyncio.Future) -> None:
    """The request failed before its limit check was awaited: if the check refuses it, that is the answer."""
    await asyncio.wait([check])
    if not check.cancelled() and isinstance(check.exception(), ApiError):
        raise check.exception()


async def _clinic_of(request: web.Request) -> KnownKey | None:
    """Who a clinic-API request acts for (401 if nobody); None for the public API."""
    if not request.path.startswith(CLINIC_API):
        return None
    # An integration sends its API key; the signed-in dashboard its session cookie.
    authorization = request.headers.get("Authorization")
    clinic_id = None if authorization else await session_clinic(request)
    if clinic_id is not None:
        return KnownKey(clinic_id, key_id="", good_until=0.0, role=OWNER)
    return await request.app[KEY_CHECKER].clinic_for(authorization)
