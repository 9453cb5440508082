"""Where signing in goes back to (pure: no I/O): the dashboard page the person was on when their session ended,
carried as `next` by the sign-in redirect and form. Only a path of our own dashboard is taken, so the sign-in page
cannot be made to send anyone to another site (an open redirect)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

DASHBOARD_PREFIX = "/clinic/"
MAX_LENGTH = 2000
# Printable ASCII but the backslash (browsers read `\` as `/`): no spaces, controls or other characters.
_SAFE = re.compile(r"[!-\[\]-~]+")
# The sign-in pages themselves: going back there would only ask again.
_NOT_PAGES = ("/clinic/sign-in", "/clinic/sign-out", "/clinic/set-password")


def safe_next(value: object) -> str | None:
    """`value` if it is a dashboard path (with its query) to go back to after signing in; else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH or not _SAFE.fullmatch(value):
        return None
    if not value.startswith(DASHBOARD_PREFIX) or "//" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    decoded = unquote(parts.path)  # what a server in front might read: no `..`, `//`, `\\` or controls either
    if not _SAFE.fullmatch(decoded) or "//" in decoded or any(s in (".", "..") for s in decoded.split("/")):
        return None
    if parts.path.rstrip("/") in _NOT_PAGES:
        return None
    return value
