"""The clinic API's data-protection requests (owner only; services/booking/privacy.py): export everything held
about a customer, erase them, and the audit log of both. The customer is named by email in the body."""

from __future__ import annotations

import uuid

from aiohttp import web

from services.booking import privacy
from services.booking.clinic_actions_store import Actor
from services.booking.http import context
from services.booking.privacy_client import PRIVACY
from services.booking.schemas import PrivacyEraseIn, PrivacySubjectIn
from shared.clinic_auth import owner_scope
from shared.db import retry_conflicts
from shared.errors import ApiError
from shared.http_input import read_json
from shared.keys import SETTINGS

routes = web.RouteTableDef()
DEFAULT_LISTED = 50


async def _owner(request: web.Request) -> tuple[uuid.UUID, Actor]:
    """The clinic, and who acts for it (recorded on the audit entry as the clinic's actions record theirs). Staff
    are refused (403)."""
    clinic_id = owner_scope(request)
    return clinic_id, await context.actor(request, clinic_id)


def _subject(request: web.Request, clinic_id: uuid.UUID, email: str) -> privacy.Subject:
    return privacy.subject(request.app[SETTINGS].health_data_key, clinic_id, email)


@routes.post("/api/v1/clinic/privacy/export")
async def export_customer(request: web.Request) -> web.Response:
    clinic_id, actor = await _owner(request)
    body = await read_json(request, PrivacySubjectIn)
    now = context.now()
    document = await privacy.export(
        context.pool(request),
        request.app[PRIVACY],
        context.health(request),
        _subject(request, clinic_id, body.email),
        actor,
        now,
    )
    day = document["exported_at"][:10]  # the clinic's date
    return web.json_response(
        document,
        headers={
            "Content-Disposition": f'attachment; filename="customer-data-{day}.json"',
            "Cache-Control": "no-store",
        },
    )


@routes.post("/api/v1/clinic/privacy/erase")
@retry_conflicts
async def erase_customer(request: web.Request) -> web.Response:
    clinic_id, actor = await _owner(request)
    body = await read_json(request, PrivacyEraseIn)
    answer = await privacy.erase(
        context.pool(request),
        request.app[PRIVACY],
        _subject(request, clinic_id, body.email),
        actor,
        context.now(),
        dry_run=body.dry_run,
    )
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LISTED
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= privacy.MAX_REQUESTS_LISTED:
        problem = f"must be a whole number from 1 to {privacy.MAX_REQUESTS_LISTED}"
        raise ApiError(
            422,
            "validation_failed",
            f"`limit` {problem}",
            [{"field": "limit", "in": "query", "message": problem, "type": "int_parsing"}],
        )
    return int(raw)


@routes.get("/api/v1/clinic/privacy/requests")
async def list_requests(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    found = await privacy.requests(context.pool(request), clinic_id, _limit(request))
    return web.json_response({"requests": found}, headers={"Cache-Control": "no-store"})
