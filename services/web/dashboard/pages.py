"""The dashboard's pages: sign in, sign out, set a password from an invitation's link, the home page and the staff
page; the shell (header, navigation, errors) later pages hang on.

Every page here is `Cache-Control: no-store` and every form carries a CSRF token: before sign-in the double-submit
token of services/web/csrf.py, after it the session's own. A signed-out visitor is sent to sign in; a session the
clinic API no longer takes (401) is ended and the visitor asked to sign in again, with a message saying why."""

from __future__ import annotations

import contextlib
import logging
import math
import re
import secrets
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import urlencode

from aiohttp import web

from services.web import formatting
from services.web.api import ApiRefused, ApiUnavailable
from services.web.csp import page_policy
from services.web.csrf import form_is_genuine, token_for
from services.web.dashboard import api as clinic
from services.web.dashboard.api import GATEWAY_URL, ClinicApi, SessionExpired
from services.web.dashboard.navigation import OWNER, areas_for, current_area
from services.web.dashboard.return_to import safe_next
from services.web.dashboard.session import LIFETIME_SECONDS, SESSION, SESSIONS, STAFF, Session
from services.web.pages import TEMPLATES, api
from shared.errors import RETRY_AFTER_UNAVAILABLE
from shared.redis_client import REDIS_UNAVAILABLE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

HOME = "/clinic"
SIGN_IN = "/clinic/sign-in"
SET_PASSWORD = "/clinic/set-password"
# The one-time link's token, moved out of the address at once (so it is in no history, log or bookmark) into a
# cookie only the set-password page gets, for as long as someone may take to choose a password.
PASSWORD_LINK_COOKIE = "clinic_password_link"
PASSWORD_LINK_SECONDS = 3600
MAX_LINK_TOKEN = 512
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLES = (STAFF, OWNER)
# Why the sign-in page is shown (its `m` query): a word in the address, the sentence only here.
SIGN_IN_NOTES = {
    "expired": "Your session has ended. Sign in again to carry on.",
    "expired-unsaved": "Your session ended before what you sent was saved: nothing was changed. Sign in again, "
    "then make the change again.",
    "signed-out": "You have signed out.",
    "password-set": "Your password is set. Sign in with your email address and your new password.",
}
DONE_NOTES = {
    "invited": "Invitation sent. They have 72 hours to choose a password from the link in their email.",
    "removed": "Account removed. They have been signed out and can no longer sign in.",
}
FORM_EXPIRED = "This form has expired. Go back, reload the page and try again."


def is_dashboard(path: str) -> bool:
    return path == HOME or path.startswith(HOME + "/")


# --- rendering ---------------------------------------------------------------------------------------------


def render(
    request: web.Request, template: str, *, session: Session | None = None, status: int = 200, **context
) -> web.Response:
    """A dashboard page. Signed in, its forms carry the session's CSRF token and its header the clinic, who is
    signed in, the sign-out button and the areas this role may use; never cached (`no-store`), never framed."""
    context.setdefault("errors", {})
    areas = areas_for(session.role) if session else ()
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            csrf=session.csrf if session else token_for(request),
            session=session,
            areas=areas,
            current=current_area(request.path, areas),
            at_home=request.path == HOME,
            **context,
        )
    )
    headers = {"Content-Security-Policy": page_policy(), "Cache-Control": "no-store"}
    return web.Response(text=html, content_type="text/html", status=status, headers=headers)


def error_page(
    request: web.Request, status: int, heading: str, message: str, session: Session | None = None
) -> web.Response:
    return render(request, "dashboard/error.html", session=session, status=status, heading=heading, message=message)


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location, headers={"Cache-Control": "no-store"})


def to_sign_in(note: str | None = None, back_to: str | None = None) -> web.HTTPSeeOther:
    """To the sign-in page, saying why (`note`), and where signing in goes back to (`back_to`, a dashboard path)."""
    query = {key: value for key, value in (("m", note), ("next", safe_next(back_to))) if value}
    return redirect(f"{SIGN_IN}?{urlencode(query)}" if query else SIGN_IN)


def page_left(request: web.Request) -> str | None:
    """The dashboard page the visitor was on: this one for a page asked for (GET); for a form sent, its own address
    when that is a page too (most forms post to the page they are on), as browsers send our pages no Referer."""
    if request.method != "GET" and not _is_a_page(request):  # a button's own action (…/remove): no page
        return None
    return safe_next(request.path_qs)


