"""The dashboard's therapists: the list; a therapist's page with their profile (name, bio, qualifications one a
line, the treatments they give), photo, working week, time off and calendar feed; the week's editor.

The owner changes everything; staff (reception) read it all and add or remove time off (reception books
holidays), but never over bookings: only the owner may say "I will move these bookings" (the API's
`confirm`). Time off or hours over bookings is refused by the API (409 `bookings_in_the_way`) and shown as the
list of those bookings, each linked to its page in the diary.

Times typed in are the clinic's wall time; the page turns them into instants with the offset of each end
(catalogue_forms.time_off_body), so time off across a change of the clocks is right. A photo is sent to the API
as its bytes (PUT); the API says whether it is an image and small enough (415, 413), shown beside the input."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from datetime import datetime, time, timedelta
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web

from services.web import formatting
from services.web.api import ApiRefused
from services.web.dashboard import catalogue_forms as forms
from services.web.dashboard.catalogue import (
    API,
    done,
    done_note,
    item_id,
    remove_item,
    restore_item,
    state,
)
from services.web.dashboard.pages import (
    FORM_EXPIRED,
    Answer,
    clinic_api,
    error_page,
    owner_only,
    render,
    session_form,
    signed_in,
)
from services.web.dashboard.session import Session
from shared.clinic_time import zone_name

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

BASE = "/clinic/therapists"
ONE = BASE + "/{item_id}"
# The most of a photo the page holds to pass on: the API's limit (2 MiB) and a byte, so that the API, which
# decides, sees a larger one as larger (413). The rest of a larger upload is read and dropped.
PHOTO_HELD_BYTES = 2 * 1024 * 1024 + 1
CSRF_BYTES = 200
# The API's refusals of a photo in the page's words (a too large one with the API's limit: "… at most 2 MB").
PHOTO_PROBLEMS = {
    413: "The photo is too large: choose a smaller one, or save it smaller first. {api}",
    415: "The photo must be a JPEG, PNG or WebP image",
}
# What a change on a therapist's page led to (its redirect's `done`), beyond catalogue.done_note's.
THERAPIST_NOTES = {
    "photo": "{name}'s photo saved. It shows on your booking pages.",
    "photo-removed": "{name}'s photo removed.",
    "hours": "{name}'s working week saved. The booking pages show the new free times now.",
    "time-off": "Time off added for {name}. The booking pages no longer offer those times.",
    "time-off-removed": "Time off removed. The booking pages offer those times again, where {name} works then.",
    "feed-revoked": "{name}'s calendar feed is turned off. Calendar apps using its address get nothing more.",
}
STATUS_WORDS = {"confirmed": "Confirmed", "pending_payment": "Awaiting payment", "held": "Being booked"}


# --- reading --------------------------------------------------------------------------------------------------


async def _therapist(request: web.Request, session: Session, therapist_id: uuid.UUID) -> dict:
    return await clinic_api(request, session).call("GET", f"{API}/therapists/{therapist_id}")


async def _treatments(request: web.Request, session: Session) -> list[dict]:
    return (await clinic_api(request, session).call("GET", f"{API}/treatments"))["treatments"]


def treatment_options(treatments: list[dict], given: list[str]) -> list[tuple[str, str, str]]:
    """The checkboxes: every treatment offered, and any archived one the therapist still gives."""
    return [
        (t["id"], t["name"], "Archived" if t.get("archived_at") else "")
        for t in treatments
        if not t.get("archived_at") or t["id"] in given
    ]


def given_names(treatments: list[dict], given: list[str]) -> list[str]:
    """The names of the treatments a therapist gives, in the catalogue's order."""
    chosen = set(given)
    return [t["name"] for t in treatments if t["id"] in chosen]


def profile_values(therapist: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": therapist["name"],
        "slug": therapist["slug"],
        "bio": therapist.get("bio") or "",
        "credentials": "\n".join(therapist.get("credentials") or []),
        "treatments": list(therapist.get("treatments") or []),
    }


