"""Therapists' schedules in the clinic API: the week's hours and breaks (the owner changes them, staff read them)
and time off (owner and staff; only the owner may confirm time off over bookings). The contract is
services/booking/schedules_spec.py; the rules services/booking/schedules.py; the transactions
services/booking/schedule_changes.py."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from services.booking import schedule_changes
from services.booking.availability import Interval, WeeklyTime
from services.booking.http import context
from services.booking.schedule_changes import InTheWay
from services.booking.schedules import Problem, Reserved, clock, time_off_problems, week_problems
from services.booking.schedules_spec import HOURS_PATH, TIME_OFF_ITEM_PATH, TIME_OFF_PATH, TimeOffIn, WeekIn
from services.booking.schedules_store import TimeOff, Week
from shared.clinic_auth import OWNER, clinic_role, clinic_scope, owner_scope
from shared.errors import ApiError
from shared.http_input import read_json

routes = web.RouteTableDef()
# A time off id as the database makes them (bigserial): anything else names nothing.
_TIME_OFF_ID = re.compile(r"[1-9][0-9]{0,17}")


def _therapist_id(request: web.Request) -> uuid.UUID:
    return context.path_id(request, "therapist_not_found", "This clinic has no such therapist")


def _invalid(problems: list[Problem]) -> ApiError:
    return ApiError(422, "validation_failed", "The request body is not valid", [p.detail() for p in problems])


def _local(instant: datetime, timezone: str) -> str:
    return instant.astimezone(ZoneInfo(timezone)).isoformat()


def _in_the_way(refused: InTheWay) -> ApiError:
    count = len(refused.bookings)
    return ApiError(
        409,
        "bookings_in_the_way",
        f"{count} booking{'s' if count != 1 else ''} would be outside the therapist's working time: move "
        f'{"them" if count != 1 else "it"} first, or send the change again with "confirm": true',
        {"bookings": [_reserved_json(r, refused.timezone) for r in refused.bookings]},
    )


def _reserved_json(r: Reserved, timezone: str) -> dict:
    return {
        "id": str(r.id),
        "status": r.status,
        "start": _local(r.start, timezone),
        "end": _local(r.end, timezone),
        "treatment": r.treatment,
        "customer_name": r.customer_name,
    }


# --- the week ------------------------------------------------------------------------------------


def _spans(items: list[WeeklyTime]) -> list[dict]:
    return [{"weekday": i.weekday, "start": clock(i.start), "end": clock(i.end)} for i in items]


def _week_json(therapist_id: uuid.UUID, week: Week) -> dict:
    return {
        "therapist": str(therapist_id),
        "timezone": week.timezone,
        "hours": _spans(week.hours),
        "breaks": _spans(week.breaks),
    }


@routes.get(HOURS_PATH)
async def get_hours(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    therapist_id = _therapist_id(request)
    return web.json_response(
        _week_json(therapist_id, await schedule_changes.week(context.pool(request), clinic_id, therapist_id))
    )


@routes.put(HOURS_PATH)
async def put_hours(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    therapist_id = _therapist_id(request)
    body = await read_json(request, WeekIn)
    hours = [WeeklyTime(h.weekday, h.start, h.end) for h in body.hours]
    breaks = [WeeklyTime(b.weekday, b.start, b.end) for b in body.breaks]
    if problems := week_problems(hours, breaks):
        raise _invalid(problems)
    try:
        week = await schedule_changes.replace_week(
            context.pool(request), clinic_id, therapist_id, hours, breaks, context.now(), confirm=body.confirm
        )
    except InTheWay as refused:
        raise _in_the_way(refused) from None
    return web.json_response(_week_json(therapist_id, week))


# --- time off ------------------------------------------------------------------------------------


def _time_off_json(off: TimeOff, timezone: str) -> dict:
    return {
        "id": str(off.id),
        "start": _local(off.start, timezone),
        "end": _local(off.end, timezone),
        "reason": off.reason,
    }


@routes.get(TIME_OFF_PATH)
async def list_time_off(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    therapist_id = _therapist_id(request)
    found = await schedule_changes.time_off(context.pool(request), clinic_id, therapist_id, context.now())
    return web.json_response(
        {
            "therapist": str(therapist_id),
            "timezone": found.timezone,
            "time_off": [_time_off_json(off, found.timezone) for off in found.time_off],
        }
    )


@routes.post(TIME_OFF_PATH)
async def add_time_off(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)  # reception books holidays too
    therapist_id = _therapist_id(request)
    body = await read_json(request, TimeOffIn)
    if body.confirm and clinic_role(request) != OWNER:
        raise ApiError(403, "owner_only", "Only the clinic's owner may add time off over bookings; ask them to")
    if problems := time_off_problems(body.start, body.end):
        raise _invalid(problems)
    try:
        timezone, added = await schedule_changes.add_time_off(
            context.pool(request),
            clinic_id,
            therapist_id,
            Interval(body.start, body.end),
            body.reason,
            context.now(),
            confirm=body.confirm,
        )
    except InTheWay as refused:
        raise _in_the_way(refused) from None
    return web.json_response(_time_off_json(added, timezone), status=201)


@routes.delete(TIME_OFF_ITEM_PATH)
async def remove_time_off(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    therapist_id = _therapist_id(request)
    raw = request.match_info["time_off_id"]
    if not _TIME_OFF_ID.fullmatch(raw):
        raise ApiError(404, "time_off_not_found", "This therapist has no such time off")
    await schedule_changes.remove_time_off(context.pool(request), clinic_id, therapist_id, int(raw))
    return web.Response(status=204)
