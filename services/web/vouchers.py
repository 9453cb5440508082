"""The voucher shop: an amount, a treatment or a course; whom it is for, a message and the day it is sent;
the buyer; then the card, and a page that says in words when the gift goes. Every step a plain form.
(After the purchase: gifts.py.)"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timedelta, timezone

from aiohttp import web

from services.web import formatting
from services.web.api import ApiRefused
from services.web.booking import EMAIL, clinic_today, clinic_zone, genuine_form
from services.web.catalogue import VOUCHER_OPTIONS, Catalogue
from services.web.flows import VOUCHER_FLOWS
from services.web.offline_card import OFFLINE_CARDS, test_card_problem
from services.web.pages import api, catalogue, clinic_slug, render
from shared import gift_delivery

routes = web.RouteTableDef()
FIELDS = (
    "what",
    "custom_amount",
    "recipient_name",
    "recipient_email",
    "to_me",
    "message",
    "deliver_on",
    "buyer_name",
    "buyer_email",
    "purchase",
)
POUNDS = re.compile(r"^£?\s*(\d{1,6})(?:\.(\d{2}))?$")
# Where the API's refusals belong on the form.
API_FIELDS = {
    "amount_out_of_range": "custom_amount",
    "currency_mismatch": "custom_amount",
    "delivery_date_in_past": "deliver_on",
    "delivery_date_too_far": "deliver_on",
}


def choices(found: Catalogue, options: dict) -> list[tuple[str, str, str]]:
    """The radio options, each with what it is worth: (value, label, hint)."""
    currency = options["amount"]["currency"]
    money = [
        (f"amount:{p}", formatting.money(p, currency), "Money towards any treatment")
        for p in options["amount"]["presets"]
    ]
    money.append(
        (
            "amount:other",
            "Another amount",
            "From {} to {}".format(
                formatting.money(options["amount"]["min"], currency),
                formatting.money(options["amount"]["max"], currency),
            ),
        )
    )
    treatments = [
        (f"treatment:{t['id']}", t["name"], f"One session, worth {formatting.money(**t['price'])}")
        for t in found.treatments
    ]
    courses = [
        (f"course:{c['id']}", c["name"], f"{c['sessions']} sessions, worth {formatting.money(**c['price'])}")
        for c in found.courses
    ]
    return money + treatments + courses


def pence(text: str) -> int | None:
    """'60', '£60' or '60.50' in pounds, as pence; None if it is not an amount."""
    match = POUNDS.match(text.replace(",", ""))
    return int(match.group(1)) * 100 + int(match.group(2) or 0) if match else None


def read_order(values: dict, options: dict, today: date) -> tuple[dict, dict]:
    """The purchase the form asks for (the API's body, less the clinic), and what is wrong with it, by field."""
    order, errors = {}, {}
    kind, _, chosen = values["what"].partition(":")
    limits = options["amount"]
    if kind == "amount":
        amount = pence(values["custom_amount"]) if chosen == "other" else int(chosen) if chosen.isdigit() else None
        if chosen == "other" and amount is None:
            errors["custom_amount"] = "Enter an amount in pounds, like 60 or 60.50"
        elif amount is None or not limits["min"] <= amount <= limits["max"]:
            errors["custom_amount" if chosen == "other" else "what"] = "Enter an amount from {} to {}".format(
                formatting.money(limits["min"], limits["currency"]), formatting.money(limits["max"], limits["currency"])
            )
        order = {"kind": "amount", "amount": {"amount": amount, "currency": limits["currency"]}}
    elif kind in ("treatment", "course") and chosen:
        order = {"kind": kind, kind: chosen}
    else:
        errors["what"] = "Choose an amount, a treatment or a course"
    if not values["recipient_name"]:
        errors["recipient_name"] = "Enter the name of the person the voucher is for"
    if not values["to_me"] and not EMAIL.match(values["recipient_email"]):
        errors["recipient_email"] = "Enter their email address, like name@example.com, or send the voucher to yourself"
    limit = options["message_max_length"]
    if len(values["message"]) > limit:
        errors["message"] = f"The message must be {limit} characters or fewer (it has {len(values['message'])})"
    try:
        deliver_on = date.fromisoformat(values["deliver_on"])
    except ValueError:
        errors["deliver_on"] = "Enter the day to send it, like 24 December 2026"
    else:
        if deliver_on < today:
            errors["deliver_on"] = "The day to send it must be today or later"
        elif deliver_on > today + timedelta(days=options["deliver_within_days"]):
            errors["deliver_on"] = "The day to send it must be within a year"
    if not values["buyer_name"]:
        errors["buyer_name"] = "Enter your full name"
    if not EMAIL.match(values["buyer_email"]):
        errors["buyer_email"] = "Enter your email address, like name@example.com"
    buyer = {"name": values["buyer_name"], "email": values["buyer_email"]}
    recipient = {
        "name": values["recipient_name"],
        "email": values["buyer_email"] if values["to_me"] else values["recipient_email"],
    }
    return {
        **order,
        "buyer": buyer,
        "recipient": recipient,
        "message": values["message"],
        "deliver_on": values["deliver_on"],
    }, errors


async def voucher_options(request: web.Request) -> dict:
    return await request.app[VOUCHER_OPTIONS].get(api(request).voucher_options)


async def _shop_page(request: web.Request, slug: str, values: dict, errors: dict, status: int = 200) -> web.Response:
    found, options = await catalogue(request, slug), await voucher_options(request)
    return render(
        request,
        "vouchers.html",
        status=status,
        private=bool(errors),
        clinic=found.clinic,
        choices=choices(found, options),
        options=options,
        values=values,
        errors=errors,
    )


@routes.get("/c/{clinic}/vouchers")
async def shop(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    clinic = (await catalogue(request, slug)).clinic
    # `purchase`: this order's idempotency key, so pressing Continue twice makes one voucher.
    values = {
        **dict.fromkeys(FIELDS, ""),
        "deliver_on": clinic_today(clinic).isoformat(),
        "purchase": secrets.token_urlsafe(18),
        "what": request.query.get("what", ""),
    }
    return await _shop_page(request, slug, values, {})


def _refusal_field(exc: ApiRefused) -> str:
    if exc.code in API_FIELDS:
        return API_FIELDS[exc.code]
    for detail in exc.details or []:
        head, _, rest = str(detail.get("field", "")).partition(".")
        if head in ("buyer", "recipient") and rest in ("name", "email"):
            return f"{head}_{rest}"
        if head in ("message", "deliver_on"):
            return head
    return "what"


@routes.post("/c/{clinic}/vouchers")
async def order(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    form = await genuine_form(request)
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    values["message"] = str(form.get("message", "")).replace("\r\n", "\n").strip()
    clinic = (await catalogue(request, slug)).clinic
    body, errors = read_order(values, await voucher_options(request), clinic_today(clinic))
    if not values["purchase"] or len(values["purchase"]) > 64:
        values["purchase"] = secrets.token_urlsafe(18)
    if errors:
        return await _shop_page(request, slug, values, errors, status=400)
    try:
        voucher = await api(request).buy_voucher({"clinic": slug, **body}, idempotency_key=values["purchase"])
    except ApiRefused as exc:
        return await _shop_page(request, slug, values, {_refusal_field(exc): exc.message or "Check this"}, status=400)
    flows = request.app[VOUCHER_FLOWS]
    found = await flows.find(request)
    flow_id = await flows.save(
        found[0] if found else None,
        {
            "clinic": slug,
            "voucher": {
                "id": voucher["id"],
                "title": voucher["title"],
                "price": voucher["price"],
                "deliver_on": voucher["deliver_on"],
                "payment": voucher["payment"],
            },
            "recipient": body["recipient"]["name"],
            "buyer_email": body["buyer"]["email"],
            "to_me": bool(values["to_me"]),
        },
    )
    response = web.HTTPSeeOther(f"/c/{slug}/vouchers/pay")
    flows.remember(response, flow_id)
    raise response


async def voucher_flow(request: web.Request, slug: str) -> tuple[str, dict]:
    """The gift this browser is buying at this clinic; else back to the shop, told why."""
    found = await request.app[VOUCHER_FLOWS].find(request)
    if found is None or found[1].get("clinic") != slug:
        raise web.HTTPSeeOther(f"/c/{slug}/vouchers")
    return found


def delivery_words(flow: dict, clinic: dict, bought_at: datetime) -> str:
    recipient = "you" if flow["to_me"] else flow["recipient"]
    return gift_delivery.in_words(
        recipient, date.fromisoformat(flow["voucher"]["deliver_on"]), clinic_zone(clinic), bought_at
    )


# --- paying, and what happens next ----------------------------------------------------------------


async def _pay_page(request: web.Request, slug: str, flow: dict, errors: dict, status: int = 200) -> web.Response:
    clinic = (await catalogue(request, slug)).clinic
    voucher = flow["voucher"]
    return render(
        request,
        "vouchers_pay.html",
        status=status,
        private=True,
        clinic=clinic,
        errors=errors,
        voucher=voucher,
        due=voucher["price"],
        offline=OFFLINE_CARDS in request.app,
        delivery=delivery_words(flow, clinic, datetime.now(timezone.utc)),
    )


def _stripe_says_paid(request: web.Request, flow: dict) -> bool:
    """Stripe.js came back from the Payment Element with this gift's payment done. (Only what this page
    says depends on it: the voucher is issued when Stripe's own event reaches payments.)"""
    return (
        request.query.get("redirect_status") == "succeeded"
        and request.query.get("payment_intent") == flow["voucher"]["payment"]["stripe_payment_intent"]
    )


@routes.get("/c/{clinic}/vouchers/pay")
async def pay_form(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    _, flow = await voucher_flow(request, slug)
    if flow.get("paid_at"):
        raise web.HTTPSeeOther(f"/c/{slug}/vouchers/thanks")
    return await _pay_page(request, slug, flow, {})


@routes.post("/c/{clinic}/vouchers/pay")
async def pay(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    form = await genuine_form(request)
    flow_id, flow = await voucher_flow(request, slug)
    if OFFLINE_CARDS not in request.app:
        raise web.HTTPNotFound()  # with real Stripe keys the card is paid in Stripe's own field
    if flow.get("paid_at"):
        raise web.HTTPSeeOther(f"/c/{slug}/vouchers/thanks")
    if problem := await test_card_problem(request, form, flow["voucher"]["payment"]["stripe_payment_intent"]):
        return await _pay_page(request, slug, flow, {"card": problem}, status=400)
    flow["paid_at"] = datetime.now(timezone.utc).isoformat()
    await request.app[VOUCHER_FLOWS].save(flow_id, flow)
    raise web.HTTPSeeOther(f"/c/{slug}/vouchers/thanks")


@routes.get("/c/{clinic}/vouchers/thanks")
async def thanks(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    flow_id, flow = await voucher_flow(request, slug)
    if not flow.get("paid_at") and _stripe_says_paid(request, flow):
        flow["paid_at"] = datetime.now(timezone.utc).isoformat()
        await request.app[VOUCHER_FLOWS].save(flow_id, flow)
    if not flow.get("paid_at"):
        raise web.HTTPSeeOther(f"/c/{slug}/vouchers/pay")
    clinic = (await catalogue(request, slug)).clinic
    return render(
        request,
        "vouchers_thanks.html",
        private=True,
        clinic=clinic,
        voucher=flow["voucher"],
        buyer_email=flow["buyer_email"],
        to_me=flow["to_me"],
        delivery=delivery_words(flow, clinic, datetime.fromisoformat(flow["paid_at"])),
    )
