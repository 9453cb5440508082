"""Therapists' calendar feeds: the owner makes, inspects and revokes a therapist's secret `.ics` URL (clinic API),
and calendar apps poll that URL (public, the token its only credential). What a feed shows and why:
services/booking/calendar_feed.py."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from services.booking import calendar_feed, calendar_feed_store
from services.booking.http import context
from shared.clinic_auth import owner_scope
from shared.errors import ApiError
from shared.keys import SETTINGS

routes = web.RouteTableDef()
MANAGE_PATH = "/api/v1/clinic/therapists/{id}/calendar-feed"
FEED_PREFIX = "/api/v1/calendar"
FEED_PATH = FEED_PREFIX + "/{token}.ics"
# The answer to a wrong, revoked or malformed token: the router's own 404, so nothing tells them apart.
FEED_NOT_FOUND = ("not_found", "No such resource")
# A secret URL, or what only a holder of one sees: not kept by any cache on the way.
NO_STORE = {"Cache-Control": "no-store"}


def _therapist_id(request: web.Request) -> uuid.UUID:
    return context.path_id(request, "therapist_not_found", "No such therapist")


def feed_url(request: web.Request, token: str) -> str:
    return f"{request.app[SETTINGS].public_url}{FEED_PREFIX}/{token}.ics"


@routes.post(MANAGE_PATH)
async def make_feed(request: web.Request) -> web.Response:
    """A new secret URL, shown this once; it replaces (revokes) the therapist's earlier one. Only its digest is
    kept, so a retried request cannot answer with the same URL: it makes another, which is as safe (the one whose
    answer was lost reached nobody)."""
    clinic_id = owner_scope(request)
    therapist_id = _therapist_id(request)
    token = calendar_feed.new_token()
    made = await calendar_feed_store.replace(
        context.pool(request), clinic_id, therapist_id, calendar_feed.digest(token)
    )
    return web.json_response(
        {"url": feed_url(request, token), "created_at": made.isoformat()}, status=201, headers=NO_STORE
    )


@routes.get(MANAGE_PATH)
async def feed_state(request: web.Request) -> web.Response:
    """Whether the therapist has a feed, since when and when an app last polled it; never its URL."""
    clinic_id = owner_scope(request)
    found = await calendar_feed_store.state(context.pool(request), clinic_id, _therapist_id(request))
    return web.json_response(
        {
            "active": found.active,
            "created_at": found.created_at.isoformat() if found.created_at else None,
            "last_polled_at": found.last_polled_at.isoformat() if found.last_polled_at else None,
        }
    )


@routes.delete(MANAGE_PATH)
async def revoke_feed(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    await calendar_feed_store.revoke(context.pool(request), clinic_id, _therapist_id(request))
    return web.Response(status=204)


@routes.get(FEED_PATH)
async def feed(request: web.Request) -> web.Response:
    """The feed, as calendar apps poll it: an ETag, and 304 when the app already has this version."""
    now = context.now()
    polled = await calendar_feed_store.poll(
        context.pool(request), calendar_feed.digest(request.match_info["token"]), now
    )
    if polled is None:
        raise ApiError(404, *FEED_NOT_FOUND, headers=NO_STORE)
    found, days, shown = polled
    # icalendar takes about 0.35 ms an entry: a busy therapist's few hundred are built off the event loop, which
    # meanwhile keeps answering other requests.
    body = await asyncio.to_thread(
        calendar_feed.calendar, found.therapist_name, found.clinic_name, found.zone, days, shown
    )
    etag = calendar_feed.etag(body)
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={calendar_feed.MAX_AGE_SECONDS}",
        "X-Robots-Tag": "noindex, nofollow",
        "Referrer-Policy": "no-referrer",
    }
    if calendar_feed.not_modified(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="text/calendar", charset="utf-8", headers=headers)
