"""The page behind the link in every confirmation email: the booking, the clinic's policy, and (inside
the change window) cancel or move it. The signed token arrives in the email's URL once; after that it
travels only in the bodies of this page's forms, never in another URL."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from aiohttp import web

from services.web import formatting
from services.web.api import ApiRefused
from services.web.booking import clinic_zone, genuine_form, week_view, when_label
from services.web.pages import api, catalogue, render

routes = web.RouteTableDef()


def _booking_id(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["booking"]))
    except ValueError:
        raise web.HTTPNotFound() from None


async def _context(request: web.Request, booking_id: str, token: str) -> dict:
    """The booking and what the page says about it; a refused token is a page saying so."""
    try:
        booking = await api(request).booking(booking_id, token)
    except ApiRefused as exc:
        if exc.status in (403, 404):
            raise web.HTTPForbidden(text="This link is not valid or has expired.") from None
        raise
    found = await catalogue(request, booking["clinic"])
    clinic = found.clinic
    deadline = datetime.fromisoformat(booking["change_deadline"])
    return {
        "booking": booking,
        "clinic": clinic,
        "token": token,
        "when": when_label(booking["start"], clinic),
        "treatment": found.treatment(booking["treatment"]),
        "therapist": found.therapist(booking["therapist"]),
        "deadline": formatting.when(deadline, clinic_zone(clinic)),
        "refund": formatting.money(booking["amount_due"]["amount"], booking["amount_due"]["currency"]),
        "changeable": booking["status"] == "confirmed" and datetime.now(timezone.utc) < deadline,
    }


@routes.get("/manage/{booking}")
async def manage(request: web.Request) -> web.Response:
    booking_id = _booking_id(request)
    context = await _context(request, booking_id, request.query.get("token", ""))
    return render(request, "manage.html", private=True, **context)


@routes.post("/manage/{booking}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """First the question, with the refund shown; then, confirmed, the cancellation."""
    booking_id = _booking_id(request)
    form = await genuine_form(request)
    context = await _context(request, booking_id, str(form.get("token", "")))
    if form.get("confirm") != "yes":
        return render(request, "manage_cancel.html", private=True, **context)
    try:
        await api(request).cancel(booking_id, context["token"])
    except ApiRefused as exc:
        return render(request, "manage.html", status=409, private=True, problem=exc.message, **context)
    return render(request, "manage_done.html", private=True, done="cancelled", **context)


@routes.post("/manage/{booking}/move")
async def move(request: web.Request) -> web.Response:
    """The week of times for the same treatment and therapist; a time chosen moves the booking."""
    booking_id = _booking_id(request)
    form = await genuine_form(request)
    context = await _context(request, booking_id, str(form.get("token", "")))
    booking = context["booking"]
    start = str(form.get("start", ""))
    if start and context["changeable"]:
        try:
            moved = await api(request).reschedule(booking_id, context["token"], start, booking["therapist"])
        except ApiRefused as exc:
            context["problem"] = (
                "Sorry, that time has just been taken. Please choose another." if exc.status == 409 else exc.message
            )
        else:
            return render(
                request,
                "manage_done.html",
                private=True,
                done="moved",
                **{**context, "when": when_label(moved["start"], context["clinic"])},
            )
    week = await week_view(
        request,
        context["clinic"],
        booking["treatment"],
        booking["therapist"],
        str(form.get("week", "")) or None,
        button="start",
    )
    return render(request, "manage_move.html", private=True, **week, **context)
