"""Our pages' Content-Security-Policy (services/web/csp.py): unchanged for every page that needs nothing more;
widened only by what a page asks for."""

from __future__ import annotations

from services.web.card_payment import STRIPE_SOURCES
from services.web.csp import page_policy

OWN_FILES_ONLY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in policy.split("; "))}


def test_a_page_that_asks_for_nothing_loads_only_our_files_and_is_framed_by_nobody():
    assert page_policy() == OWN_FILES_ONLY


def test_a_booking_page_is_framed_by_the_clinics_own_websites_and_nothing_else_changes():
    policy = directives(page_policy(frame_ancestors=("https://www.example.com", "http://localhost:8000")))
    assert policy["frame-ancestors"] == ["https://www.example.com", "http://localhost:8000"]
    assert {k: v for k, v in policy.items() if k != "frame-ancestors"} == {
        k: v for k, v in directives(OWN_FILES_ONLY).items() if k != "frame-ancestors"
    }


def test_the_card_pay_page_adds_only_what_stripe_js_needs():
    policy = directives(page_policy(widened=STRIPE_SOURCES))
    assert policy["script-src"] == ["'self'", "https://js.stripe.com"]
    assert policy["frame-src"] == ["'self'", "https://js.stripe.com", "https://hooks.stripe.com"]
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["style-src"] == ["'self'"]
    assert "'unsafe-inline'" not in page_policy(widened=STRIPE_SOURCES)