def _is_a_page(request: web.Request) -> bool:
    """Whether the address the request was sent to is also a page (a GET route of the same path)."""
    matched = request.match_info.route.resource
    path = matched.canonical if matched is not None else None
    return any(
        resource.canonical == path and any(route.method == "GET" for route in resource)
        for resource in request.app.router.resources()
    )


def ended_note(request: web.Request) -> str:
    """Why a session that ended sends its visitor to sign in: a form sent (a POST of a signed-in page) was not
    saved, and the page says so rather than dropping what was typed without a word."""
    return "expired-unsaved" if request.method == "POST" else "expired"


class Answer(Exception):
    """A page that ends the handler early (a refusal), answered as it is by dashboard_middleware (aiohttp's
    HTTPForbidden would be turned into the customer pages' error page on its way out)."""

    def __init__(self, response: web.Response):
        super().__init__(response.status)
        self.response = response


def _forbidden(request: web.Request, session: Session | None, heading: str, message: str) -> Answer:
    return Answer(error_page(request, 403, heading, message, session))


NOT_OWNER = (
    "You cannot use this page",
    "Only the clinic's owner can use this page. Ask them if you need something changed here.",
)


@web.middleware
async def dashboard_middleware(request: web.Request, handler):
    """For the dashboard's paths: an expired session means signing in again; a service or Redis that is down,
    a page saying so; a page that does not exist (yet), a dashboard page saying so; nothing is ever cached."""
    if not is_dashboard(request.path):
        return await handler(request)
    try:
        response = await handler(request)
    except Answer as answer:
        response = answer.response
    except SessionExpired:
        log.info("dashboard session no longer accepted by the clinic API")
        await request.app[SESSIONS].end(request)
        response = to_sign_in(ended_note(request), page_left(request))
        request.app[SESSIONS].forget(response)
        raise response from None
    except web.HTTPNotFound:
        response = await _not_found(request)
    except ApiRefused as exc:  # one the page did not expect: in words, never a server error
        if exc.status == 404:
            response = await _not_found(request)
        elif exc.status == 403:  # e.g. the role changed since sign-in
            response = error_page(request, 403, *NOT_OWNER, request.get(SESSION))
        elif exc.status == 429:  # the gateway's limit per client or per staff token
            wait = f"Wait {_minutes(exc.retry_after)}, then try again."
            response = error_page(request, 429, "Too many requests", wait, request.get(SESSION))
            response.headers["Retry-After"] = str(exc.retry_after or 60)
        else:
            log.info("dashboard: the clinic API refused", extra={"status": exc.status, "code": exc.code})
            response = error_page(
                request,
                400,
                "That could not be done",
                exc.message or "Please check and try again.",
                request.get(SESSION),
            )
    except (ApiUnavailable, *REDIS_UNAVAILABLE) as exc:
        log.warning("dashboard: service unavailable", extra={"error": repr(exc)})
        response = error_page(
            request,
            503,
            "Sorry, there is a problem with the service",
            "Please try again in a few minutes. Nothing has been changed.",
            request.get(SESSION),
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    except web.HTTPException as exc:
        exc.headers["Cache-Control"] = "no-store"
        raise
    response.headers["Cache-Control"] = "no-store"
    return response


async def _not_found(request: web.Request) -> web.Response:
    """A dashboard page saying so; signed in, with the header and navigation (e.g. an area not built yet)."""
    session = request.get(SESSION)
    if session is None:
        with contextlib.suppress(*REDIS_UNAVAILABLE):
            session = await request.app[SESSIONS].find(request)
    return error_page(
        request,
        404,
        "Page not found",
        "If you typed the web address, check it is correct. If you followed a link, it may be out of date.",
        session,
    )


# --- who is signed in --------------------------------------------------------------------------------------


async def signed_in(request: web.Request) -> Session:
    """This visitor's session; a signed-out visitor is sent to sign in. A form of a signed-in page sent without one
    (its session lapsed meanwhile, and its cookie with it) is not dropped without a word: the sign-in page says
    that nothing was saved."""
    session = await request.app[SESSIONS].find(request)
    if session is None:
        raise to_sign_in(ended_note(request) if request.method == "POST" else None, page_left(request))
    request[SESSION] = session
    return session


def clinic_api(request: web.Request, session: Session) -> ClinicApi:
    return ClinicApi(api(request), request.app[GATEWAY_URL], session.token)


async def session_form(request: web.Request, session: Session):
    """A signed-in page's form, if it carries the session's CSRF token; else a 403 page and nothing changes."""
    form = await request.post()
    if not session.csrf_ok(str(form.get("csrf", ""))):
        raise _forbidden(request, session, "This form cannot be sent", FORM_EXPIRED)
    return form


def owner_only(request: web.Request, session: Session) -> None:
    if session.role != OWNER:
        raise _forbidden(request, session, *NOT_OWNER)


async def signed_in_owner(request: web.Request) -> Session:
    """The signed-in owner's session (a page of an owner-only area: staff get the 403 page)."""
    session = await signed_in(request)
    owner_only(request, session)
    return session


def _lifetime(expires_at: str | None) -> int:
    """Seconds the session may last: 12 hours, or less if the API's token expires sooner."""
    try:
        expires = datetime.fromisoformat(expires_at) if expires_at else None
    except ValueError:
        expires = None
    if expires is None or expires.tzinfo is None:
        return LIFETIME_SECONDS
    return max(1, min(LIFETIME_SECONDS, int((expires - datetime.now(timezone.utc)).total_seconds())))


# --- signing in and out ------------------------------------------------------------------------------------


def _sign_in_page(
    request: web.Request,
    *,
    email: str = "",
    errors: dict | None = None,
    status: int = 200,
    back_to: str | None = None,
) -> web.Response:
    return render(
        request,
        "dashboard/sign_in.html",
        status=status,
        email=email,
        errors=errors or {},
        note=SIGN_IN_NOTES.get(request.query.get("m", "")),
        back_to=safe_next(back_to),
    )


@routes.get(SIGN_IN)
async def sign_in_form(request: web.Request) -> web.Response:
    back_to = safe_next(request.query.get("next"))
    if await request.app[SESSIONS].find(request) is not None:
        raise redirect(back_to or HOME)
    return _sign_in_page(request, back_to=back_to)


@routes.post(SIGN_IN)
async def sign_in(request: web.Request) -> web.Response:
    form = await request.post()
    email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
    back_to = safe_next(form.get("next"))  # the page the session ended on; only a dashboard path
    if not form_is_genuine(request, form):
        return _sign_in_page(request, email=email, errors={"email": FORM_EXPIRED}, status=403, back_to=back_to)
    errors = {}
    if not email:
        errors["email"] = "Enter your email address"
    elif not EMAIL.match(email) or len(email) > 254:
        errors["email"] = "Enter an email address in the correct format, like name@example.com"
    if not password:
        errors["password"] = "Enter your password"
    if errors:
        return _sign_in_page(request, email=email, errors=errors, status=400, back_to=back_to)
    try:
        signed = await clinic.sign_in(api(request), email, password)
    except ApiRefused as exc:
        if exc.status == 429:
            return _too_many(request, email, exc.retry_after, back_to)
        if exc.status in (401, 422):
            log.info("dashboard sign-in refused")  # no email in the log: it may be a password typed in the wrong box
            message = "That email and password do not match an account"
            return _sign_in_page(request, email=email, errors={"email": message}, status=401, back_to=back_to)
        raise
    session = Session(
        token=signed["token"],
        staff_id=signed["staff"]["id"],
        name=signed["staff"]["name"],
        email=signed["staff"]["email"],
        role=signed["staff"]["role"],
        clinic_id=signed["clinic"]["id"],
        clinic_slug=signed["clinic"]["slug"],
        clinic_name=signed["clinic"]["name"],
        clinic_timezone=signed["clinic"].get("timezone", ""),
        csrf=secrets.token_urlsafe(32),  # the session's own, not the sign-in form's
    )
    if not session.clinic_timezone:  # the sign-in answer names the clinic; its zone comes with `me`
        me = await clinic_api(request, session).me()
        session = replace(session, clinic_timezone=me["clinic"]["timezone"])
    lifetime = _lifetime(signed.get("expires_at"))
    session_id = await request.app[SESSIONS].start(session, lifetime)
    log.info("dashboard sign-in", extra={"staff_id": session.staff_id, "clinic": session.clinic_slug})
    response = redirect(back_to or HOME)
    request.app[SESSIONS].remember(response, session_id, lifetime)
    raise response


def _minutes(retry_after: int | None) -> str:
    """'1 minute', '3 minutes': a Retry-After in seconds, rounded up to whole minutes."""
    minutes = max(1, math.ceil((retry_after or 60) / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _too_many(request: web.Request, email: str, retry_after: int | None, back_to: str | None) -> web.Response:
    wait = _minutes(retry_after)
    response = _sign_in_page(
        request,
        email=email,
        errors={"email": f"Too many attempts to sign in. Wait {wait}, then try again."},
        status=429,
        back_to=back_to,
    )
    response.headers["Retry-After"] = str(retry_after or 60)
    return response


@routes.post("/clinic/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    store = request.app[SESSIONS]
    session = await store.find(request)
    if session is not None:
        await session_form(request, session)
        try:
            await clinic_api(request, session).end_session()  # the token stops working at the gateway too
        except SessionExpired:
            pass
        except ApiUnavailable as exc:  # our copy goes anyway; the token lapses at its expiry
            log.warning("dashboard sign-out: the API did not end the token", extra={"error": repr(exc)})
        await store.end(request)
        log.info("dashboard sign-out", extra={"staff_id": session.staff_id, "clinic": session.clinic_slug})
    response = to_sign_in("signed-out" if session else None)
    store.forget(response)
    raise response


# --- setting a password from an invitation's (or the onboarding's) one-time link -----------------------------


@routes.get(SET_PASSWORD)
async def set_password_form(request: web.Request) -> web.Response:
    if token := request.query.get("token", ""):
        # Out of the address at once: into a cookie for this page alone, then the same page without it.
        response = redirect(SET_PASSWORD)
        response.set_cookie(
            PASSWORD_LINK_COOKIE,
            token[:MAX_LINK_TOKEN],
            httponly=True,
            samesite="Lax",  # the link is followed from an email: a top-level visit from another site
            secure=request.app[SESSIONS].secure,
            path=SET_PASSWORD,
            max_age=PASSWORD_LINK_SECONDS,
        )
        raise response
    if not request.cookies.get(PASSWORD_LINK_COOKIE):
        return _link_problem(request, "no_link", status=400)
    return render(request, "dashboard/set_password.html")


@routes.post(SET_PASSWORD)
async def set_password(request: web.Request) -> web.Response:
    form = await request.post()
    token = request.cookies.get(PASSWORD_LINK_COOKIE, "")
    if not form_is_genuine(request, form):
        return render(request, "dashboard/set_password.html", errors={"password": FORM_EXPIRED}, status=403)
    if not token:
        return _link_problem(request, "no_link", status=400)
    password, again = str(form.get("password", "")), str(form.get("password_again", ""))
    errors = {}
    if not password:
        errors["password"] = "Enter a password"
    elif password != again:
        errors["password_again"] = "The two passwords are different. Type the same password twice"
    if errors:
        return render(request, "dashboard/set_password.html", errors=errors, status=400)
    try:
        await clinic.set_password(api(request), token, password)
    except ApiRefused as exc:
        if exc.status == 422:
            return render(
                request, "dashboard/set_password.html", errors={"password": _password_problem(exc)}, status=400
            )
        if exc.status in (404, 410):
            return _link_problem(request, exc.code, status=410)
        raise
    response = to_sign_in("password-set")
    response.del_cookie(PASSWORD_LINK_COOKIE, path=SET_PASSWORD)
    raise response


def _password_problem(exc: ApiRefused) -> str:
    """The API's words for a password it refuses (too short, too common, …), field by field or whole."""
    for detail in exc.details if isinstance(exc.details, list) else ():
        if isinstance(detail, dict) and str(detail.get("field", "")).endswith("password") and detail.get("message"):
            return str(detail["message"])
    return exc.message or "Choose a longer password"


LINK_PROBLEMS = {
    "link_expired": (
        "This link has expired",
        "Links to set a password work for 72 hours. Ask your clinic's owner to invite you again: "
        "the new email has a fresh link. If you are the owner, ask whoever set up your clinic.",
    ),
    "link_used": (
        "This link has already been used",
        "Each link sets a password once. If you set yours, sign in with it. If you have forgotten it, ask your "
        "clinic's owner to remove your account and invite you again.",
    ),
    "link_not_found": (
        "This link is not valid",
        "Open the whole link from your email: some email programs cut long links in two. If it still does not "
        "work, ask your clinic's owner to invite you again.",
    ),
    "no_link": (
        "Open the link from your email",
        "To choose your password, open the link in the email that invited you to the clinic dashboard. It works "
        "for 72 hours, once.",
    ),
}


def _link_problem(request: web.Request, code: str, *, status: int) -> web.Response:
    heading, message = LINK_PROBLEMS.get(code, LINK_PROBLEMS["link_expired"])
    response = render(request, "dashboard/link_problem.html", status=status, heading=heading, message=message)
    if code != "no_link":
        response.del_cookie(PASSWORD_LINK_COOKIE, path=SET_PASSWORD)
    return response


# --- signed in: home and staff -----------------------------------------------------------------------------


@routes.get(HOME)
async def home(request: web.Request) -> web.Response:
    session = await signed_in(request)
    me = await clinic_api(request, session).me()
    # The names and the role as they are now (an owner may have renamed the clinic or changed a role).
    staff = me.get("staff") or {}
    session = await request.app[SESSIONS].update(
        request,
        session,
        name=staff.get("name", session.name),
        role=me.get("role", session.role),
        clinic_name=me["clinic"].get("name", session.clinic_name),
        clinic_timezone=me["clinic"].get("timezone", session.clinic_timezone),
    )
    request[SESSION] = session
    return render(request, "dashboard/home.html", session=session)


def _staff_rows(members: list[dict], session: Session) -> list[dict]:
    zone = session.zone
    rows = []
    for member in members:
        last = member.get("last_sign_in_at")
        rows.append(
            {
                **member,
                "role_label": "Owner" if member.get("role") == OWNER else "Staff",
                "status_label": "Invited" if member.get("status") == "invited" else "Active",
                "last_sign_in": formatting.when(datetime.fromisoformat(last), zone) if last else "Never",
                "is_me": member.get("id") == session.staff_id,
            }
        )
    return rows


async def _staff_page(
    request: web.Request,
    session: Session,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    members = await clinic_api(request, session).staff()
    return render(
        request,
        "dashboard/staff.html",
        session=session,
        status=status,
        staff=_staff_rows(members, session),
        values=values or {"role": STAFF},
        errors=errors or {},
        problem=problem,
        done=DONE_NOTES.get(request.query.get("done", "")),
        roles=[
            (STAFF, "Staff (reception)", "The diary, bookings and vouchers; reads the catalogue and therapists"),
            (OWNER, "Owner", "Everything, including staff accounts, settings and integrations"),
        ],
    )


@routes.get("/clinic/staff")
async def staff_page(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    return await _staff_page(request, session)


@routes.post("/clinic/staff")
async def invite(request: web.Request) -> web.Response:
    session = await signed_in(request)
    owner_only(request, session)
    form = await session_form(request, session)
    values = {name: str(form.get(name, "")).strip() for name in ("email", "name", "role")}
    errors = {}
    if not values["email"]:
        errors["email"] = "Enter their email address"
    elif not EMAIL.match(values["email"]) or len(values["email"]) > 254:
        errors["email"] = "Enter an email address in the correct format, like name@example.com"
    if not values["name"]:
        errors["name"] = "Enter their name"
    elif len(values["name"]) > 200:
        errors["name"] = "Their name must be 200 characters or fewer"
    if values["role"] not in ROLES:
        errors["role"] = "Choose what they may do"
    if errors:
        return await _staff_page(request, session, values=values, errors=errors, status=400)
    try:
        await clinic_api(request, session).invite(values["email"], values["name"], values["role"])
    except ApiRefused as exc:
        if exc.status in (409, 422):
            return await _staff_page(request, session, values=values, errors=_invite_errors(exc), status=400)
        raise
    log.info("dashboard: staff invited", extra={"clinic": session.clinic_slug, "role": values["role"]})
    raise redirect("/clinic/staff?done=invited")


def _invite_errors(exc: ApiRefused) -> dict:
    """The API's refusal, put beside the field it is about (email when it does not say)."""
    errors = {}
    for detail in exc.details if isinstance(exc.details, list) else ():
        field = str(detail.get("field", "")).rsplit(".", 1)[-1] if isinstance(detail, dict) else ""
        if field in ("email", "name", "role") and field not in errors:
            errors[field] = str(detail.get("message") or "Check this")
    if exc.status == 409 and not errors:
        errors["email"] = exc.message or "There is already an account with that email address"
    return errors or {"email": exc.message or "Check this"}


@routes.post("/clinic/staff/{staff_id}/remove")
async def remove(request: web.Request) -> web.Response:
    """First the question (who, and what removing does); then, confirmed, the removal."""
    session = await signed_in(request)
    owner_only(request, session)
    form = await session_form(request, session)
    try:
        staff_id = uuid.UUID(request.match_info["staff_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    api_ = clinic_api(request, session)
    if form.get("confirm") != "yes":
        member = next((m for m in await api_.staff() if m.get("id") == str(staff_id)), None)
        if member is None:
            raise web.HTTPNotFound()
        return render(request, "dashboard/staff_remove.html", session=session, member=member)
    try:
        await api_.remove(staff_id)
    except ApiRefused as exc:
        if exc.status == 409:  # themselves, or the last owner
            return await _staff_page(request, session, problem=exc.message, status=409)
        if exc.status == 404:
            raise web.HTTPNotFound() from None
        raise
    log.info("dashboard: staff removed", extra={"clinic": session.clinic_slug, "staff_id": str(staff_id)})
    raise redirect("/clinic/staff?done=removed")
