"""The clinic's diary (clinic API, owner and staff): its therapists' days over one to seven days, in the clinic's
zone, with hours, breaks, time off, holds and bookings (services/booking/diary.py decides what is shown and
builds the answer)."""

from __future__ import annotations

import orjson
from aiohttp import web

from services.booking import diary_store
from services.booking.http import context
from shared.clinic_auth import clinic_scope
from shared.http_input import query_day, query_uuid

routes = web.RouteTableDef()
DIARY_PATH = "/api/v1/clinic/diary"


@routes.get(DIARY_PATH)
async def get_diary(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)  # owner or staff: reception runs the diary
    first, last = query_day(request, "from"), query_day(request, "to")
    therapist_id = query_uuid(request, "therapist")
    found = await diary_store.diary(context.pool(request), clinic_id, first, last, therapist_id, context.now())
    # orjson: a busy clinic's week is ~70 KB of JSON, which it writes in a fraction of the standard library's time.
    return web.Response(body=orjson.dumps(found), content_type="application/json")
