"""Clinic dashboard sessions: a random token in an HttpOnly cookie, the session in Redis under a hash of
that token (any gateway replica knows it, signing out ends it everywhere, and a copy of Redis holds no
usable cookie). Each session has its own CSRF token, which forms and the dashboard's API calls carry."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis
from aiohttp import web

from services.gateway.settings import GatewaySettings

COOKIE = "clinic_session"
# Before there is a session, the sign-in form's own CSRF token (double submit: cookie and form field).
SIGN_IN_CSRF_COOKIE = "clinic_sign_in_csrf"
LIFETIME_SECONDS = 12 * 3600
CSRF_HEADER = "X-CSRF-Token"


def tokens_match(sent: str | None, expected: str | None) -> bool:
    """A form's or header's token against the one we issued, in constant time; nothing matches nothing."""
    return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


@dataclass(frozen=True)
class Session:
    staff_id: str
    name: str
    clinic_id: str
    clinic: str
    clinic_name: str
    csrf: str

    def csrf_ok(self, sent: str | None) -> bool:
        return tokens_match(sent, self.csrf)


class SessionStore:
    def __init__(self, redis: aioredis.Redis, prefix: str):
        self.redis = redis
        self.prefix = prefix

    def _key(self, token: str) -> str:
        return f"{self.prefix}session:{hashlib.sha256(token.encode()).hexdigest()}"

    async def start(self, identity: dict) -> tuple[str, Session]:
        """A new session for who signed in (the booking service's answer); its cookie token."""
        token = secrets.token_urlsafe(32)
        session = Session(
            identity["staff_id"],
            identity["name"],
            identity["clinic_id"],
            identity["clinic"],
            identity["clinic_name"],
            secrets.token_urlsafe(32),
        )
        await self.redis.set(self._key(token), json.dumps(asdict(session)), ex=LIFETIME_SECONDS)
        return token, session

    async def find(self, request: web.Request) -> Session | None:
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 100:
            return None
        raw = await self.redis.get(self._key(token))
        return Session(**json.loads(raw)) if raw else None

    async def end(self, request: web.Request) -> None:
        if token := request.cookies.get(COOKIE):
            await self.redis.delete(self._key(token))


SESSIONS = web.AppKey("sessions", SessionStore)


def cookie_options(settings: GatewaySettings, max_age: int = LIFETIME_SECONDS) -> dict:
    """HttpOnly (no script reads it), SameSite=Lax (not sent on other sites' POSTs), Secure in production."""
    return {
        "httponly": True,
        "samesite": "Lax",
        "secure": settings.env == "production",
        "path": "/",
        "max_age": max_age,
    }
