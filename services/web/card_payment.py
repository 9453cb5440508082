"""Card payments in Stripe's own Payment Element, when STRIPE_PUBLISHABLE_KEY is set: the pay page loads
Stripe.js from js.stripe.com (Stripe requires it so) and our static/card_payment.js, which mounts the
Element with the booking's or the gift's PaymentIntent and confirms it there (3-D Secure included); the card
never reaches our servers. Stripe.js then comes back to the flow's next page (the booking's confirming page,
the gift's thank-you page). Without the key, the offline test-card form (offline_card.py) stands in, and
nothing here applies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
class PayPage:
    """A flow's pay page: where its PaymentIntent is kept, and where Stripe.js goes after confirming."""

    flows: web.AppKey
    payment_of: str  # the flow's key whose value holds the API's `payment`
    next_page: str


PAY_PAGES = {
    "/c/{clinic}/book/pay": PayPage(FLOWS, "booking", "/c/{clinic}/book/confirming"),
    "/c/{clinic}/vouchers/pay": PayPage(VOUCHER_FLOWS, "voucher", "/c/{clinic}/vouchers/thanks"),
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


async def _payment(request: web.Request, pay: PayPage, slug: str) -> dict:
    """The payment of the customer's booking or gift at this clinic (what the API answered), if any."""
    found = await request.app[pay.flows].find(request)
    if found is None or found[1].get("clinic") != slug:
        return {}
    return found[1].get(pay.payment_of, {}).get("payment", {})


@web.middleware
async def card_payment_middleware(request: web.Request, handler):
    """On the pay page, the customer's PaymentIntent for the page to show (CARD_PAYMENT, which pages.render
    reads); on the confirming page after a refusal, back to the pay page. Beside the flow's handlers
    (booking.py), which need not know which card form the page shows."""
    settings = request.app[SETTINGS]
    if settings.stripe_publishable_key and request.method == "GET":
        page, slug = _page(request), request.match_info.get("clinic", "")
        if page in AFTER_PAYING and request.query.get("redirect_status") == "failed":
            raise web.HTTPSeeOther(AFTER_PAYING[page].format(clinic=slug) + f"?card={REFUSED}")
        pay = PAY_PAGES.get(page)
        if pay and (secret := (await _payment(request, pay, slug)).get("client_secret")):
            request[CARD_PAYMENT] = CardPayment(
                settings.stripe_publishable_key,
                secret,
                settings.public_url + pay.next_page.format(clinic=slug),
                PROBLEMS.get(request.query.get("card", "")),
            )
    return await handler(request)
