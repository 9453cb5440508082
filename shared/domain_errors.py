"""The base of every service's rule refusals. No imports, so pure domain modules can raise it; the
HTTP error middleware renders it in the one JSON error shape."""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, object] | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status it means at the edge
        self.code = code  # stable, for clients
        self.message = message  # for people
        self.details = details
