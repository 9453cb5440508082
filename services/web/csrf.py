"""CSRF protection for every form: a random token in an HttpOnly, SameSite=Strict cookie, repeated in a
hidden field of each form; a POST whose field does not match the cookie changes nothing (403). Its
middleware is the last our cookies pass on their way out: inside a clinic's frame it makes each of them
a partitioned cookie (framing.py), this one and the booking flow's alike."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from services.web.framing import fit_cookies_to_frame
from shared.keys import SETTINGS

COOKIE = "csrf"
FIELD = "csrf"
TOKEN = web.RequestKey("csrf_token", str)


def token_for(request: web.Request) -> str:
    """This browser's token (a new one if it has none yet: the middleware then sets its cookie)."""
    if TOKEN not in request:
        request[TOKEN] = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
    return request[TOKEN]


def form_is_genuine(request: web.Request, form) -> bool:
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(str(form.get(FIELD, "")).encode(), cookie.encode())


@web.middleware
async def csrf_cookie_middleware(request: web.Request, handler):
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a redirect may set a cookie too (the booking flow's)
        fit_cookies_to_frame(request, exc)
        raise
    if TOKEN in request and request.cookies.get(COOKIE) != request[TOKEN]:
        response.set_cookie(
            COOKIE,
            request[TOKEN],
            httponly=True,
            samesite="Strict",
            path="/",
            secure=request.app[SETTINGS].env == "production",
        )
    fit_cookies_to_frame(request, response)
    return response
