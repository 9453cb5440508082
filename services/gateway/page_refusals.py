"""A page's form refused by the gateway's own rate limits (too many sign-in attempts, or holds, from one address)
is told so in a page saying how long to wait, not in the API's JSON: the pages' forms are sent by people."""

from __future__ import annotations

import html
import math

from aiohttp import web

from services.gateway.routes import ROUTE_TABLE
from services.gateway.routing import route_for
from shared.errors import ApiError

PAGE = """<!doctype html>
<html lang="en-GB">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Too many attempts</title></head>
<body>
<main>
<h1>Too many attempts</h1>
<p>{message}</p>
<p><a href="{back}">Go back</a></p>
</main>
</body>
</html>
"""


def wait_words(retry_after: str | None) -> str:
    """'1 minute', '3 minutes': a Retry-After in seconds, rounded up to whole minutes."""
    seconds = int(retry_after) if retry_after and retry_after.isdigit() else 60
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


@web.middleware
async def page_refusals_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        route = route_for(request.path, request.app[ROUTE_TABLE])
        if exc.status != 429 or route is None or route.service != "web":
            raise
        wait = wait_words(exc.headers.get("Retry-After"))
        message = f"There have been too many attempts from your connection. Wait {wait}, then try again."
        return web.Response(
            text=PAGE.format(message=html.escape(message), back=html.escape(_back(request.path))),
            status=429,
            content_type="text/html",
            headers={**exc.headers, "Cache-Control": "no-store"},
        )


def _back(path: str) -> str:
    """Where "Go back" leads: the sign-in page itself, else the page above the refused form's address."""
    if path.endswith("/sign-in"):
        return path
    return path.rsplit("/", 1)[0] or "/"
