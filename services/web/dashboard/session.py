"""Who is signed in to the dashboard: a random id in an HttpOnly cookie, the session in Redis under a digest of
that id (any web replica finds it, signing out ends it everywhere, and a copy of Redis holds no usable cookie).
The session holds the staff member's clinic-API bearer token (`cst_…`: the pages call the API with it), sealed
with a key derived from the cookie's id, so a copy of Redis holds no usable token either; who they are, their
clinic, and its own CSRF token, which every form of the signed-in pages carries."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis.asyncio as aioredis
from aiohttp import web
from cryptography.fernet import InvalidToken

from shared.sealing import fernet

COOKIE = "clinic_session"
LIFETIME_SECONDS = 12 * 3600
# A cookie value longer than this is nobody's session (ours are 43 characters): no Redis round trip for it.
MAX_ID_LENGTH = 100
OWNER, STAFF = "owner", "staff"
SEALING_PURPOSE = "clinic-session-token"


def tokens_match(sent: str | None, expected: str | None) -> bool:
    """A form's token against the one we issued, in constant time; nothing matches nothing."""
    return bool(sent) and bool(expected) and hmac.compare_digest(str(sent).encode(), str(expected).encode())


def zone_or_utc(name: str) -> ZoneInfo:
    """A clinic's time zone by name; UTC for one this machine does not know, so its pages still render."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Session:
    token: str  # the clinic API's bearer token for this staff member (never shown, never in a page)
    staff_id: str
    name: str
    email: str
    role: str  # owner | staff
    clinic_id: str
    clinic_slug: str
    clinic_name: str
    clinic_timezone: str
    csrf: str

    @property
    def zone(self) -> ZoneInfo:
        return zone_or_utc(self.clinic_timezone)

    @property
    def is_owner(self) -> bool:
        return self.role == OWNER

    def csrf_ok(self, sent: str | None) -> bool:
        return tokens_match(sent, self.csrf)


class SessionStore:
    def __init__(self, redis: aioredis.Redis, prefix: str, *, secure: bool):
        self.redis = redis
        self.prefix = f"{prefix}web:clinic_session:"
        self.secure = secure  # the cookie only over https (production)

    def _key(self, session_id: str) -> str:
        return self.prefix + hashlib.sha256(session_id.encode()).hexdigest()

    @staticmethod
    def _kept(session_id: str, session: Session) -> str:
        sealed = fernet(session_id, SEALING_PURPOSE).encrypt(session.token.encode()).decode()
        return json.dumps({**asdict(session), "token": sealed})

    async def start(self, session: Session, lifetime: int = LIFETIME_SECONDS) -> str:
        """Keeps `session` for `lifetime` seconds (at most 12 h); the id its cookie carries."""
        session_id = secrets.token_urlsafe(32)
        await self.redis.set(self._key(session_id), self._kept(session_id, session), ex=max(1, lifetime))
        return session_id

    async def find(self, request: web.Request) -> Session | None:
        return await self.load(request.cookies.get(COOKIE, ""))

    async def load(self, session_id: str) -> Session | None:
        """The session of a cookie's id; None if there is none (or it cannot be read)."""
        if not session_id or len(session_id) > MAX_ID_LENGTH:
            return None
        raw = await self.redis.get(self._key(session_id))
        if not raw:
            return None
        try:
            kept = json.loads(raw)
            kept["token"] = fernet(session_id, SEALING_PURPOSE).decrypt(kept["token"].encode()).decode()
            return Session(**kept)
        except (TypeError, ValueError, KeyError, InvalidToken):  # another release's shape: sign in again
            return None

    async def update(self, request: web.Request, session: Session, **changes: str) -> Session:
        """The session with `changes` (e.g. a renamed clinic), kept for the rest of its life."""
        changed = replace(session, **changes)
        if changed != session:
            session_id = request.cookies[COOKIE]
            await self.redis.set(self._key(session_id), self._kept(session_id, changed), keepttl=True)
        return changed

    async def end(self, request: web.Request) -> None:
        if session_id := request.cookies.get(COOKIE):
            await self.redis.delete(self._key(session_id))

    def remember(self, response: web.StreamResponse, session_id: str, lifetime: int = LIFETIME_SECONDS) -> None:
        """HttpOnly (no script reads it), SameSite=Lax (not sent on other sites' POSTs), Secure in production."""
        response.set_cookie(
            COOKIE,
            session_id,
            httponly=True,
            samesite="Lax",
            secure=self.secure,
            path="/",
            max_age=max(1, min(lifetime, LIFETIME_SECONDS)),
        )

    def forget(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/")


SESSIONS = web.AppKey("clinic_sessions", SessionStore)
SESSION = web.RequestKey("clinic_session", Session)
