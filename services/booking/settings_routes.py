"""The clinic API for the clinic's own settings (its owner only), and the clinic as other services look it up
by id. The rules are clinic_settings'; a change takes effect at once, for every request read after it."""

from __future__ import annotations

import uuid

from aiohttp import web

from services.booking import clinic_settings, payment_policy, store
from services.booking.catalogue_admin import CLINIC_CURRENCY
from services.booking.domain import Clinic
from services.booking.schemas import ClinicSettingsPatch
from shared.clinic_auth import owner_scope, require_internal
from shared.errors import ApiError
from shared.http_input import read_json
from shared.keys import DB

routes = web.RouteTableDef()
SETTINGS_PATH = "/api/v1/clinic/settings"
INTERNAL_CLINIC_PATH = "/internal/v1/clinics/{id}"


@routes.get(SETTINGS_PATH)
async def get_settings(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    async with request.app[DB].acquire() as conn:
        clinic = await store.get_clinic_by_id(conn, clinic_id)
        policy = await store.clinic_payment_policy(conn, clinic_id)
    return web.json_response(_settings_json(clinic, policy))


def _settings_json(clinic: Clinic, policy: dict) -> dict:
    """The settings object, and the clinic's payment policy (issue 20: kept apart from the Clinic the rules read)."""
    return {**clinic_settings.settings_json(clinic), "payment_policy": policy}


def _policy_of(given: object) -> dict | None:
    """The payment policy a change sets (None: it sets none); else 422 invalid_payment_policy, in a sentence."""
    if given is None:
        return None
    try:
        return payment_policy.parse(given, CLINIC_CURRENCY)
    except payment_policy.PolicyInvalid as invalid:
        raise ApiError(422, payment_policy.ERROR_TYPE, invalid.message) from None


@routes.patch(SETTINGS_PATH)
async def change_settings(request: web.Request) -> web.Response:
    """Every field given is checked (the body's rules, then those between settings) before one changes."""
    clinic_id = owner_scope(request)
    body = await read_json(request, ClinicSettingsPatch)
    policy = _policy_of(body.payment_policy)
    changes = clinic_settings.changes_of(body.model_dump(exclude_none=True, exclude={"payment_policy"}))
    async with request.app[DB].acquire() as conn, conn.transaction():
        # Locked: two owners' changes are judged one after the other, each on what the other left.
        current = await store.lock_clinic(conn, clinic_id)
        if problems := clinic_settings.conflicts(current, changes):
            raise ApiError(
                422, "validation_failed", "The settings are not valid", [problem.detail() for problem in problems]
            )
        clinic = await store.change_clinic_settings(conn, clinic_id, changes) if changes else current
        if policy is not None:
            await store.set_clinic_payment_policy(conn, clinic_id, policy)
        kept = await store.clinic_payment_policy(conn, clinic_id)
    return web.json_response(_settings_json(clinic, kept))


@routes.get(INTERNAL_CLINIC_PATH)
async def clinic_by_id(request: web.Request) -> web.Response:
    """Internal: a clinic by its id, as other services know it from the clinic API's X-Clinic-Id (payments'
    voucher report needs its zone)."""
    require_internal(request)
    try:
        clinic_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, "clinic_not_found", "No such clinic") from None
    async with request.app[DB].acquire() as conn:
        clinic = await store.get_clinic_by_id_or_none(conn, clinic_id)
    if clinic is None:
        raise ApiError(404, "clinic_not_found", "No such clinic")
    return web.json_response(
        {"id": str(clinic.id), "slug": clinic.slug, "name": clinic.name, "timezone": clinic.timezone}
    )
