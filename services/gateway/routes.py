"""Gateway routes: the API goes to the owning service, the pages to the web service."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from services.gateway.clinic_keys import KnownKey
from services.gateway.limits import enforce, may_check_alongside
from services.gateway.proxy import KEY_CHECKER, forward
from services.gateway.routing import route_for
from shared.errors import ApiError
from shared.keys import SETTINGS

routes = web.RouteTableDef()

CLINIC_API = "/api/v1/clinic/"
# A clinic's key revoked (DELETE) or rotated (POST .../rotate) here: /api/v1/clinic/api-keys/{id}[/rotate]
KEY_CHANGE = re.compile(r"^/api/v1/clinic/api-keys/([^/]+)(/rotate)?$")
# A staff member signed out (DELETE): that token is forgotten; a staff account removed (DELETE): its sessions are.
SIGN_OUT = "/api/v1/clinic/session"
STAFF_REMOVAL = re.compile(r"^/api/v1/clinic/staff/([^/]+)$")


ROUTE_TABLE = web.AppKey("route_table", tuple)  # of routing.Route


async def proxy(request: web.Request) -> web.StreamResponse:
    route = route_for(request.path, request.app[ROUTE_TABLE])
    if route is None or (route.prefix.startswith("/dev/") and not request.app[SETTINGS].development):
        raise web.HTTPNotFound()
    if not may_check_alongside(request):
        verdict = await enforce(request)
        caller = await _clinic_of(request)
        response = await forward(request, route, caller)
    else:
        # A read: the limit check's round trip overlaps the upstream's answer instead of preceding it.
        check = asyncio.ensure_future(enforce(request))
        try:
            caller = await _clinic_of(request)
            response = await forward(request, route, caller, admit=check)
        except BaseException:
            await _refusal_wins(check)
            raise
        verdict = check.result()
    if response.status < 300 and request.method in ("POST", "DELETE") and (changed := KEY_CHANGE.match(request.path)):
        request.app[KEY_CHECKER].forget(changed.group(1))
    if response.status < 300 and request.method == "DELETE":
        if request.path == SIGN_OUT:
            request.app[KEY_CHECKER].forget_credential(request.headers.get("Authorization"))
        elif removed := STAFF_REMOVAL.match(request.path):
            request.app[KEY_CHECKER].forget_staff(removed.group(1))
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
    # Only `Authorization: Bearer`: an integration's API key, or a staff member's token (the dashboard, in
    # services/web, sends the signed-in staff member's). No cookie is a credential here.
    return await request.app[KEY_CHECKER].clinic_for(request.headers.get("Authorization"))
