"""Card payments in Stripe's own Payment Element, when STRIPE_PUBLISHABLE_KEY is set: the pay page loads
Stripe.js from js.stripe.com (Stripe requires it so) and our static/card_payment.js, which mounts the
Element with the booking's PaymentIntent and confirms it there (3-D Secure included); the card never
reaches our servers. Stripe.js then comes back to the flow's confirming page. Without the key, the offline
test-card form (offline_card.py) stands in, and nothing here applies."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aiohttp import web

from services.web.flows import FLOWS
from shared.keys import SETTINGS

STRIPE_JS = "https://js.stripe.com/v3/"
# What Stripe documents Stripe.js needs beyond our own files (its integration security guide): only on the
# pay page, added to our policy (csp.py).
STRIPE_SOURCES = {"script-src": ("https://js.stripe.com",),
                  "frame-src": ("https://js.stripe.com", "https://hooks.stripe.com"),
                  "connect-src": ("https://api.stripe.com",)}
PAY_PAGE = "/c/{clinic}/book/pay"
CONFIRMING_PAGE = "/c/{clinic}/book/confirming"
# Stripe.js sends the customer to the confirming page with `redirect_status=failed` when the bank refused
# (e.g. 3-D Secure not passed): the intent can be paid again, so back to the pay page, told why.
REFUSED = "refused"
PROBLEMS = {REFUSED: "Your bank did not approve the payment. Nothing was charged. Try again, or use another card."}


@dataclass(frozen=True)
class CardPayment:
    """What the pay page gives card_payment.js (as data attributes: the CSP allows no inline script)."""
    publishable_key: str
    client_secret: str
    return_url: str                 # absolute: Stripe.js goes there after confirming
    problem: str | None = None      # why the last try failed, in words
    stripe_js: ClassVar[str] = STRIPE_JS


CARD_PAYMENT = web.RequestKey("card_payment", CardPayment)


def _page(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


async def _payment(request: web.Request, slug: str) -> dict:
    """The payment of the customer's booking at this clinic (what POST /api/v1/bookings answered), if any."""
    found = await request.app[FLOWS].find(request)
    if found is None or found[1].get("clinic") != slug:
        return {}
    return found[1].get("booking", {}).get("payment", {})


@web.middleware
async def card_payment_middleware(request: web.Request, handler):
    """On the pay page, the customer's PaymentIntent for the page to show (CARD_PAYMENT, which pages.render
    reads); on the confirming page after a refusal, back to the pay page. Beside the flow's handlers
    (booking.py), which need not know which card form the page shows."""
    settings = request.app[SETTINGS]
    if settings.stripe_publishable_key and request.method == "GET":
        page, slug = _page(request), request.match_info.get("clinic", "")
        if page == CONFIRMING_PAGE and request.query.get("redirect_status") == "failed":
            raise web.HTTPSeeOther(f"/c/{slug}/book/pay?card={REFUSED}")
        if page == PAY_PAGE and (secret := (await _payment(request, slug)).get("client_secret")):
            request[CARD_PAYMENT] = CardPayment(settings.stripe_publishable_key, secret,
                                                f"{settings.public_url}/c/{slug}/book/confirming",
                                                PROBLEMS.get(request.query.get("card", "")))
    return await handler(request)
