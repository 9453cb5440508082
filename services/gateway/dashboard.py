"""Clinic dashboard pages: sign in, the signed-in page, sign out.

Sign-in is checked by the booking service (it owns the staff accounts); the gateway keeps the session
(services.gateway.sessions). Forms carry a CSRF token: before sign-in a double-submit token (cookie and
form field), after it the session's own. A signed-in page may call the clinic API with the session
cookie instead of an API key (see `session_clinic`), sending the CSRF token on anything but a read."""

from __future__ import annotations

import asyncio
import logging
import secrets
from functools import lru_cache
from pathlib import Path

import aiohttp
import jinja2
from aiohttp import web

from services.gateway.limits import LIMITER, fingerprint
from services.gateway.proxy import HTTP_SESSION
from services.gateway.sessions import (
    COOKIE,
    CSRF_HEADER,
    SESSIONS,
    SIGN_IN_CSRF_COOKIE,
    Session,
    cookie_options,
    tokens_match,
)
from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.errors import ApiError
from shared.keys import SETTINGS
from shared.ratelimit import Limit

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

# Password guessing: a handful of tries per client address per quarter hour (token bucket, refills steadily),
# and as many per account (the email typed, known or not), so guesses spread over many addresses gain nothing.
# Every attempt counts, before its check: charging failures afterwards would let a burst of parallel guesses
# through. The price: someone who knows a staff email can slow that account's sign-in, never get in.
SIGN_IN_ATTEMPTS, SIGN_IN_WINDOW = 10, 15 * 60
SIGN_IN_ACCOUNT_ATTEMPTS = 10
SIGN_IN_PER_CLIENT = Limit("sign-in-ip", SIGN_IN_ATTEMPTS, SIGN_IN_WINDOW)
SIGN_IN_PER_ACCOUNT = Limit("sign-in-account", SIGN_IN_ACCOUNT_ATTEMPTS, SIGN_IN_WINDOW)
SIGN_IN_FORM_SECONDS = 3600
SIGN_IN_TIMEOUT = aiohttp.ClientTimeout(total=10)
# Methods that change nothing, so need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _page(name: str, status: int = 200, **context) -> web.Response:
    response = web.Response(
        text=_templates().get_template(name).render(**context), status=status, content_type="text/html"
    )
    # Pages with a session or a form token in them are never cached, by the browser or on the way.
    response.headers["Cache-Control"] = "no-store"
    return response


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _sign_in_page(
    request: web.Request, *, error: str | None = None, email: str = "", status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(32)
    response = _page("sign_in.html", status, form_csrf=token, error=error, email=email, csrf=None)
    response.set_cookie(
        SIGN_IN_CSRF_COOKIE, token, **cookie_options(request.app[SETTINGS], max_age=SIGN_IN_FORM_SECONDS)
    )
    return response


@routes.get("/clinic")
async def dashboard(request: web.Request) -> web.Response:
    session = await request.app[SESSIONS].find(request)
    if session is None:
        return _redirect("/clinic/sign-in")
    return _page("dashboard.html", session=session, csrf=session.csrf)


@routes.get("/clinic/sign-in")
async def sign_in_form(request: web.Request) -> web.Response:
    if await request.app[SESSIONS].find(request) is not None:
        return _redirect("/clinic")
    return _sign_in_page(request)


@routes.post("/clinic/sign-in")
async def sign_in(request: web.Request) -> web.Response:
    form = await request.post()
    if not tokens_match(str(form.get("csrf", "")), request.cookies.get(SIGN_IN_CSRF_COOKIE)):
        return _sign_in_page(request, error="The form had expired; please sign in again.", status=403)
    email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
    checks = [(SIGN_IN_PER_CLIENT, request.remote or "unknown")]
    if email:
        # Whether or not the account exists: a refusal then says nothing about it (and costs no password check).
        checks.append((SIGN_IN_PER_ACCOUNT, fingerprint(email.lower())))
    verdict = await request.app[LIMITER].take(checks)
    if not verdict.allowed:
        response = _sign_in_page(request, error="Too many sign-in attempts; please wait a few minutes.", status=429)
        response.headers.update(verdict.headers())
        return response
    identity = await _check_password(request, email, password) if email and password else None
    if identity is None:
        log.info("dashboard sign-in refused")  # no email in the log: it may be a typo'd password
        return _sign_in_page(request, error="That email and password do not match an account.", email=email, status=401)
    token, session = await request.app[SESSIONS].start(identity)
    log.info("dashboard sign-in", extra={"staff_id": session.staff_id, "clinic": session.clinic})
    response = _redirect("/clinic")
    response.set_cookie(COOKIE, token, **cookie_options(request.app[SETTINGS]))
    response.del_cookie(SIGN_IN_CSRF_COOKIE, path="/")
    return response


@routes.post("/clinic/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    session = await request.app[SESSIONS].find(request)
    if session is not None:
        form = await request.post()
        if not session.csrf_ok(str(form.get("csrf", ""))):
            raise ApiError(403, "csrf_failed", "The form's security token is missing or wrong; reload the page")
        await request.app[SESSIONS].end(request)
        log.info("dashboard sign-out", extra={"staff_id": session.staff_id, "clinic": session.clinic})
    response = _redirect("/clinic/sign-in")
    response.del_cookie(COOKIE, path="/")
    return response


async def _check_password(request: web.Request, email: str, password: str) -> dict | None:
    """The booking service's answer for these credentials: who, for which clinic; None if nobody."""
    settings = request.app[SETTINGS]
    try:
        async with request.app[HTTP_SESSION].post(
            f"{settings.upstream('booking')}/internal/v1/staff/sign-in",
            json={"email": email, "password": password},
            headers={INTERNAL_TOKEN_HEADER: settings.internal_token},
            timeout=SIGN_IN_TIMEOUT,
        ) as resp:
            if resp.status in (401, 422):
                return None
            if resp.status == 200:
                return await resp.json()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass
    raise ApiError(
        503, "service_unavailable", "Cannot sign you in right now, please retry shortly", headers={"Retry-After": "5"}
    )


async def session_clinic(request: web.Request) -> str | None:
    """The clinic of a signed-in dashboard calling the clinic API with its cookie (None: no session).
    A change (anything but a read) must carry the session's CSRF token in a header, which another site's
    page cannot set; SameSite=Lax already keeps the cookie off other sites' POSTs."""
    if COOKIE not in request.cookies:
        return None
    session: Session | None = await request.app[SESSIONS].find(request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not session.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "csrf_failed", f"Send the dashboard's CSRF token in the {CSRF_HEADER} header")
    return session.clinic_id
