"""The dashboard's Waitlist page (staff and owner): the clinic's waitlist, oldest first, from the clinic API
(GET /api/v1/clinic/waitlist through the gateway), each entry with what suits the customer, where it stands and the
time held for them; a Remove button on each entry still waiting or offered a time (DELETE …/{id}: an open offer is
withdrawn and its time released)."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from services.web import formatting
from services.web.dashboard import waitlist_views as views
from services.web.dashboard.pages import clinic_api, redirect, render, session_form, signed_in

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

AREA = "/clinic/waitlist"
API = "/api/v1/clinic/waitlist"
DONE_NOTES = {
    "removed": "Removed from the waitlist. Any time held for them has been released.",
    "gone": "They are no longer waiting (removed, booked or left meanwhile), so there was nothing to remove.",
}


@routes.get(AREA)
async def waitlist_page(request: web.Request) -> web.Response:
    session = await signed_in(request)
    listed = await clinic_api(request, session).call("GET", API)
    rows = views.entry_rows(listed.get("entries", []), {}, lambda instant: formatting.when(instant, session.zone))
    return render(
        request,
        "dashboard/waitlist.html",
        session=session,
        rows=rows,
        done=DONE_NOTES.get(request.query.get("done", "")),
    )


@routes.post(AREA + "/{entry_id}/remove")
async def remove(request: web.Request) -> web.Response:
    """First the question (who, for what, and that a time held for them is let go), changing nothing; then,
    confirmed, the removal."""
    session = await signed_in(request)
    form = await session_form(request, session)
    try:
        entry_id = uuid.UUID(request.match_info["entry_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if form.get("confirm") != "yes":
        return await _question(request, session, str(entry_id))
    await clinic_api(request, session).call("DELETE", f"{API}/{entry_id}")  # another clinic's: 404, the not-found page
    log.info("dashboard: waitlist entry removed", extra={"clinic": session.clinic_slug, "entry": str(entry_id)})
    raise redirect(AREA + "?done=removed")


async def _question(request: web.Request, session, entry_id: str) -> web.Response:
    """Remove this customer from the waitlist? Their entry as the list shows it; one no longer on the list
    (removed meanwhile, booked, left) asks nothing, and one not of this clinic is not found."""
    listed = await clinic_api(request, session).call("GET", API)
    rows = views.entry_rows(listed.get("entries", []), {}, lambda instant: formatting.when(instant, session.zone))
    row = next((row for row in rows if row.id == entry_id), None)
    if row is None:
        raise web.HTTPNotFound()
    if not row.removable:
        raise redirect(AREA + "?done=gone")
    return render(request, "dashboard/waitlist_remove.html", session=session, row=row)
