"""Manage-link tokens: HMAC-signed, expiring, bound to one booking. Not guessable, not the booking id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime, timezone


class TokenInvalid(Exception):
    """The token is forged, for another booking, malformed, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, booking_id: uuid.UUID, expires: int) -> bytes:
    return hmac.new(key.encode(), f"manage:{booking_id}:{expires}".encode(), hashlib.sha256).digest()


def make_token(key: str, booking_id: uuid.UUID, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{expires}.{_b64(_mac(key, booking_id, expires))}"


def check_token(key: str, token: str, booking_id: uuid.UUID, now: datetime) -> None:
    try:
        expires_text, mac_text = token.split(".", 1)
        expires = int(expires_text)
        given = _unb64(mac_text)
    except (ValueError, TypeError):
        raise TokenInvalid("malformed") from None
    if not hmac.compare_digest(given, _mac(key, booking_id, expires)):
        raise TokenInvalid("signature")
    if datetime.fromtimestamp(expires, timezone.utc) <= now:
        raise TokenInvalid("expired")


# --- links that name one thing for one purpose, without expiry (a waitlist entry's leave link, an offer's link) ----
# The thing's own state decides what the link may still do (an entry left, an offer run out); the purpose keeps a
# token for one kind of link from opening another kind, and from being a manage token.


def _purpose_mac(key: str, purpose: str, thing_id: uuid.UUID) -> bytes:
    return hmac.new(key.encode(), f"{purpose}:{thing_id}".encode(), hashlib.sha256).digest()


def make_link_token(key: str, purpose: str, thing_id: uuid.UUID) -> str:
    return _b64(_purpose_mac(key, purpose, thing_id))


def check_link_token(key: str, purpose: str, token: str, thing_id: uuid.UUID) -> None:
    try:
        given = _unb64(token)
    except (ValueError, TypeError):
        raise TokenInvalid("malformed") from None
    if not hmac.compare_digest(given, _purpose_mac(key, purpose, thing_id)):
        raise TokenInvalid("signature")
