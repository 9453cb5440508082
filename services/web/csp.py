"""The Content-Security-Policy of our pages: our own files only, no inline script or style, framed by nobody.
A page widens it only for what it needs: the booking flow may be framed by the clinic's own websites
(framing.py), and the pay page loads Stripe.js (card_payment.py)."""

from __future__ import annotations

from typing import Mapping

Sources = tuple[str, ...]

# Directive → sources, in the order the header lists them.
PAGE: Mapping[str, Sources] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "frame-ancestors": ("'none'",),
    "base-uri": ("'none'",),
    "form-action": ("'self'",),
}


def page_policy(*, frame_ancestors: Sources = (), widened: Mapping[str, Sources] | None = None) -> str:
    """The header's value: PAGE, framed by `frame_ancestors` if any, with `widened` sources added to their
    directives (a directive PAGE leaves to default-src starts from default-src's sources)."""
    directives = dict(PAGE)
    if frame_ancestors:
        directives["frame-ancestors"] = frame_ancestors
    for name, sources in (widened or {}).items():
        directives[name] = directives.get(name, PAGE["default-src"]) + sources
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())
