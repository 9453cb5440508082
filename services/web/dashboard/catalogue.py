"""The dashboard's catalogue: the clinic's treatments and courses in their order, with their length, price and
whether they are offered; the owner adds and edits them, moves them up and down, hides them from booking and shows
them again, deletes them (the API archives one with bookings instead: the page says which happened) and restores
an archived one. Staff (reception) read it all and change nothing (no forms; the API refuses them anyway).

Every change is a clinic-API call (services/booking/http/catalogue.py), made with the signed-in staff member's
token; a refused one changes nothing and shows the form again with the API's words beside the fields. The forms'
parsing (pounds into pence, …) is catalogue_forms'. Shared with the therapists' pages: the deleting and restoring
of one item, and the state words."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlencode

from aiohttp import web

from services.web.api import ApiRefused
from services.web.dashboard import catalogue_forms as forms
from services.web.dashboard import payment_policy_form as policy_form
from services.web.dashboard.pages import (
    clinic_api,
    owner_only,
    redirect,
    render,
    session_form,
    signed_in,
)
from services.web.dashboard.session import Session

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

BASE = "/clinic/catalogue"
API = "/api/v1/clinic"
KIND = "{kind:treatments|courses}"


@dataclass(frozen=True)
class Kind:
    plural: str  # as in the API's paths: treatments, courses, therapists
    singular: str
    page: str  # the list page the item belongs to


KINDS = {
    "treatments": Kind("treatments", "treatment", BASE),
    "courses": Kind("courses", "course", BASE),
    "therapists": Kind("therapists", "therapist", "/clinic/therapists"),
}
# Why the API archived rather than deleted (its `reason`), in words.
KEPT_BECAUSE = {
    "booked": "it has bookings (past or to come)",
    "in_course": "a course is made of it",
    "referenced": "other records refer to it",
}


def state(item: Mapping[str, Any]) -> str:
    """'Archived', 'Hidden from booking' or 'Bookable'."""
    if item.get("archived_at"):
        return "Archived"
    return "Bookable" if item.get("bookable", True) else "Hidden from booking"


def item_id(request: web.Request, name: str = "item_id") -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound() from None


def done_note(query: Mapping[str, str], names: Mapping[str, str], singular: str) -> str | None:
    """The sentence a change's redirect asks for (`done`, with the item's `id` and the API's `reason`)."""
    done, name = query.get("done", ""), names.get(query.get("id", ""), f"The {singular}")
    notes = {
        "added": f"{name} added.",
        "changed": f"{name} saved.",
        "moved": f"{name} moved.",
        "hidden": f"{name} is hidden from booking: customers no longer see it. Existing bookings stay as they are.",
        "shown": f"{name} is offered for booking again.",
        "deleted": f"The {singular} was deleted.",
        "archived": (
            f"{name} was archived, not deleted, because "
            f"{KEPT_BECAUSE.get(query.get('reason', ''), 'other records refer to it')}: it is kept for those and "
            "no longer offered. You can restore it."
        ),
        "restored": f"{name} is restored.",
    }
    return notes.get(done)


def done(page: str, what: str, one: uuid.UUID | str | None = None, **more: str) -> web.HTTPSeeOther:
    query = {"done": what, **({"id": str(one)} if one else {}), **more}
    return redirect(f"{page}?{urlencode(query)}")


# --- reading --------------------------------------------------------------------------------------------------


async def listed(request: web.Request, session: Session, kind: str) -> list[dict]:
    return (await clinic_api(request, session).call("GET", f"{API}/{kind}"))[kind]


async def one(request: web.Request, session: Session, kind: str, one_id: uuid.UUID) -> dict:
    return await clinic_api(request, session).call("GET", f"{API}/{kind}/{one_id}")


def _treatment_row(t: dict) -> dict:
    return {**t, "state": state(t)}


def _course_row(c: dict, treatment_names: Mapping[str, str]) -> dict:
    spacing = c["spacing"]
    return {
        **c,
        "state": state(c),
        "treatment_name": treatment_names.get(c["treatment"], "a treatment no longer listed"),
        "spacing_words": f"{spacing['min_days_between']} to {spacing['max_days_between']} days apart",
    }


def _movable(rows: list[dict]) -> list[dict]:
    """Which rows may move up or down: among the ones not archived (archived ones stay last, in no order)."""
    live = [r for r in rows if not r.get("archived_at")]
    for i, row in enumerate(live):
        row["can_move_up"], row["can_move_down"] = i > 0, i < len(live) - 1
    return rows


