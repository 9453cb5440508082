"""The gateway's rate limits: per client address, stricter on hold creation (slot squatting), and per
clinic API key. One Redis round trip per request; if Redis is unreachable, requests pass (logged)."""
from __future__ import annotations

import hashlib
import logging

from aiohttp import web
from redis.exceptions import RedisError

from shared.config import Settings
from shared.errors import ApiError
from shared.keys import SETTINGS
from shared.ratelimit import Check, Limit, RateLimiter, Verdict

log = logging.getLogger(__name__)
LIMITER = web.AppKey("limiter", RateLimiter)
WINDOW = 60


def checks_for(request: web.Request, settings: Settings) -> list[Check]:
    client = request.remote or "unknown"
    checks = [(Limit("ip", settings.rate_limit_per_ip, WINDOW), client)]
    if request.method == "POST" and request.path == "/api/v1/holds":
        checks.append((Limit("holds-ip", settings.rate_limit_holds_per_ip, WINDOW), client))
    authorization = request.headers.get("Authorization")
    if authorization and request.path.startswith("/api/v1/clinic/"):
        fingerprint = hashlib.sha256(authorization.encode()).hexdigest()[:32]
        checks.append((Limit("key", settings.rate_limit_per_key, WINDOW), fingerprint))
    return checks


async def enforce(request: web.Request) -> Verdict | None:
    """429 in the error shape when over a limit; the verdict to report in headers otherwise."""
    try:
        verdict = await request.app[LIMITER].take(checks_for(request, request.app[SETTINGS]))
    except (RedisError, OSError) as exc:
        log.warning("rate limiter unavailable; letting the request through", extra={"error": repr(exc)})
        return None
    if not verdict.allowed:
        raise ApiError(429, "rate_limited", "Too many requests; please slow down", headers=verdict.headers())
    return verdict
