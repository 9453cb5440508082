"""CORS for the configured origins only (e.g. a clinic's website embedding the booking flow); any other
origin gets no CORS headers, so browsers keep it out."""

from __future__ import annotations

from aiohttp import web

from shared.keys import SETTINGS

ALLOWED_METHODS = "GET, POST, PATCH, DELETE"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
EXPOSED_HEADERS = "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
MAX_AGE = "600"


def _allowed(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    return origin if origin and origin.rstrip("/") in request.app[SETTINGS].cors_origins else None


@web.middleware
async def cors_middleware(request: web.Request, handler):
    origin = _allowed(request)
    if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
        if origin is None:
            return web.Response(status=403)
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": MAX_AGE,
                "Vary": "Origin",
            },
        )
    response = await handler(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.headers["Vary"] = "Origin"
    return response
