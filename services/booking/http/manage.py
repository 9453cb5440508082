"""A booking's manage link (no key: the link's signed token, in the query or the body): see the booking,
cancel it, move it."""

from __future__ import annotations

from aiohttp import web

from services.booking import reads, service
from services.booking.http import context, serialise
from services.booking.schemas import ManageIn, RescheduleIn
from shared.db import retry_conflicts
from shared.http_input import read_json

routes = web.RouteTableDef()


def _token(request: web.Request, body: ManageIn) -> str | None:
    return body.token or request.query.get("token")


@routes.get("/api/v1/bookings/{id}")
async def get_booking(request: web.Request) -> web.Response:
    booking_id = context.booking_id(request)
    links = context.manage_links(request)
    service.check_manage_token(links, booking_id, request.query.get("token"), context.now())
    seen = await reads.booking(context.pool(request), booking_id)
    return web.json_response(
        serialise.booking(seen.reservation, seen.clinic, links, with_manage_url=False, now=context.now())
    )


@routes.post("/api/v1/bookings/{id}/cancel")
@retry_conflicts
async def cancel_booking(request: web.Request) -> web.Response:
    booking_id = context.booking_id(request)
    body = await context.optional_body(request, ManageIn)
    links, now = context.manage_links(request), context.now()
    service.check_manage_token(links, booking_id, _token(request, body), now)
    changed = await service.cancel(context.unit_of_work(request), booking_id, now)
    body = serialise.booking(changed.reservation, changed.clinic, links, with_manage_url=False, now=now)
    # A late cancellation's fee (issue 20), charged to the saved card; null: cancelling cost nothing.
    body["fee"] = serialise.money_or_none(changed.fee, changed.reservation.currency)
    return web.json_response(body)


@routes.post("/api/v1/bookings/{id}/reschedule")
@retry_conflicts
async def reschedule_booking(request: web.Request) -> web.Response:
    booking_id = context.booking_id(request)
    body = await read_json(request, RescheduleIn)
    links, now = context.manage_links(request), context.now()
    service.check_manage_token(links, booking_id, _token(request, body), now)
    changed = await service.reschedule(
        context.unit_of_work(request), booking_id, body.start, body.therapist, now, links
    )
    return web.json_response(
        serialise.booking(changed.reservation, changed.clinic, links, with_manage_url=True, now=now)
    )
