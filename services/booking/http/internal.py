"""The gateway's own calls (the internal token, never routed from outside): whose is this API key, whose are
this email and password."""

from __future__ import annotations

import pydantic
from aiohttp import web

from services.booking import reads, service
from services.booking.http import context, serialise
from services.booking.schemas import ApiKeyCheckIn, SignInIn
from shared.clinic_auth import OWNER, require_internal
from shared.http_input import read_json

routes = web.RouteTableDef()


@routes.post("/internal/v1/api-keys/verify")
async def verify_api_key(request: web.Request) -> web.Response:
    """Which clinic does this API key belong to?"""
    require_internal(request)
    try:
        key = (await read_json(request, ApiKeyCheckIn)).key
    except pydantic.ValidationError:
        key = ""  # nothing we could have issued (too long, control characters…): not a key
    row = await reads.key_owner(context.pool(request), key)
    return web.json_response(
        {
            "clinic_id": str(row["clinic_id"]),
            "clinic": row["slug"],
            "key_id": str(row["key_id"]),
            "expires_at": serialise.iso(row["expires_at"]),
            "role": OWNER,  # an API key acts as the clinic's owner
        }
    )


@routes.post("/internal/v1/staff/sign-in")
async def staff_sign_in(request: web.Request) -> web.Response:
    """The dashboard's sign-in: whose are this email and password? 401 if nobody's."""
    require_internal(request)
    body = await read_json(request, SignInIn)
    row = await service.sign_in(context.pool(request), body.email, body.password)
    return web.json_response(
        {
            "staff_id": str(row["id"]),
            "name": row["name"],
            "clinic_id": str(row["clinic_id"]),
            "clinic": row["slug"],
            "clinic_name": row["clinic_name"],
        }
    )
