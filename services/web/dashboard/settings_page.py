"""The dashboard's Settings page (the owner's only): every setting of GET|PATCH /api/v1/clinic/settings in one form
of a few fieldsets — the clinic and its contact details, its time zone, the online booking rules, reminders and the
cancellation policy, gift vouchers, and the websites that may show the booking pages in a frame.

Only the settings the owner changed are sent, in one PATCH: the API checks them all before it changes any, so a
form it refuses changes nothing, and the page shows it again as typed with each message beside its input
(settings_form.py reads the form and the API's answer)."""

from __future__ import annotations

import logging

from aiohttp import web

from services.web.api import ApiRefused
from services.web.dashboard import payment_policy_form as policy_form
from services.web.dashboard import settings_form as forms
from services.web.dashboard.pages import (
    clinic_api,
    redirect,
    render,
    session_form,
    signed_in_owner,
)
from services.web.dashboard.session import SESSIONS, Session

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

PAGE = "/clinic/settings"
API_SETTINGS = "/api/v1/clinic/settings"
DONE_NOTES = {
    "saved": "Settings saved. They apply from now on: to the next booking, availability and reminder.",
    "unchanged": "Nothing was changed.",
}
COMMON_ZONES = ("Europe/London", "Europe/Dublin", "Europe/Paris", "Europe/Berlin", "America/New_York")


def _page(
    request: web.Request,
    session: Session,
    values: dict[str, str],
    *,
    errors: dict | None = None,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    return render(
        request,
        "dashboard/settings.html",
        session=session,
        status=status,
        values=values,
        errors=errors or {},
        problem=problem,
        done=DONE_NOTES.get(request.query.get("done", "")),
        zones=COMMON_ZONES,
    )


@routes.get(PAGE)
async def settings_page(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    current = await clinic_api(request, session).call("GET", API_SETTINGS)
    return _page(request, session, {**forms.form_values(current), **policy_form.values(current.get("payment_policy"))})


@routes.post(PAGE)
async def save_settings(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    read = forms.read_form({name: str(form.get(name, "")) for name in forms.INPUTS})
    policy = policy_form.read(form)  # the clinic's payment policy (issue 20)
    typed = {**read.values, **policy.values}
    if read.errors or policy.errors:
        return _page(request, session, typed, errors={**read.errors, **policy.errors}, status=400)
    api = clinic_api(request, session)
    current = await api.call("GET", API_SETTINGS)
    change = forms.changes(read.body, current)
    if policy.given and policy.policy != current.get("payment_policy"):
        change["payment_policy"] = policy.policy
    if not change:
        raise redirect(f"{PAGE}?done=unchanged")
    try:
        saved = await api.call("PATCH", API_SETTINGS, json=change)
    except ApiRefused as exc:
        if exc.status != 422:
            raise
        errors = policy_form.api_error(exc.code, exc.message, typed) or forms.api_errors(exc.details, read.values)
        problem = None if errors else (exc.message or "The settings could not be saved. Check them and try again.")
        return _page(request, session, typed, errors=errors, problem=problem, status=400)
    log.info("dashboard: settings changed", extra={"clinic": session.clinic_slug, "fields": sorted(change)})
    # The header names the clinic, and every page's times are in its zone: from the next page on.
    await request.app[SESSIONS].update(
        request,
        session,
        clinic_name=saved.get("name", session.clinic_name),
        clinic_timezone=saved.get("timezone", session.clinic_timezone),
    )
    raise redirect(f"{PAGE}?done=saved")
