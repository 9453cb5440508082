"""Small values encrypted at rest with a key kept outside the database (Fernet: AES-CBC with an HMAC), so a
dump or a stolen backup shows nothing of them. Each purpose derives its own key from its secret."""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet


class Sealer:
    def __init__(self, secret: str, purpose: str):
        key = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, value: Any) -> str:
        """A JSON-able value as an opaque token."""
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def open(self, token: str) -> Any:
        return json.loads(self._fernet.decrypt(token.encode()))
