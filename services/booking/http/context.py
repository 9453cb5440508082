"""What the handlers of every audience take from the request and the app: the time, a unit of work, the pool
for reads, the manage links, the health-data sealer, a path id and an optional body."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import asyncpg
from aiohttp import web

from services.booking import service
from services.booking.unit_of_work import PostgresUnitOfWork
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
