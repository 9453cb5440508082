"""Clinic API keys (pure): `clk_<prefix>_<secret>`, 8 visible characters and 160 secret bits; stored
as a SHA-256 hash (a key is random, so a fast hash is enough; no salt needed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX_LENGTH = 8


def generate() -> tuple[str, str]:
    """A new key and its prefix."""
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    return f"clk_{prefix}_{secrets.token_urlsafe(20)}", prefix


def development_key(seed_secret: str, clinic_slug: str) -> tuple[str, str]:
    """A stable key per demo clinic, so `make run` can print one that keeps working across runs."""
    digest = hmac.new(seed_secret.encode(), f"dev-api-key:{clinic_slug}".encode(), hashlib.sha256).hexdigest()
    prefix = digest[:PREFIX_LENGTH]
    return f"clk_{prefix}_{digest[PREFIX_LENGTH:48]}", prefix


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def prefix_of(key: str) -> str | None:
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "clk" or len(parts[1]) != PREFIX_LENGTH:
        return None
    return parts[1]


# A clinic's live keys at most (one per integration is plenty; a leak of many is worse).
MAX_LIVE_KEYS = 20
# After a rotation the old key keeps working this long by default (its integrations switch over), at most a week.
ROTATION_GRACE_HOURS = 24
MAX_ROTATION_GRACE_HOURS = 168
