"""Small values encrypted at rest with a key kept outside the database (Fernet: AES-CBC with an HMAC), so a
dump or a stolen backup shows nothing of them. Each purpose derives its own key from its secret."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet


def fernet(secret: str, purpose: str) -> Fernet:
    """The Fernet key of `purpose`, derived from `secret`."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"{purpose}:{secret}".encode()).digest()))


class Sealer:
    def __init__(self, secret: str, purpose: str):
        self._fernet = fernet(secret, purpose)

    def seal(self, value: Any) -> str:
        """A JSON-able value as an opaque token."""
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def open(self, token: str) -> Any:
        return json.loads(self._fernet.decrypt(token.encode()))
