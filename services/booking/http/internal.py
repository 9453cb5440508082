"""The gateway's own call (the internal token, never routed from outside): whose is this API key or staff
member's session token."""

from __future__ import annotations

import pydantic
from aiohttp import web

from services.booking import accounts, reads
from services.booking.http import context, serialise
from services.booking.http import staff as staff_http
from services.booking.schemas import ApiKeyCheckIn
from shared.clinic_auth import OWNER, require_internal
from shared.http_input import read_json

routes = web.RouteTableDef()


@routes.post("/internal/v1/api-keys/verify")
async def verify_api_key(request: web.Request) -> web.Response:
    """Which clinic does this API key (or staff sign-in token) belong to, and with which role?"""
    require_internal(request)
    try:
        key = (await read_json(request, ApiKeyCheckIn)).key
    except pydantic.ValidationError:
        key = ""  # nothing we could have issued (too long, control characters…): not a key
    if accounts.is_session_token(key):  # a signed-in staff member's token: its clinic and role
        return web.json_response(await staff_http.session_check(context.pool(request), key))
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
