"""The waitlist's customer pages. Joining: from the week of times ("None of these times suit you?"), a form for the
treatment (a therapist or any, days, times of day, name, email) sent to the waitlist API, then a page saying what
happens next. An offer: the link in the offer's email names the offer and carries its signed token; the offer read,
its held time starts the booking flow (as choosing a time does) and the customer is sent on to the screening step,
which takes the token out of the address; an offer no longer open is a page saying so. Leaving: the link in every
waitlist email, a page with one button; the token, as the manage page's, travels on in the form's body only."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from services.web import waitlist_form
from services.web.api import ApiRefused
from services.web.booking import clinic_zone, genuine_form, start_with_hold
from services.web.pages import api, catalogue, clinic_slug, path_id, render
from shared.clinic_time import zone_name

routes = web.RouteTableDef()
NOT_A_LINK = (
    "This link is not valid",
    "Open the whole link from your email: some email programs cut long links in two.",
)


def _not_a_link(request: web.Request) -> web.Response:
    heading, message = NOT_A_LINK
    return render(request, "error.html", status=404, private=True, heading=heading, message=message)


# --- joining --------------------------------------------------------------------------------------------------


async def _join_context(request: web.Request, slug: str, treatment_id: str | None) -> dict:
    """The clinic, the treatment (not a course: an offer holds one time) and the therapists who give it; a treatment
    the clinic does not have is the booking flow's first question again."""
    found = await catalogue(request, slug)
    treatment = found.treatment(treatment_id)
    if treatment is None:
        raise web.HTTPSeeOther(f"/c/{slug}/book")
    return {
        "clinic": found.clinic,
        "treatment": treatment,
        "therapists": [t for t in found.therapists if treatment["id"] in t["treatments"]],
        "zone_name": zone_name(clinic_zone(found.clinic)),
        "offer_minutes": found.clinic.get("policies", {}).get("waitlist_offer_minutes"),
        "weekdays": waitlist_form.WEEKDAYS,
        "times_of_day": waitlist_form.TIMES_OF_DAY,
    }


@routes.get("/c/{clinic}/book/waitlist")
async def join_form(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    context = await _join_context(request, slug, request.query.get("treatment"))
    therapist = request.query.get("therapist", waitlist_form.ANY_THERAPIST)
    if therapist not in {t["id"] for t in context["therapists"]}:
        therapist = waitlist_form.ANY_THERAPIST
    values = {"therapist": therapist, "weekdays": [], "times_of_day": [], "name": "", "email": ""}
    return render(request, "book_waitlist.html", values=values, errors={}, **context)


@routes.post("/c/{clinic}/book/waitlist")
async def join(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    form = await genuine_form(request)
    context = await _join_context(request, slug, str(form.get("treatment", "")))
    therapist_ids = [t["id"] for t in context["therapists"]]
    joining = waitlist_form.read_join(form, slug, context["treatment"]["id"], therapist_ids)
    if joining.body is None:
        return render(
            request,
            "book_waitlist.html",
            status=400,
            private=True,
            values=joining.values,
            errors=joining.errors,
            **context,
        )
    try:
        await api(request).join_waitlist(joining.body)
    except ApiRefused as exc:
        if exc.status != 422:  # refused input: e.g. too many waitlists for one address
            raise
        errors = waitlist_form.refused_errors(exc.message, exc.details)
        return render(
            request, "book_waitlist.html", status=400, private=True, values=joining.values, errors=errors, **context
        )
    body = joining.body
    therapist = next((t for t in context["therapists"] if t["id"] == body.get("therapist")), None)
    return render(
        request,
        "book_waitlist_joined.html",
        private=True,
        clinic=context["clinic"],
        treatment=context["treatment"],
        therapist=therapist,
        wishes=waitlist_form.wishes_in_words(body["weekdays"], body["times_of_day"]),
        email=body["customer"]["email"],
        offer_minutes=context["offer_minutes"],
    )


# --- an offer's link ------------------------------------------------------------------------------------------


@routes.get("/c/{clinic}/book/offer/{offer}")
async def offer(request: web.Request) -> web.Response:
    """An open offer: its held time in a booking flow, on to the screening step; else a page saying it ended."""
    slug, offer_id = clinic_slug(request), path_id(request, "offer")
    try:
        offered = await api(request).waitlist_offer(offer_id, request.query.get("token", ""))
    except ApiRefused as exc:
        if exc.status == 410:  # the API says why (ran out, withdrawn, used) in words
            return await _offer_gone(request, slug, reason=exc.message)
        if exc.status in (400, 403, 404, 422):
            return _not_a_link(request)
        raise
    if offered["clinic"]["slug"] != slug:  # another clinic's address: its pages would not know the hold
        return _not_a_link(request)
    clinic, hold = offered["clinic"], offered["hold"]
    held = {"id": hold["id"], "expires_at": hold["expires_at"], "start": offered["start"], "end": offered["end"]}
    week = datetime.fromisoformat(offered["start"]).astimezone(clinic_zone(clinic)).date().isoformat()
    choice = {"treatment": offered["treatment"]["id"], "therapist": offered["therapist"]["id"], "week": week}
    raise await start_with_hold(request, slug, held, choice)


async def _offer_gone(request: web.Request, slug: str, reason: str) -> web.Response:
    """The offer ran out, was withdrawn or was used (the API's words say which): said so, with the way to the
    times free now."""
    clinic = (await catalogue(request, slug)).clinic
    return render(request, "book_offer_gone.html", status=410, private=True, clinic=clinic, reason=reason)


# --- leaving --------------------------------------------------------------------------------------------------


@routes.get("/waitlist/{entry}/leave")
async def leave_form(request: web.Request) -> web.Response:
    entry_id = path_id(request, "entry")
    token = request.query.get("token", "")
    if not token:
        return _not_a_link(request)
    return render(request, "waitlist_leave.html", private=True, entry_id=entry_id, token=token)


@routes.post("/waitlist/{entry}/leave")
async def leave(request: web.Request) -> web.Response:
    entry_id = path_id(request, "entry")
    form = await genuine_form(request)
    try:
        await api(request).leave_waitlist(entry_id, str(form.get("token", "")))
    except ApiRefused as exc:
        if exc.status in (400, 403, 404, 422):
            return _not_a_link(request)
        raise
    return render(request, "waitlist_left.html", private=True)
