"""The clinic API (`Authorization: Bearer <api key>`, checked by the gateway; everything scoped to the key's
clinic): its bookings and their outcomes, and its API keys. (Its settings: services/booking/settings_routes.py.)"""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from services.booking import clinic_actions_store, domain, key_management, reads, service, store
from services.booking.domain import Clinic
from services.booking.http import context, serialise
from services.booking.schemas import ApiKeyIn, RotateKeyIn
from shared.clinic_auth import clinic_scope, owner_scope
from shared.http_input import query_day, read_json
from shared.sealing import Sealer

routes = web.RouteTableDef()


# --- bookings ------------------------------------------------------------------------------------


def _clinic_booking_json(seen: store.ClinicBooking, clinic: Clinic, health: Sealer, *, with_answers: bool) -> dict:
    booking = seen.reservation
    body = {
        "id": str(booking.id),
        "status": booking.status,
        "start": serialise.local(booking.start, clinic),
        "end": serialise.local(booking.end, clinic),
        "treatment": {"id": str(booking.treatment_id), "name": seen.treatment_name},
        "therapist": {"id": str(booking.therapist_id), "name": seen.therapist_name},
        "customer": {
            **serialise.customer(booking.customer),
            "phone": booking.customer.phone if booking.customer else None,
        },
        "price": serialise.money(booking.price_amount, booking.currency),
        # Left to pay at the clinic (issue 20: a deposit booking); the diary's booking page says it.
        "due_at_clinic": serialise.money(booking.due_at_clinic, booking.currency),
        # Its no-show and late-cancellation fees (issue 20), as fixed when it was booked; null: none.
        "fees": serialise.fees(booking),
        "series": {"id": str(booking.series_id), "index": booking.series_index} if booking.series_id else None,
        "screening": None,
    }
    if seen.screening_outcome is not None:
        kept = health.open(seen.screening_sealed) if seen.screening_sealed else {"answers": None, "flags": []}
        body["screening"] = {"outcome": seen.screening_outcome, "flags": kept["flags"]}
        if with_answers:  # health data: only on the single-booking view, only to this clinic
            body["screening"]["answers"] = kept["answers"]
    return body


@routes.get("/api/v1/clinic/bookings")
async def clinic_bookings(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    first, last = query_day(request, "from"), query_day(request, "to")
    found = await reads.clinic_bookings(context.pool(request), clinic_id, first, last, context.now())
    health = context.health(request)
    return web.json_response(
        {
            "from": found.first.isoformat(),
            "to": found.last.isoformat(),
            "bookings": [_clinic_booking_json(s, found.clinic, health, with_answers=False) for s in found.bookings],
        }
    )


def _record_json(record: clinic_actions_store.Record) -> dict:
    """What the clinic's actions left on a booking (as the actions' own answers show it, http/clinic_actions.py):
    who booked it, how it is paid, who cancelled it and why, and every action with who took it."""
    return {
        "booked_by": record.booked_by,
        "payment": {"mode": record.payment_mode},
        "cancellation": (
            {"by": record.cancelled_by, "reason": record.cancel_reason} if record.cancelled_by is not None else None
        ),
        "actions": [
            {
                "action": row["action"],
                "role": row["role"],
                "staff_id": str(row["staff_id"]) if row["staff_id"] else None,
                "detail": row["detail"],
                "at": row["at"].isoformat(),
            }
            for row in record.actions
        ],
    }


@routes.get("/api/v1/clinic/bookings/{id}")
async def clinic_booking(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    booking_id = context.booking_id(request)
    found = await reads.clinic_booking(context.pool(request), clinic_id, booking_id)
    body = _clinic_booking_json(found.seen, found.clinic, context.health(request), with_answers=True)
    # The booking's page (the dashboard's) shows how it was booked and paid, and what the clinic did to it.
    async with context.pool(request).acquire() as conn:
        record = await clinic_actions_store.record_of(conn, clinic_id, booking_id)
    if record is not None:  # None only if it went in between: the booking as it was read
        body.update(_record_json(record))
    booking = found.seen.reservation
    body["voucher"] = (
        {key: booking.voucher.get(key) for key in ("code_hint", "value", "remaining")} if booking.voucher else None
    )
    body["created_at"] = serialise.iso(booking.created_at)
    return web.json_response(body)


async def _record_outcome(request: web.Request, outcome: str) -> web.Response:
    clinic_id = clinic_scope(request)
    booking_id = context.booking_id(request)
    await service.record_outcome(context.unit_of_work(request), clinic_id, booking_id, outcome, context.now())
    found = await reads.clinic_booking(context.pool(request), clinic_id, booking_id)
    return web.json_response(
        _clinic_booking_json(found.seen, found.clinic, context.health(request), with_answers=False)
    )


@routes.post("/api/v1/clinic/bookings/{id}/complete")
async def complete_booking(request: web.Request) -> web.Response:
    return await _record_outcome(request, domain.OUTCOMES["complete"])


@routes.post("/api/v1/clinic/bookings/{id}/no-show")
async def no_show_booking(request: web.Request) -> web.Response:
    return await _record_outcome(request, domain.OUTCOMES["no-show"])


# --- API keys ------------------------------------------------------------------------------------


def _api_key_json(row: asyncpg.Record) -> dict:
    """Never the key itself (only its hash is kept): the prefix tells keys apart."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "prefix": row["prefix"],
        "created_at": row["created_at"].isoformat(),
        "last_used_at": serialise.iso(row["last_used_at"]),
        "expires_at": serialise.iso(row["expires_at"]),
        "revoked_at": serialise.iso(row["revoked_at"]),
        "replaced_by": str(row["replaced_by"]) if row["replaced_by"] else None,
    }


def _new_key_json(new: key_management.NewKey) -> dict:
    return {**_api_key_json(new.record), "key": new.key}


def _key_id(request: web.Request) -> uuid.UUID:
    return context.path_id(request, "api_key_not_found", "No such API key")


@routes.get("/api/v1/clinic/api-keys")
async def list_api_keys(request: web.Request) -> web.Response:
    rows = await reads.api_keys_of(context.pool(request), owner_scope(request))
    return web.json_response({"api_keys": [_api_key_json(r) for r in rows]})


@routes.post("/api/v1/clinic/api-keys")
async def create_api_key(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    body = await read_json(request, ApiKeyIn)
    new = await service.create_api_key(context.pool(request), clinic_id, body.name)
    return web.json_response(_new_key_json(new), status=201)


@routes.post("/api/v1/clinic/api-keys/{id}/rotate")
async def rotate_api_key(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    key_id = _key_id(request)
    body = await context.optional_body(request, RotateKeyIn)
    new, old = await service.rotate_api_key(context.pool(request), clinic_id, key_id, body.grace_hours, context.now())
    return web.json_response({**_new_key_json(new), "replaces": _api_key_json(old)}, status=201)


@routes.delete("/api/v1/clinic/api-keys/{id}")
async def revoke_api_key(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    key_id = _key_id(request)
    row = await service.revoke_api_key(context.pool(request), clinic_id, key_id)
    return web.json_response(_api_key_json(row))
