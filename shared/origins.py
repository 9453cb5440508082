"""A web origin as a clinic names its own website: `http(s)://host[:port]` and nothing else (no path, no
wildcard, no user name, no IPv6 literal, no non-ASCII host). The booking service refuses anything else
when a clinic sets it; the web service puts the stored origins into a CSP `frame-ancestors` header, and
skips anything else there too, so a stored value can never add a directive to that header. Pure."""

from __future__ import annotations

import re

MAX_ORIGIN_LENGTH = 300
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ORIGIN = re.compile(rf"(https?)://({_LABEL}(?:\.{_LABEL})*)(?::([0-9]{{1,5}}))?")  # whole text (fullmatch)
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HOST_LENGTH = 253
EXAMPLE = "https://www.example.com"


def origin_problem(text: str) -> str | None:
    """Why `text` is not an origin we accept, in words for the clinic; None if it is one."""
    # ASCII first: lower() maps some other characters to ASCII letters (the Kelvin sign to "k").
    match = _ORIGIN.fullmatch(text.lower()) if text.isascii() and len(text) <= MAX_ORIGIN_LENGTH else None
    if match is None:
        return f"must be a web origin only (http or https, a host name and an optional port), like {EXAMPLE}"
    host, port = match.group(2), match.group(3)
    if len(host) > MAX_HOST_LENGTH:
        return f"has a host name longer than {MAX_HOST_LENGTH} characters"
    if port is not None and not 0 < int(port) <= 65535:
        return "has a port outside 1 to 65535"
    return None


def canonical_origin(text: str) -> str:
    """The origin as a browser writes it (lower case, no default port); `text` must have no origin_problem."""
    match = _ORIGIN.fullmatch(text.lower())
    if match is None:
        raise ValueError("not a web origin (check origin_problem first)")
    scheme, host, port = match.groups()
    if port is None or int(port) == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{int(port)}"
