"""What the handlers of every audience take from the request and the app: the time, a unit of work, the pool
for reads, the manage links, the health-data sealer, a path id and an optional body."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import asyncpg
from aiohttp import web

from services.booking import accounts_service, service
from services.booking.clinic_actions_store import Actor
from services.booking.unit_of_work import PostgresUnitOfWork
from shared.clinic_auth import CLINIC_SESSION_HEADER, clinic_role
from shared.errors import ApiError
from shared.http_input import Model, read_json
from shared.keys import DB, SETTINGS
from shared.sealing import Sealer


def now() -> datetime:
    return datetime.now(timezone.utc)


def unit_of_work(request: web.Request) -> PostgresUnitOfWork:
    return PostgresUnitOfWork(request.app[DB])


def pool(request: web.Request) -> asyncpg.Pool:
    return request.app[DB]


def manage_links(request: web.Request) -> service.Links:
    settings = request.app[SETTINGS]
    return service.Links(settings.public_url, settings.manage_link_key)


def health(request: web.Request) -> Sealer:
    return service.health_sealer(request.app[SETTINGS].health_data_key)


def path_id(request: web.Request, not_found: str, message: str) -> uuid.UUID:
    """The `{id}` of the path; a malformed one is as unknown as a well-formed one nobody has (404)."""
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, not_found, message) from None


def booking_id(request: web.Request) -> uuid.UUID:
    return path_id(request, "booking_not_found", "No such booking")


async def optional_body(request: web.Request, model: type[Model]) -> Model:
    """The body if there is one, else the model's defaults."""
    if request.can_read_body:
        return await read_json(request, model)
    return model()


async def actor(request: web.Request, clinic_id: uuid.UUID) -> Actor:
    """Who acts for the clinic (the caller's scope checked it): the role the gateway names, and the staff account of
    a signed-in session (the gateway's CLINIC_SESSION_HEADER; none for an API key, which acts as the owner). A
    session that has ended meanwhile is 401, as on GET /api/v1/clinic/me."""
    session_id = None
    if raw := request.headers.get(CLINIC_SESSION_HEADER):
        try:
            session_id = uuid.UUID(raw)
        except ValueError:
            raise ApiError(401, "unauthorized", "Send your clinic API key as `Authorization: Bearer <key>`") from None
    account = await accounts_service.caller(pool(request), clinic_id, session_id)
    return Actor(clinic_role(request), account["id"] if account is not None else None)
