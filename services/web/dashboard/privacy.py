"""The dashboard's Privacy page (the owner's only): a customer's data protection requests, by their email address.
Download everything held about them (the clinic API's export, passed on as the file it is), or erase them: first a
review of what will be erased, what is kept and why, or what stops it; then, confirmed, the erasure and its counts.
Below, the clinic's recent requests (the API's audit list, the email masked).

The customer's email goes only in POST bodies (never an address, a cookie or a log line) and comes back only in the
answers to those POSTs, which are never cached. Every call is to /api/v1/clinic/privacy/… through the gateway."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timezone
from typing import Awaitable, Callable, TypeVar

from aiohttp import web

from services.web import formatting
from services.web.api import ApiRefused, ApiUnavailable
from services.web.dashboard import privacy_views as views
from services.web.dashboard.pages import (
    clinic_api,
    redirect,
    render,
    session_form,
    signed_in_owner,
)
from services.web.dashboard.session import Session

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
T = TypeVar("T")

AREA = "/clinic/privacy"
API = "/api/v1/clinic/privacy"
REQUESTS_SHOWN = 20
# The export's attachment name as the API sends it; anything else (it should not happen) gets our own.
FILENAME = re.compile(r'attachment; filename="customer-data-\d{4}-\d{2}-\d{2}\.json"')
UNDERSTOOD = "understood"
NOT_UNDERSTOOD = "Tick the box to confirm you understand that erasing cannot be undone"
UNAVAILABLE_EXPORT = (
    "Their data could not be gathered just now, because part of the service did not answer. Nothing was "
    "downloaded. Try again in a few minutes."
)
UNAVAILABLE_REVIEW = (
    "What erasing their data would do could not be worked out just now, because part of the service did not "
    "answer. Nothing was changed. Try again in a few minutes."
)
UNAVAILABLE_ERASE = (
    "The erasure could not be finished, because part of the service did not answer. What was erased stays erased; "
    "nothing is lost by trying again, and trying again finishes it. Try again in a few minutes."
)


def _when(session: Session) -> views.When:
    return lambda instant: formatting.when(instant, session.zone)


def _email(form) -> str:
    return str(form.get("email", "")).strip()


def _refused_email(exc: ApiRefused) -> str | None:
    """The API's refusal of the email itself (422 `invalid_email`), in the page's words; None for another."""
    return views.EMAIL_FORMAT if exc.status == 422 else None


async def _asked(
    request: web.Request, session: Session, email: str, ask: Callable[[], Awaitable[T]], unavailable: str, what: str
) -> T | web.Response:
    """The API's answer about the customer; or, instead, the page again saying what stopped it: the email (typed
    wrong, or refused by the API) beside its field, or a service that did not answer."""
    if problem := views.email_problem(email):
        return await _privacy_page(request, session, email=email, errors={"email": problem}, status=400)
    try:
        return await ask()
    except ApiRefused as exc:
        if message := _refused_email(exc):
            return await _privacy_page(request, session, email=email, errors={"email": message}, status=400)
        raise
    except ApiUnavailable as exc:
        log.warning(f"dashboard: {what} unavailable", extra={"error": repr(exc)})
        return await _privacy_page(request, session, email=email, problem=unavailable, status=503)


# --- the page: what the clinic must do, the form, the recent requests -----------------------------------------


async def _privacy_page(
    request: web.Request,
    session: Session,
    *,
    email: str = "",
    errors: dict | None = None,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    api = clinic_api(request, session)
    listed, staff = await asyncio.gather(
        api.call("GET", f"{API}/requests", params={"limit": str(REQUESTS_SHOWN)}), api.staff()
    )
    names = {str(member.get("id")): str(member.get("name", "")) for member in staff}
    return render(
        request,
        "dashboard/privacy.html",
        session=session,
        status=status,
        values={"email": email},
        errors=errors or {},
        problem=problem,
        requests=views.request_rows(listed.get("requests", []), names, _when(session)),
    )


@routes.get(AREA)
async def privacy_page(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    return await _privacy_page(request, session)


# --- download their data ------------------------------------------------------------------------------------


@routes.post(AREA + "/export")
async def export(request: web.Request) -> web.StreamResponse:
    """The API's export, passed on as the JSON file it is (its name included), never cached."""
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    email = _email(form)
    api = clinic_api(request, session)
    answer = await _asked(
        request,
        session,
        email,
        lambda: api.download("POST", f"{API}/export", json={"email": email}),
        UNAVAILABLE_EXPORT,
        "customer data export",
    )
    if isinstance(answer, web.Response):
        return answer
    body, headers = answer
    log.info("dashboard: customer data exported", extra={"clinic": session.clinic_slug, "staff_id": session.staff_id})
    disposition = headers.get("Content-Disposition", "")
    if not FILENAME.fullmatch(disposition):
        today = datetime.now(timezone.utc).date().isoformat()
        disposition = f'attachment; filename="customer-data-{today}.json"'
    return web.Response(
        body=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- erase their data: the review, then the erasure -----------------------------------------------------------


def _review_page(
    request: web.Request,
    session: Session,
    email: str,
    review: dict,
    *,
    blockers: list | None = None,
    errors: dict | None = None,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    """What erasing `email` does (the API's dry run), or what stops it; with the form that confirms it."""
    return render(
        request,
        "dashboard/privacy_review.html",
        session=session,
        status=status,
        email=email,
        email_masked=review.get("email_masked", ""),
        erase=views.counts_in_words(review.get("erase")),
        keep=views.kept_rows(review.get("keep")),
        blockers=views.blocker_rows(review.get("blockers") or blockers or []),
        reviewed=bool(review),
        errors=errors or {},
        problem=problem,
    )


async def _dry_run(request: web.Request, session: Session, email: str) -> dict:
    """The API's answer to "what would erasing them do?": nothing changes, nothing is audited."""
    return await clinic_api(request, session).call("POST", f"{API}/erase", json={"email": email, "dry_run": True})


@routes.post(AREA + "/erase")
async def erase_review(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    email = _email(form)
    review = await _asked(
        request, session, email, lambda: _dry_run(request, session, email), UNAVAILABLE_REVIEW, "erasure review"
    )
    if isinstance(review, web.Response):
        return review
    return _review_page(request, session, email, review)


@routes.post(AREA + "/erase/confirm")
async def erase(request: web.Request) -> web.Response:
    """The erasure, once the owner has ticked that they understand it cannot be undone; its counts."""
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    email = _email(form)
    if problem := views.email_problem(email):
        return await _privacy_page(request, session, email=email, errors={"email": problem}, status=400)
    if form.get(UNDERSTOOD) != "yes":
        review = await _dry_run(request, session, email)
        return _review_page(request, session, email, review, errors={UNDERSTOOD: NOT_UNDERSTOOD}, status=400)
    try:
        done = await clinic_api(request, session).call("POST", f"{API}/erase", json={"email": email, "dry_run": False})
    except ApiRefused as exc:
        if exc.status == 409:  # something started since the review (a new booking): say what, change nothing
            review = await _dry_run(request, session, email)
            return _review_page(request, session, email, review, blockers=views.blockers_of(exc.details), status=409)
        if message := _refused_email(exc):
            return await _privacy_page(request, session, email=email, errors={"email": message}, status=400)
        raise
    except ApiUnavailable as exc:
        # Part may be done (each service's part is idempotent): the same confirmation, sent again, finishes it.
        log.warning("dashboard: erasure unfinished", extra={"error": repr(exc)})
        return _review_page(request, session, email, {}, problem=UNAVAILABLE_ERASE, status=503)
    entry = done.get("request") or {}
    log.info(
        "dashboard: customer data erased",
        extra={"clinic": session.clinic_slug, "staff_id": session.staff_id, "privacy_request": entry.get("id")},
    )
    # Post, then redirect: reloading the result shows it again instead of erasing (and auditing) a second time.
    raise redirect(f"{AREA}/erased/{entry.get('id', '')}")


@routes.get(AREA + "/erased/{request_id}")
async def erased(request: web.Request) -> web.Response:
    """An erasure's result, from the clinic's audit list (its counts; the email masked)."""
    session = await signed_in_owner(request)
    wanted = request.match_info["request_id"]
    listed = await clinic_api(request, session).call("GET", f"{API}/requests", params={"limit": str(REQUESTS_SHOWN)})
    entry = next((r for r in listed.get("requests", []) if r.get("id") == wanted and r.get("kind") == "erase"), None)
    if entry is None:
        raise web.HTTPNotFound()
    counts = entry.get("counts") or {}
    at = views.instant(entry.get("at"))
    return render(
        request,
        "dashboard/privacy_done.html",
        session=session,
        email_masked=entry.get("email_masked", ""),
        at=_when(session)(at) if at else "",
        erased=views.counts_in_words(counts.get("erased")),
        kept=views.kept_rows(counts.get("kept")),
    )