def week_summary(week: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(weekday, its hours, its breaks) in words, e.g. ('Monday', '09:00–18:00', '13:00–14:00')."""
    rows = []
    for day, name in enumerate(forms.WEEKDAYS):
        hours = sorted((h["start"], h["end"]) for h in week["hours"] if h["weekday"] == day)
        breaks = sorted((b["start"], b["end"]) for b in week["breaks"] if b["weekday"] == day)
        rows.append(
            (
                name,
                ", ".join(f"{a}–{b}" for a, b in hours) or "Not working",
                ", ".join(f"{a}–{b}" for a, b in breaks) or "None",
            )
        )
    return rows


def span_words(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """A span of time off in the clinic's zone: whole days as days, else both ends with their times."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    if first.time() == time(0) and last.time() == time(0):
        final = (last - timedelta(days=1)).date()
        if final == first.date():
            return f"{formatting.day_label(first.date())} (whole day)"
        return f"{formatting.day_label(first.date())} to {formatting.day_label(final)} (whole days)"
    return f"{formatting.when(first, zone)} to {formatting.when(last, zone)}"


def _time_off_rows(items: list[dict], zone: ZoneInfo) -> list[dict]:
    return [
        {
            **off,
            "words": span_words(datetime.fromisoformat(off["start"]), datetime.fromisoformat(off["end"]), zone),
        }
        for off in items
    ]


def _when(text: str | None, zone: ZoneInfo) -> str | None:
    return formatting.when(datetime.fromisoformat(text), zone) if text else None


async def _page_context(request: web.Request, session: Session, therapist_id: uuid.UUID) -> dict[str, Any]:
    api = clinic_api(request, session)
    path = f"{API}/therapists/{therapist_id}"
    therapist = await api.call("GET", path)  # first: another clinic's (or no) therapist is a 404 page
    calls = [
        _treatments(request, session),
        api.call("GET", f"{path}/hours"),
        api.call("GET", f"{path}/time-off"),
    ]
    if session.is_owner:  # the feed is the owner's alone (the API refuses staff)
        calls.append(api.call("GET", f"{path}/calendar-feed"))
    treatments, week, time_off, *feed = await asyncio.gather(*calls)
    zone = session.zone
    feed_state = feed[0] if feed else None
    return {
        "therapist": therapist,
        "state": state(therapist),
        "gives": given_names(treatments, therapist["treatments"]),
        "treatment_options": treatment_options(treatments, therapist["treatments"]),
        "week": week_summary(week),
        "time_off": _time_off_rows(time_off["time_off"], zone),
        "zone_words": zone_name(zone),  # "UK time": hours and time off span GMT and BST alike
        "feed": (
            {
                **feed_state,
                "created": _when(feed_state.get("created_at"), zone),
                "polled": _when(feed_state.get("last_polled_at"), zone),
            }
            if feed_state
            else None
        ),
    }


async def _therapist_page(
    request: web.Request,
    session: Session,
    therapist_id: uuid.UUID,
    *,
    profile: Mapping[str, Any] | None = None,
    off: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context = await _page_context(request, session, therapist_id)
    name = context["therapist"]["name"]
    return render(
        request,
        "dashboard/therapists_one.html",
        session=session,
        status=status,
        profile=profile if profile is not None else profile_values(context["therapist"]),
        off=off or {},
        errors=dict(errors or {}),
        done=THERAPIST_NOTES.get(request.query.get("done", ""), "").format(name=name)
        or done_note(request.query, {str(therapist_id): name}, "therapist"),
        **context,
    )


# --- the list, and adding one ---------------------------------------------------------------------------------


async def _list_page(
    request: web.Request,
    session: Session,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    api = clinic_api(request, session)
    therapists, treatments = await asyncio.gather(api.call("GET", f"{API}/therapists"), _treatments(request, session))
    rows = [
        {
            **t,
            "state": "Archived" if t.get("archived_at") else "Working",
            "gives": given_names(treatments, t["treatments"]),
        }
        for t in therapists["therapists"]
    ]
    return render(
        request,
        "dashboard/therapists.html",
        session=session,
        status=status,
        therapists=rows,
        profile=values or {"treatments": []},
        treatment_options=treatment_options(treatments, []),
        errors=dict(errors or {}),
        done=done_note(request.query, {t["id"]: t["name"] for t in rows}, "therapist"),
    )


@routes.get(BASE)
async def therapists_page(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return await _list_page(request, session)


def _profile_form(form) -> tuple[dict[str, Any], list[str]]:
    values = {name: str(form.get(name, "")) for name in ("name", "slug", "bio", "credentials")}
    chosen = [str(v) for v in form.getall("treatments", []) if isinstance(v, str)]
    return {**values, "treatments": chosen}, chosen


@routes.post(BASE)
async def add(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    form = await session_form(request, session)
    values, chosen = _profile_form(form)
    body, errors = forms.therapist_body(values, chosen)
    if errors:
        return await _list_page(request, session, values=values, errors=errors, status=400)
    try:
        made = await clinic_api(request, session).call("POST", f"{API}/therapists", json=body)
    except ApiRefused as exc:
        if exc.status == 422:
            errors = forms.api_errors(exc.details, forms.THERAPIST_FIELDS, "name")
            return await _list_page(request, session, values=values, errors=errors, status=400)
        raise
    log.info("dashboard: therapist added", extra={"clinic": session.clinic_slug})
    raise done(f"{BASE}/{made['id']}", "added", made["id"])


# --- a therapist's page and profile ---------------------------------------------------------------------------


@routes.get(ONE)
async def therapist_page(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return await _therapist_page(request, session, item_id(request))


@routes.post(ONE)
async def change_profile(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    form = await session_form(request, session)
    therapist_id = item_id(request)
    values, chosen = _profile_form(form)
    body, errors = forms.therapist_body(values, chosen)
    if not errors:
        try:
            await clinic_api(request, session).call("PATCH", f"{API}/therapists/{therapist_id}", json=body)
        except ApiRefused as exc:
            if exc.status != 422:
                raise
            errors = forms.api_errors(exc.details, forms.THERAPIST_FIELDS, "name")
    if errors:
        return await _therapist_page(request, session, therapist_id, profile=values, errors=errors, status=400)
    raise done(f"{BASE}/{therapist_id}", "changed", therapist_id)


@routes.post(ONE + "/delete")
async def delete(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return await remove_item(request, session, "therapists")


@routes.post(ONE + "/restore")
async def restore(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return await restore_item(request, session, "therapists")


# --- the photo ------------------------------------------------------------------------------------------------


async def _drain(part: BodyPartReader, keep: int) -> bytes:
    """Up to `keep` bytes of a part; the rest is read and dropped (the browser is still sending it)."""
    held = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        if len(held) < keep:
            held += chunk[: keep - len(held)]
    return bytes(held)


async def _upload(request: web.Request) -> tuple[str, bytes | None]:
    """The upload form's CSRF token and the photo's bytes (at most PHOTO_HELD_BYTES; None if no file was
    chosen), read as they stream: the form is larger than the pages' usual body limit."""
    if not request.content_type.startswith("multipart/form-data"):
        return "", None
    csrf, photo = "", None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):  # a nested multipart: no browser sends one here
                continue
            if part.name == "csrf":
                csrf = (await _drain(part, CSRF_BYTES)).decode("utf-8", "replace")
            elif part.name == "photo":
                photo = await _drain(part, PHOTO_HELD_BYTES)
            else:
                await _drain(part, 0)
    except ValueError:  # not multipart as a browser sends it (no boundary, a broken part): nothing usable
        return "", None
    return csrf, photo or None


@routes.post(ONE + "/photo")
async def upload_photo(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    therapist_id = item_id(request)
    csrf, photo = await _upload(request)
    if not session.csrf_ok(csrf):
        raise Answer(error_page(request, 403, "This form cannot be sent", FORM_EXPIRED, session))
    problem = None
    if photo is None:
        problem = "Choose a photo to upload"
    else:
        try:
            await clinic_api(request, session).call(
                "PUT",
                f"{API}/therapists/{therapist_id}/photo",
                data=io.BytesIO(photo),  # a body of ~2 MB: as a stream
            )
        except ApiRefused as exc:
            if exc.status not in PHOTO_PROBLEMS:
                raise
            problem = PHOTO_PROBLEMS[exc.status].format(api=exc.message).strip()
    if problem:
        return await _therapist_page(request, session, therapist_id, errors={"photo": problem}, status=400)
    log.info("dashboard: therapist photo changed", extra={"clinic": session.clinic_slug})
    raise done(f"{BASE}/{therapist_id}", "photo", therapist_id)


@routes.post(ONE + "/photo/remove")
async def remove_photo(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    await session_form(request, session)
    therapist_id = item_id(request)
    await clinic_api(request, session).call("DELETE", f"{API}/therapists/{therapist_id}/photo")
    raise done(f"{BASE}/{therapist_id}", "photo-removed", therapist_id)


# --- bookings in the way (409) --------------------------------------------------------------------------------


def in_the_way_rows(details: Any, zone: ZoneInfo) -> list[dict]:
    """The API's `details.bookings` as the page lists them: when (clinic time), what, who, a link to each."""
    rows = []
    for booking in (details or {}).get("bookings", []) if isinstance(details, dict) else []:
        start = datetime.fromisoformat(booking["start"])
        rows.append(
            {
                "id": booking["id"],
                "when": formatting.when(start, zone),
                "ends": formatting.clock(datetime.fromisoformat(booking["end"]), zone),
                "treatment": booking.get("treatment") or "",
                "customer": booking.get("customer_name") or "A customer still booking",
                "status": STATUS_WORDS.get(booking.get("status", ""), booking.get("status", "")),
            }
        )
    return rows


def _in_the_way_page(
    request: web.Request,
    session: Session,
    therapist: dict,
    exc: ApiRefused,
    *,
    what: str,
    action: str,
    back: str,
    hidden: Mapping[str, str],
) -> web.Response:
    return render(
        request,
        "dashboard/therapists_in_the_way.html",
        session=session,
        status=409,
        therapist=therapist,
        bookings=in_the_way_rows(exc.details, session.zone),
        what=what,
        action=action,
        back=back,
        hidden=sorted(hidden.items()),
    )


# --- the week -------------------------------------------------------------------------------------------------


async def _week_page(
    request: web.Request,
    session: Session,
    therapist: dict,
    values: Mapping[str, str],
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "dashboard/therapists_hours.html",
        session=session,
        status=status,
        therapist=therapist,
        days=forms.week_days(values),
        values=values,
        errors=dict(errors or {}),
        zone_words=zone_name(session.zone),
    )


@routes.get(ONE + "/hours")
async def week_form(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    therapist_id = item_id(request)
    therapist = await _therapist(request, session, therapist_id)
    week = await clinic_api(request, session).call("GET", f"{API}/therapists/{therapist_id}/hours")
    return await _week_page(request, session, therapist, forms.week_values(week["hours"], week["breaks"]))


@routes.post(ONE + "/hours")
async def save_week(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    form = await session_form(request, session)
    therapist_id = item_id(request)
    therapist = await _therapist(request, session, therapist_id)
    values = forms.week_inputs(form)
    week, errors = forms.week_body(values)
    if errors:
        return await _week_page(request, session, therapist, values, errors, status=400)
    body = {**week.body, "confirm": form.get("confirm") == "yes"}
    try:
        await clinic_api(request, session).call("PUT", f"{API}/therapists/{therapist_id}/hours", json=body)
    except ApiRefused as exc:
        if exc.status == 422:
            errors = forms.week_api_errors(exc.details, week) or {"h0_0_start": exc.message or "Check the hours"}
            return await _week_page(request, session, therapist, values, errors, status=400)
        if exc.status == 409 and exc.code == "bookings_in_the_way":
            return _in_the_way_page(
                request,
                session,
                therapist,
                exc,
                what="These working hours",
                action=request.path,
                back=request.path,
                hidden=values,
            )
        raise
    log.info("dashboard: therapist's week saved", extra={"clinic": session.clinic_slug})
    raise done(f"{BASE}/{therapist_id}", "hours", therapist_id)


# --- time off -------------------------------------------------------------------------------------------------


@routes.post(ONE + "/time-off")
async def add_time_off(request: web.Request) -> web.Response:
    """Staff too; `confirm` (over bookings) the owner's alone: the API refuses staff, the page offers it only
    to the owner."""
    session = await signed_in(request)
    form = await session_form(request, session)
    therapist_id = item_id(request)
    values = {name: str(form.get(name, "")).strip() for name in forms.TIME_OFF_INPUTS}
    body, errors = forms.time_off_body(values, session.zone)
    if not errors:
        body["confirm"] = session.is_owner and form.get("confirm") == "yes"
        try:
            await clinic_api(request, session).call("POST", f"{API}/therapists/{therapist_id}/time-off", json=body)
        except ApiRefused as exc:
            if exc.status == 422:
                errors = forms.api_errors(exc.details, forms.TIME_OFF_FIELDS, "off_from_day")
            elif exc.status == 409 and exc.code == "bookings_in_the_way":
                therapist = await _therapist(request, session, therapist_id)
                return _in_the_way_page(
                    request,
                    session,
                    therapist,
                    exc,
                    what="This time off",
                    action=request.path,
                    back=f"{BASE}/{therapist_id}#time-off",
                    hidden=values,
                )
            else:
                raise
    if errors:
        return await _therapist_page(request, session, therapist_id, off=values, errors=errors, status=400)
    log.info("dashboard: time off added", extra={"clinic": session.clinic_slug})
    raise done(f"{BASE}/{therapist_id}", "time-off", therapist_id)


@routes.post(ONE + "/time-off/{time_off_id}/remove")
async def remove_time_off(request: web.Request) -> web.Response:
    session = await signed_in(request)
    await session_form(request, session)
    therapist_id = item_id(request)
    time_off_id = request.match_info["time_off_id"]
    if not time_off_id.isdigit() or len(time_off_id) > 18:
        raise web.HTTPNotFound()
    await clinic_api(request, session).call("DELETE", f"{API}/therapists/{therapist_id}/time-off/{time_off_id}")
    raise done(f"{BASE}/{therapist_id}", "time-off-removed", therapist_id)


# --- the calendar feed (the owner's) --------------------------------------------------------------------------


@routes.post(ONE + "/calendar-feed")
async def make_feed(request: web.Request) -> web.Response:
    """A new secret address (replacing any earlier one), shown on this answer once: not a redirect, since the
    API keeps only its digest and a page after a redirect could not show it."""
    session = await signed_in(request)
    owner_only(request, session)
    await session_form(request, session)
    therapist_id = item_id(request)
    therapist = await _therapist(request, session, therapist_id)
    made = await clinic_api(request, session).call("POST", f"{API}/therapists/{therapist_id}/calendar-feed")
    log.info("dashboard: calendar feed made", extra={"clinic": session.clinic_slug})
    return render(request, "dashboard/therapists_feed.html", session=session, therapist=therapist, url=made["url"])


@routes.post(ONE + "/calendar-feed/revoke")
async def revoke_feed(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    await session_form(request, session)
    therapist_id = item_id(request)
    await clinic_api(request, session).call("DELETE", f"{API}/therapists/{therapist_id}/calendar-feed")
    raise done(f"{BASE}/{therapist_id}", "feed-revoked", therapist_id)
