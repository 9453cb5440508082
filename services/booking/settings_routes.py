"""The clinic API for the clinic's own settings, scoped to the clinic whose key the gateway checked. For now
one: which of the clinic's websites may frame its booking pages; others join as the dashboard needs them."""

from __future__ import annotations

from aiohttp import web

from services.booking import store
from services.booking.domain import Clinic
from services.booking.schemas import ClinicSettingsPatch
from shared.clinic_auth import owner_scope
from shared.http_input import read_json
from shared.keys import DB

routes = web.RouteTableDef()
SETTINGS_PATH = "/api/v1/clinic/settings"


def settings_json(clinic: Clinic) -> dict:
    return {"embed_origins": list(clinic.embed_origins)}


@routes.get(SETTINGS_PATH)
async def get_settings(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    async with request.app[DB].acquire() as conn:
        return web.json_response(settings_json(await store.get_clinic_by_id(conn, clinic_id)))


@routes.patch(SETTINGS_PATH)
async def change_settings(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    body = await read_json(request, ClinicSettingsPatch)
    async with request.app[DB].acquire() as conn:
        if body.embed_origins is None:
            clinic = await store.get_clinic_by_id(conn, clinic_id)
        else:
            clinic = await store.set_embed_origins(conn, clinic_id, body.embed_origins)
    return web.json_response(settings_json(clinic))
