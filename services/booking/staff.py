"""Clinic staff passwords (pure): scrypt from the standard library, a random salt per password, the
parameters stored with the hash so they can be raised later; and the demo accounts' stable passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

# scrypt cost: 2^15 x 8 (about 32 MiB and some tens of ms per check): slow for a guesser, fine for a sign-in.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSWORD_LENGTH = 12


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, _unb64(digest))


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Checked against for an unknown email too, so a sign-in takes as long whether or not the account
    exists (made on first use, not at import)."""
    return hash_password(secrets.token_urlsafe(16))


def development_password(seed_secret: str, clinic_slug: str) -> str:
    """A stable password per demo clinic's demo account, so `make run` can print one that keeps working."""
    return _b64(hmac.new(seed_secret.encode(), f"dev-staff:{clinic_slug}".encode(), hashlib.sha256).digest())[:20]


def development_email(clinic_slug: str) -> str:
    return f"reception@{clinic_slug}.example"
