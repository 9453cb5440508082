"""Card payments in Stripe's own Payment Element, when STRIPE_PUBLISHABLE_KEY is set: the pay page loads
Stripe.js from js.stripe.com (Stripe requires it so) and our static/card_payment.js, which mounts the
Element with the booking's or the gift's PaymentIntent and confirms it there (3-D Secure included); the card
never reaches our servers. Stripe.js then comes back to the flow's next page (the booking's confirming page,
the gift's thank-you page, the manage link's confirming page). Without the key, the offline test-card form
(offline_card.py) stands in, and nothing here applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote

from aiohttp import web

from services.web.flows import FLOWS, VOUCHER_FLOWS
from shared.keys import SETTINGS

STRIPE_JS = "https://js.stripe.com/v3/"
# What Stripe documents Stripe.js needs beyond our own files (its integration security guide): only on the
# pay page, added to our policy (csp.py).
STRIPE_SOURCES = {
    "script-src": ("https://js.stripe.com",),
    "frame-src": ("https://js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
}


@dataclass(frozen=True)
class KeptPayment:
    """Where a flow keeps the API's answer whose `payment` holds the PaymentIntent (the flow of the page's clinic)."""

    flows: web.AppKey
    payment_of: str  # the flow's key whose value holds the API's `payment`


@dataclass(frozen=True)
class PayPage:
    """A pay page: where Stripe.js goes after confirming, and where its PaymentIntent is kept; with none kept,
    the page's own handler finds it and offers it (offer_card)."""

    next_page: str
    kept: KeptPayment | None = None


PAY_PAGES = {
    "/c/{clinic}/book/pay": PayPage("/c/{clinic}/book/confirming", KeptPayment(FLOWS, "booking")),
    "/c/{clinic}/vouchers/pay": PayPage("/c/{clinic}/vouchers/thanks", KeptPayment(VOUCHER_FLOWS, "voucher")),
    # The manage link's (manage.py): the booking service says what is due, asked with the link's token.
    "/manage/{booking}/pay": PayPage("/manage/{booking}/confirming"),
    # A fee's link (fees.py, issue 20): payments makes the fee's PaymentIntent when the page asks.
    "/fees/{fee}/pay": PayPage("/fees/{fee}/paid"),
}
AFTER_PAYING = {pay.next_page: path for path, pay in PAY_PAGES.items()}
# Stripe.js sends the customer to the confirming page with `redirect_status=failed` when the bank refused
# (e.g. 3-D Secure not passed): the intent can be paid again, so back to the pay page, told why.
REFUSED = "refused"
PROBLEMS = {REFUSED: "Your bank did not approve the payment. Nothing was charged. Try again, or use another card."}


@dataclass(frozen=True)
class CardPayment:
    """What the pay page gives card_payment.js (as data attributes: the CSP allows no inline script)."""

    publishable_key: str
    client_secret: str
    return_url: str  # absolute: Stripe.js goes there after confirming
    problem: str | None = None  # why the last try failed, in words
    stripe_js: ClassVar[str] = STRIPE_JS


CARD_PAYMENT = web.RequestKey("card_payment", CardPayment)


def _page(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def _path(template: str, request: web.Request) -> str:
    """One of PAY_PAGES' paths for this request's clinic or booking (its parts quoted: they end up in a URL)."""
    return template.format_map({name: quote(value, safe="") for name, value in request.match_info.items()})


async def _kept_payment(request: web.Request, kept: KeptPayment) -> dict:
    """The payment of the customer's booking or gift at this clinic (what the API answered), if any."""
    found = await request.app[kept.flows].find(request)
    if found is None or found[1].get("clinic") != request.match_info.get("clinic"):
        return {}
    return found[1].get(kept.payment_of, {}).get("payment", {})


def offer_card(request: web.Request, client_secret: str) -> None:
    """Stripe's Payment Element on this pay page (one of PAY_PAGES) for the PaymentIntent whose secret is
    given, which pages.render then shows (CARD_PAYMENT); nothing without the publishable key."""
    settings, pay = request.app[SETTINGS], PAY_PAGES.get(_page(request) or "")
    if settings.stripe_publishable_key and pay and client_secret:
        request[CARD_PAYMENT] = CardPayment(
            settings.stripe_publishable_key,
            client_secret,
            settings.public_url + _path(pay.next_page, request),
            PROBLEMS.get(request.query.get("card", "")),
        )


@web.middleware
async def card_payment_middleware(request: web.Request, handler):
    """On a flow's pay page, the customer's PaymentIntent for the page to show; on the confirming page after a
    refusal, back to the pay page. Beside the flows' handlers (booking.py, vouchers.py), which need not know
    which card form the page shows."""
    if request.app[SETTINGS].stripe_publishable_key and request.method == "GET":
        page = _page(request)
        if page in AFTER_PAYING and request.query.get("redirect_status") == "failed":
            raise web.HTTPSeeOther(_path(AFTER_PAYING[page], request) + f"?card={REFUSED}")
        pay = PAY_PAGES.get(page or "")
        if pay and pay.kept and (secret := (await _kept_payment(request, pay.kept)).get("client_secret")):
            offer_card(request, secret)
    return await handler(request)
