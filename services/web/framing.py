"""The booking flow inside a clinic's own website (the overlay that /embed.js opens there).

- Which websites may frame a page: the clinic's own (its `embed_origins` setting) on its booking pages
  (/c/{clinic}/book…), nobody on any other page. The browser enforces it (CSP frame-ancestors).
- Cookies inside that frame: the clinic's site is another site, and browsers send no SameSite=Lax or
  Strict cookie to a frame under another site, and (Chromium now) block third-party cookies outright.
  So in a frame our cookies (CSRF token, where the customer is in the flow) are sent as partitioned
  cookies ("CHIPS": SameSite=None; Secure; Partitioned): kept for our pages under that one top-level
  site only, out of reach of every other site. A page opened directly keeps its Strict and Lax cookies.
  Browsers count http://localhost and http://127.0.0.1 as secure, so this works in development too.
- A browser that keeps no cookie in the frame even so loses the flow at its first form post (the CSRF
  check): that answer says so and offers the flow in a new window (see pages.page_errors_middleware).
"""

from __future__ import annotations

import re

from aiohttp import web

from shared.origins import origin_problem

BOOKING_PAGE = re.compile(r"^/c/([^/]+)/book(?:/|$)")
FRAME_DESTINATIONS = frozenset({"iframe", "frame"})


def frame_ancestors(request: web.Request, clinic: dict | None) -> tuple[str, ...]:
    """Who may frame this page: on `clinic`'s booking pages, the origins it allows (only well-formed
    ones: each becomes part of a header); elsewhere nobody (an empty answer)."""
    page = BOOKING_PAGE.match(request.path)
    if clinic is None or page is None or page.group(1) != clinic.get("slug"):
        return ()
    return tuple(o for o in clinic.get("embed_origins", ()) if origin_problem(o) is None)


def framed(request: web.Request) -> bool:
    """Is this page being loaded into a frame? (Fetch Metadata; every current browser sends it.)"""
    return request.headers.get("Sec-Fetch-Dest", "") in FRAME_DESTINATIONS


def fit_cookies_to_frame(request: web.Request, response: web.StreamResponse) -> None:
    """Inside a frame, send every cookie the response sets as a partitioned one (see the module's note).
    Written as raw headers: Python's http.cookies knows no Partitioned attribute before 3.14."""
    if not framed(request):
        return
    for name, morsel in list(response.cookies.items()):
        morsel["samesite"] = "None"
        morsel["secure"] = True
        response.headers.add("Set-Cookie", morsel.OutputString() + "; Partitioned")
        del response.cookies[name]


def cookies_refused(request: web.Request, cookie: str) -> bool:
    """A post from inside a frame without the cookie every page sets: this browser keeps none there."""
    return request.method == "POST" and framed(request) and cookie not in request.cookies
