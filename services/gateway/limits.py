"""The gateway's rate limits: per client address, stricter on hold creation (slot squatting), and per
clinic API key. One Redis round trip per request; if Redis is unreachable, requests pass (logged).
The client address is `request.remote`: the one our trusted proxies name, if any (proxy.client_address_middleware).

A read (GET/HEAD) does not wait for that round trip: the check runs while the upstream answers and a
refusal still wins (see routes.proxy). A client refused once is then checked first, before any upstream
work, until its Retry-After has passed, so going over the limit buys no upstream reads."""

from __future__ import annotations

import hashlib
import logging
import re
import time

from aiohttp import web
from redis.exceptions import RedisError

from services.gateway.settings import GatewaySettings
from shared.errors import ApiError
from shared.keys import SETTINGS
from shared.ratelimit import Check, Limit, RateLimiter, Verdict

log = logging.getLogger(__name__)
LIMITER = web.AppKey("limiter", RateLimiter)
WINDOW = 60
READ_METHODS = frozenset({"GET", "HEAD"})
MAX_REMEMBERED = 10_000
# A hold taken from a booking page (or a waitlist joined from one) counts against the same per-client hold limit as
# one taken via the API.
PAGE_HOLD = re.compile(r"^/c/[^/]+/book/(hold|waitlist)$")
# Password guessing per client address: a handful of sign-in attempts per quarter hour (a token bucket: it
# refills steadily), through the API or the dashboard's sign-in page (services/web, which passes the attempt on
# to the booking service directly, so it is counted here once). Booking limits each account likewise.
# Posts that make something costly (a hold of a time, a waitlist entry and its email), limited per client address.
HOLD_LIKE_PATHS = frozenset({"/api/v1/holds", "/api/v1/waitlist"})
SIGN_IN_PATHS = frozenset({"/api/v1/staff/sessions", "/clinic/sign-in"})
SIGN_IN_WINDOW = 15 * 60


class RecentlyRefused:
    """Client addresses refused lately, with when they may come back (time.monotonic()), in this process."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def add(self, client: str, retry_after_seconds: int) -> None:
        if len(self._until) >= MAX_REMEMBERED:
            self._until.clear()
        self._until[client] = time.monotonic() + max(1, retry_after_seconds)

    def __contains__(self, client: str) -> bool:
        until = self._until.get(client)
        if until is None:
            return False
        if until <= time.monotonic():
            del self._until[client]
            return False
        return True


REFUSED = web.AppKey("recently_refused", RecentlyRefused)


def fingerprint(secret: str) -> str:
    """What a limit counts a key or an account by: a digest, so Redis holds no key and no email."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def may_check_alongside(request: web.Request) -> bool:
    """May this request's limit check run while the upstream answers? Reads only, and not for a client
    refused lately."""
    return request.method in READ_METHODS and (request.remote or "unknown") not in request.app[REFUSED]


def checks_for(request: web.Request, settings: GatewaySettings) -> list[Check]:
    client = request.remote or "unknown"
    checks = [(Limit("ip", settings.rate_limit_per_ip, WINDOW), client)]
    # Joining the waitlist makes rows and emails: limited as holds are.
    if request.method == "POST" and (request.path in HOLD_LIKE_PATHS or PAGE_HOLD.match(request.path)):
        checks.append((Limit("holds-ip", settings.rate_limit_holds_per_ip, WINDOW), client))
    if request.method == "POST" and request.path in SIGN_IN_PATHS:
        checks.append((Limit("sign-in-ip", settings.rate_limit_sign_ins_per_ip, SIGN_IN_WINDOW), client))
    authorization = request.headers.get("Authorization")
    if authorization and request.path.startswith("/api/v1/clinic/"):
        checks.append((Limit("key", settings.rate_limit_per_key, WINDOW), fingerprint(authorization)))
    return checks


async def enforce(request: web.Request) -> Verdict | None:
    """429 in the error shape when over a limit; the verdict to report in headers otherwise."""
    try:
        verdict = await request.app[LIMITER].take(checks_for(request, request.app[SETTINGS]))
    except (RedisError, OSError) as exc:
        log.warning("rate limiter unavailable; letting the request through", extra={"error": repr(exc)})
        return None
    if not verdict.allowed:
        request.app[REFUSED].add(request.remote or "unknown", verdict.retry_after_seconds)
        raise ApiError(429, "rate_limited", "Too many requests; please slow down", headers=verdict.headers())
    return verdict
