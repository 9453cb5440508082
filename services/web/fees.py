"""Paying a fee the saved card did not pay (issue 20): the link in the email that says a no-show or
late-cancellation fee could not be charged, `/fees/{fee}?token=…`. The page says what the fee is for and its
amount; "Pay" keeps the link's token for the payment's pages (in Redis under a random id in an HttpOnly cookie, as
the manage link's payment does: Stripe.js comes back to one of them by a URL of ours, and the token never goes in
another URL), then the card form: the offline test card, or Stripe's Payment Element with the fee's PaymentIntent
(payments makes it once, `POST /api/v1/fees/{id}/pay`). After paying, a page that asks again by itself (without
JavaScript, a Refresh header) until payments says the fee is paid. A token not the fee's is the 404 page; a fee
already paid says so."""

from __future__ import annotations

from aiohttp import web

from services.web import formatting
from services.web.api import ApiRefused
from services.web.booking import CONFIRMING_REFRESH_SECONDS, genuine_form
from services.web.card_payment import offer_card
from services.web.kept_tokens import KeptTokens
from services.web.offline_card import OFFLINE_CARDS, test_card_problem
from services.web.pages import api, catalogue, path_id, render

routes = web.RouteTableDef()
PAYING = KeptTokens("fee_payment")  # the pay links this browser is paying from
PAID = ("charged", "paid")  # charged to the saved card, or paid from this link
KIND_WORDS = {
    "no_show": ("No-show fee", "for missing the appointment"),
    "late_cancellation": ("Late-cancellation fee", "for cancelling after the change window closed"),
}


async def _fee(request: web.Request, fee_id: str, token: str) -> dict:
    """The fee the token is for; any other token (or none) is the 404 page, as for an unknown fee."""
    if not token:
        raise web.HTTPNotFound()
    try:
        return await api(request).fee(fee_id, token)
    except ApiRefused as exc:
        if exc.status in (403, 404):
            raise web.HTTPNotFound() from None
        raise


async def _clinic(request: web.Request, clinic_id: str) -> dict:
    """The fee's clinic as its pages show it (name, contact, its own slug for the header's link)."""
    slug = next((c["slug"] for c in await api(request).clinics() if c["id"] == clinic_id), None)
    if slug is None:
        raise web.HTTPNotFound()
    return (await catalogue(request, slug)).clinic


async def _context(request: web.Request, fee_id: str, token: str) -> dict:
    fee = await _fee(request, fee_id, token)
    name, why = KIND_WORDS.get(fee["kind"], ("Fee", ""))
    return {
        "fee": fee,
        "clinic": await _clinic(request, fee["clinic_id"]),
        "token": token,
        "name": name,
        "why": why,
        "amount": formatting.money(fee["amount"]["amount"], fee["amount"]["currency"]),
        "paid": fee["status"] in PAID,
    }


@routes.get("/fees/{fee}")
async def fee_page(request: web.Request) -> web.Response:
    """What the fee is for, its amount, and Pay (or that it is paid)."""
    context = await _context(request, path_id(request, "fee"), request.query.get("token", ""))
    return render(request, "fee.html", private=True, **context)


@routes.post("/fees/{fee}/pay")
async def start_paying(request: web.Request) -> web.Response:
    """The fee page's Pay button: the link's token kept for the payment's pages, then the card form."""
    fee_id = path_id(request, "fee")
    form = await genuine_form(request)
    token = str(form.get("token", ""))
    await _fee(request, fee_id, token)  # a token not the fee's: the 404 page, nothing kept
    response = web.HTTPSeeOther(f"/fees/{fee_id}/pay")
    await PAYING.keep(request, response, fee_id, token)
    raise response


async def _intent(request: web.Request, context: dict) -> dict | None:
    """The fee's PaymentIntent (payments makes it once); None once the fee is paid."""
    try:
        return await api(request).pay_fee(context["fee"]["id"], context["token"])
    except ApiRefused as exc:
        if exc.status == 409:  # fee_already_paid: charged or paid since the page was read
            return None
        raise


async def _pay_page(request: web.Request, context: dict, errors: dict, status: int = 200) -> web.Response:
    fee_id = context["fee"]["id"]
    intent = None if context["paid"] else await _intent(request, context)
    if intent is None:
        raise web.HTTPSeeOther(f"/fees/{fee_id}/paid")
    offer_card(request, intent.get("client_secret") or "")  # Stripe's Payment Element, with the publishable key
    return render(
        request,
        "fee_pay.html",
        status=status,
        private=True,
        errors=errors,
        offline=OFFLINE_CARDS in request.app,
        due=context["fee"]["amount"],
        **context,
    )


@routes.get("/fees/{fee}/pay")
async def pay_form(request: web.Request) -> web.Response:
    fee_id = path_id(request, "fee")
    return await _pay_page(request, await _context(request, fee_id, await PAYING.kept(request, fee_id)), {})


@routes.post("/fees/{fee}/pay/card")
async def pay_by_test_card(request: web.Request) -> web.Response:
    """Offline only: the test card the form chose, paid by the server (offline_card.py)."""
    fee_id = path_id(request, "fee")
    form = await genuine_form(request)
    if OFFLINE_CARDS not in request.app:
        raise web.HTTPNotFound()  # with real Stripe keys the card is paid in Stripe's own field
    context = await _context(request, fee_id, await PAYING.kept(request, fee_id))
    intent = None if context["paid"] else await _intent(request, context)
    if intent is None:
        raise web.HTTPSeeOther(f"/fees/{fee_id}/paid")
    if problem := await test_card_problem(request, form, intent["stripe_payment_intent"]):
        return await _pay_page(request, context, {"card": problem}, status=400)
    raise web.HTTPSeeOther(f"/fees/{fee_id}/paid")


@routes.get("/fees/{fee}/paid")
async def paid(request: web.Request) -> web.Response:
    """Thank you once payments has the money; until then a page that asks again by itself."""
    fee_id = path_id(request, "fee")
    context = await _context(request, fee_id, await PAYING.kept(request, fee_id))
    response = render(request, "fee_paid.html", private=True, **context)
    if not context["paid"]:
        response.headers["Refresh"] = str(CONFIRMING_REFRESH_SECONDS)  # without JavaScript, the page asks again
    return response