@routes.get(BASE)
async def catalogue_page(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return await _list_page(request, session)


async def _list_page(
    request: web.Request, session: Session, problem: str | None = None, status: int = 200
) -> web.Response:
    """The list; with `problem`, said at the top (e.g. the item was deleted meanwhile), else the note of the
    change that led here."""
    treatments, courses = await asyncio.gather(
        listed(request, session, "treatments"), listed(request, session, "courses")
    )
    names = {t["id"]: t["name"] for t in treatments}
    kind = KINDS.get(request.query.get("kind", ""), KINDS["treatments"])
    return render(
        request,
        "dashboard/catalogue.html",
        session=session,
        status=status,
        treatments=_movable([_treatment_row(t) for t in treatments]),
        courses=_movable([_course_row(c, names) for c in courses]),
        done=None
        if problem
        else done_note(request.query, names | {c["id"]: c["name"] for c in courses}, kind.singular),
        problem=problem,
    )


# --- adding and editing ---------------------------------------------------------------------------------------


def _treatment_options(treatments: list[dict]) -> list[tuple[str, str]]:
    return [(t["id"], t["name"]) for t in treatments if not t.get("archived_at")]


async def _form_page(
    request: web.Request,
    session: Session,
    kind: str,
    *,
    item: dict | None,
    values: Mapping[str, str],
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    context: dict[str, Any] = {}
    if kind == "courses":
        treatments = await listed(request, session, "treatments")
        context["treatment_options"] = _treatment_options(treatments)
        if item is not None:
            context["treatment_name"] = next(
                (t["name"] for t in treatments if t["id"] == item["treatment"]), "a treatment no longer listed"
            )
    return render(
        request,
        f"dashboard/catalogue_{KINDS[kind].singular}.html",
        session=session,
        status=status,
        item=item,
        values=values,
        errors=dict(errors or {}),
        state=state(item) if item else None,
        **context,
    )


NEW_VALUES = {
    "treatments": {"buffer_before": "0", "buffer_after": "0", "requires_screening": "yes", "payment_mode": "clinic"},
    "courses": {},
}


@routes.get(BASE + "/" + KIND + "/new")
async def new_form(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    kind = request.match_info["kind"]
    return await _form_page(request, session, kind, item=None, values=NEW_VALUES[kind])


def _body(kind: str, form: Mapping[str, str], *, new: bool) -> tuple[dict, dict]:
    if kind == "treatments":
        body, errors = forms.treatment_body(form)
        policy = policy_form.read(form, treatment=True)  # its own payment policy, or null: the clinic's
        errors.update(policy.errors)
        return ({**body, "payment_policy": policy.policy} if policy.given else body), errors
    return forms.course_body(form, new=new)


def _refused(kind: str, exc: ApiRefused, form: Mapping[str, str]) -> dict:
    return policy_form.api_error(exc.code, exc.message, form) or forms.api_errors(exc.details, FIELDS[kind], "name")


FIELDS = {"treatments": forms.TREATMENT_FIELDS, "courses": forms.COURSE_FIELDS}


def _text(form) -> dict[str, str]:
    return {name: str(value) for name, value in form.items() if name != "csrf" and isinstance(value, str)}


@routes.post(BASE + "/" + KIND)
async def add(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    form = _text(await session_form(request, session))
    kind = request.match_info["kind"]
    body, errors = _body(kind, form, new=True)
    if errors:
        return await _form_page(request, session, kind, item=None, values=form, errors=errors, status=400)
    try:
        made = await clinic_api(request, session).call("POST", f"{API}/{kind}", json=body)
    except ApiRefused as exc:
        if exc.status == 422:
            errors = _refused(kind, exc, form)
            return await _form_page(request, session, kind, item=None, values=form, errors=errors, status=400)
        raise
    log.info("dashboard: catalogue item added", extra={"clinic": session.clinic_slug, "kind": kind})
    raise done(BASE, "added", made["id"], kind=kind)


@routes.get(BASE + "/" + KIND + "/{item_id}")
async def item_page(request: web.Request) -> web.Response:
    session = await signed_in(request)
    kind = request.match_info["kind"]
    item = await one(request, session, kind, item_id(request))
    if kind == "treatments":
        values = {**forms.treatment_values(item), **policy_form.values(item.get("payment_policy"), treatment=True)}
    else:
        values = forms.course_values(item)
    return await _form_page(request, session, kind, item=item, values=values)


@routes.post(BASE + "/" + KIND + "/{item_id}")
async def change(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    form = _text(await session_form(request, session))
    kind, one_id = request.match_info["kind"], item_id(request)
    item = await one(request, session, kind, one_id)
    body, errors = _body(kind, form, new=False)
    if errors:
        return await _form_page(request, session, kind, item=item, values=form, errors=errors, status=400)
    try:
        await clinic_api(request, session).call("PATCH", f"{API}/{kind}/{one_id}", json=body)
    except ApiRefused as exc:
        if exc.status == 422:
            errors = _refused(kind, exc, form)
            return await _form_page(request, session, kind, item=item, values=form, errors=errors, status=400)
        raise
    raise done(BASE, "changed", one_id, kind=kind)


# --- order, offering, deleting --------------------------------------------------------------------------------


@routes.post(BASE + "/" + KIND + "/{item_id}/move")
async def move(request: web.Request) -> web.Response:
    """Up or down a place among the offered ones: the new order sent whole (the API puts any it was not given
    after these)."""
    session = await signed_in(request)
    owner_only(request, session)
    form = await session_form(request, session)
    kind, one_id = request.match_info["kind"], str(item_id(request))
    rows = await listed(request, session, kind)
    if one_id not in {r["id"] for r in rows}:
        raise web.HTTPNotFound()  # not this clinic's (or gone): as unknown as the API makes it
    live = [r["id"] for r in rows if not r.get("archived_at")]
    order = forms.moved(live, one_id, str(form.get("direction", "")))
    if order is None:  # gone, archived, or already first or last: nothing to do
        raise redirect(BASE)
    try:
        await clinic_api(request, session).call("POST", f"{API}/{kind}/order", json={"ids": order})
    except ApiRefused as exc:
        if exc.status == 422:  # one was deleted between the read and the write: the list as it is now
            return await _list_page(request, session, "The list changed meanwhile. Try again.", 409)
        raise
    raise done(BASE, "moved", one_id, kind=kind)


@routes.post(BASE + "/" + KIND + "/{item_id}/visibility")
async def visibility(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    form = await session_form(request, session)
    kind, one_id = request.match_info["kind"], item_id(request)
    bookable = form.get("bookable") == "yes"
    await clinic_api(request, session).call("PATCH", f"{API}/{kind}/{one_id}", json={"bookable": bookable})
    raise done(BASE, "shown" if bookable else "hidden", one_id, kind=kind)


async def remove_item(request: web.Request, session: Session, kind: str) -> web.Response:
    """First the question (what deleting does, and that one with bookings is archived instead); then,
    confirmed, the API's DELETE, and the list saying which of the two happened."""
    owner_only(request, session)
    form = await session_form(request, session)
    one_id = item_id(request)
    about = KINDS[kind]
    item = await one(request, session, kind, one_id)
    if form.get("confirm") != "yes":
        return render(
            request,
            "dashboard/catalogue_delete.html",
            session=session,
            item=item,
            kind=about,
            action=f"{request.path}",
            back=f"{about.page}/{one_id}" if kind == "therapists" else about.page,
        )
    removed = await clinic_api(request, session).call("DELETE", f"{API}/{kind}/{one_id}")
    log.info(
        "dashboard: catalogue item removed",
        extra={"clinic": session.clinic_slug, "kind": kind, "outcome": removed.get("outcome")},
    )
    if removed.get("outcome") == "archived":
        raise done(about.page, "archived", one_id, kind=kind, reason=str(removed.get("reason") or ""))
    raise done(about.page, "deleted", kind=kind)


async def restore_item(request: web.Request, session: Session, kind: str) -> web.Response:
    owner_only(request, session)
    await session_form(request, session)
    one_id = item_id(request)
    await clinic_api(request, session).call("PATCH", f"{API}/{kind}/{one_id}", json={"archived": False})
    raise done(KINDS[kind].page, "restored", one_id, kind=kind)


@routes.post(BASE + "/" + KIND + "/{item_id}/delete")
async def delete(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return await remove_item(request, session, request.match_info["kind"])


@routes.post(BASE + "/" + KIND + "/{item_id}/restore")
async def restore(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return await restore_item(request, session, request.match_info["kind"])
