"""The waitlist's API (services/booking/waitlist.py): customers join (no key), read an offer and leave by the signed
links they were emailed; the clinic (staff and owner) lists its waitlist and removes entries."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from services.booking import waitlist, waitlist_rules
from services.booking.domain import Clinic
from services.booking.http import context, serialise
from services.booking.waitlist_schemas import WaitlistIn, WaitlistLeaveIn
from shared.clinic_auth import clinic_scope
from shared.db import retry_conflicts
from shared.http_input import query_choice, read_json
from shared.keys import SETTINGS

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}


def _links(request: web.Request) -> waitlist.Links:
    settings = request.app[SETTINGS]
    return waitlist.Links(settings.public_url, settings.manage_link_key)


# --- customers -------------------------------------------------------------------------------------------


@routes.post("/api/v1/waitlist")
@retry_conflicts
async def join(request: web.Request) -> web.Response:
    body = await read_json(request, WaitlistIn)
    links = _links(request)
    joined = await waitlist.join(context.pool(request), links, body)
    entry = joined.entry
    return web.json_response(
        {"id": str(entry["id"]), "status": entry["status"], "leave_url": links.leave_url(entry["id"])},
        status=201 if joined.created else 200,
        headers=NO_STORE,
    )


@routes.get("/api/v1/waitlist/offers/{id}")
async def get_offer(request: web.Request) -> web.Response:
    offer_id = context.path_id(request, "waitlist_offer_not_found", "No such offer")
    found = await waitlist.offer(
        context.pool(request), _links(request), offer_id, request.query.get("token"), context.now()
    )
    zone = ZoneInfo(found["clinic_timezone"])
    return web.json_response(
        {
            "id": str(found["id"]),
            "status": found["status"],
            "expires_at": found["expires_at"].isoformat(),
            "hold": {"id": str(found["booking_id"]), "expires_at": serialise.iso(found["hold_expires_at"])},
            "start": found["starts_at"].astimezone(zone).isoformat(),
            "end": found["ends_at"].astimezone(zone).isoformat(),
            "treatment": {"id": str(found["treatment_id"]), "name": found["treatment_name"]},
            "therapist": {"id": str(found["therapist_id"]), "name": found["therapist_name"]},
            "clinic": {
                "slug": found["clinic_slug"],
                "name": found["clinic_name"],
                "timezone": found["clinic_timezone"],
            },
        },
        headers=NO_STORE,
    )


@routes.post("/api/v1/waitlist/{id}/leave")
@retry_conflicts
async def leave(request: web.Request) -> web.Response:
    entry_id = context.path_id(request, "waitlist_entry_not_found", "No such waitlist entry")
    body = await read_json(request, WaitlistLeaveIn)
    status = await waitlist.leave(context.pool(request), _links(request), entry_id, body.token)
    return web.json_response({"status": status}, headers=NO_STORE)


# --- the clinic --------------------------------------------------------------------------------------------


def _entry_json(row: asyncpg.Record, clinic: Clinic) -> dict:
    offer = None
    if row["offer_id"] is not None:
        offer = {
            "id": str(row["offer_id"]),
            "starts_at": serialise.local(row["offer_starts_at"], clinic),
            "expires_at": row["offer_expires_at"].isoformat(),
            "status": row["offer_status"],
        }
    return {
        "id": str(row["id"]),
        "treatment": {"id": str(row["treatment_id"]), "name": row["treatment_name"]},
        "therapist": {"id": str(row["therapist_id"]), "name": row["therapist_name"]} if row["therapist_id"] else None,
        "weekdays": list(row["weekdays"]),
        "times_of_day": list(row["times_of_day"]),
        "wishes": waitlist_rules.wish_in_words(row["weekdays"], row["times_of_day"]),
        "customer": {"name": row["customer_name"], "email": row["customer_email"]},
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
        "offer": offer,
    }


@routes.get("/api/v1/clinic/waitlist")
async def clinic_waitlist(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    status = query_choice(request, "status", waitlist_rules.STATUSES)
    clinic, rows = await waitlist.clinic_entries(context.pool(request), clinic_id, status)
    return web.json_response({"entries": [_entry_json(r, clinic) for r in rows]}, headers=NO_STORE)


@routes.delete("/api/v1/clinic/waitlist/{id}")
@retry_conflicts
async def remove_entry(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    entry_id = context.path_id(request, "waitlist_entry_not_found", "No such waitlist entry")
    clinic, row = await waitlist.remove(context.pool(request), clinic_id, entry_id)
    return web.json_response(_entry_json(row, clinic), headers=NO_STORE)
