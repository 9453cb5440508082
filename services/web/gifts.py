"""A gift after it is bought: what is left on a code (the balance page), the recipient's voucher from the
gift email's links (printable, and into the booking flow with its code), and the buyer's changes before it
is sent (from the receipt's link). The code and the links' tokens travel only in form bodies and in the
emails' own links, never in a URL a page links on."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from urllib.parse import urlencode

from aiohttp import web

from services.web import formatting
from services.web.api import ApiRefused
from services.web.booking import EMAIL, clinic_zone, genuine_form
from services.web.flows import FLOWS
from services.web.pages import api, catalogue, render
from shared import gift_delivery

routes = web.RouteTableDef()


# --- what is left on a code -----------------------------------------------------------------------


def what_it_pays_for(voucher: dict) -> str:
    """What is left on a voucher, as a sentence about what it can still buy."""
    remaining, clinic = voucher["remaining"], voucher["clinic_name"]
    if "amount" in remaining:
        if remaining["amount"] == 0:
            return "Nothing is left on this voucher: it has all been spent."
        return f"{formatting.money(**remaining)} towards any treatment at {clinic}."
    sessions = remaining["sessions"]
    if sessions == 0:
        return "Nothing is left on this voucher: every session has been booked."
    plural = "session" if sessions == 1 else "sessions"
    return f"{sessions} {plural} left of {voucher['title']} at {clinic}."


def _balance_page(request: web.Request, status: int = 200, **context) -> web.Response:
    context = {"errors": {}, "code": "", "voucher": None, "limited": None, **context}
    return render(request, "balance.html", status=status, private=True, **context)


@routes.get("/vouchers/balance")
async def balance_form(request: web.Request) -> web.Response:
    return _balance_page(request)


@routes.post("/vouchers/balance")
async def balance(request: web.Request) -> web.Response:
    """The code travels only in this form's body, never in a URL."""
    form = await genuine_form(request)
    code = str(form.get("code", "")).strip()
    if not code:
        return _balance_page(request, 400, errors={"code": "Enter the code on your voucher"})
    try:
        voucher = await api(request).voucher_balance(code)
    except ApiRefused as exc:
        if exc.status == 429:
            return _balance_page(request, 429, code=code, limited=formatting.wait(exc.retry_after))
        message = (
            "We don't recognise that code. Check it against your voucher email and try again."
            if exc.status in (404, 422)
            else exc.message
        )
        return _balance_page(request, 400, code=code, errors={"code": message})
    clinic = (await catalogue(request, voucher["clinic"])).clinic
    expires = datetime.fromisoformat(voucher["expires_at"]) if voucher["expires_at"] else None
    usable = voucher["status"] == "active" and any(voucher["remaining"].get(k) for k in ("amount", "sessions"))
    return _balance_page(
        request,
        voucher=voucher,
        clinic=clinic,
        pays_for=what_it_pays_for(voucher),
        usable=usable,
        expires=formatting.day_label(expires.astimezone(clinic_zone(clinic)).date()) if expires else None,
    )


# --- the recipient's voucher, from the gift email's links -----------------------------------------


async def held_voucher(request: web.Request, token: str) -> dict:
    try:
        voucher_id = str(uuid.UUID(request.match_info["voucher"]))
        return await api(request).held_voucher(voucher_id, token)
    except (ValueError, ApiRefused):
        raise web.HTTPForbidden(
            text="This voucher link is not valid. Use the link in your gift email, or "
            "check your code on the balance page."
        ) from None


@routes.get("/vouchers/{voucher}")
async def printable(request: web.Request) -> web.Response:
    """The voucher to print or keep (the token came in the email's URL; the page itself never links it on)."""
    token = request.query.get("token", "")
    voucher = await held_voucher(request, token)
    clinic = (await catalogue(request, voucher["clinic"])).clinic
    expires = datetime.fromisoformat(voucher["expires_at"]).astimezone(clinic_zone(clinic)).date()
    return render(
        request,
        "voucher.html",
        private=True,
        voucher=voucher,
        clinic=clinic,
        token=token,
        value=what_it_pays_for({**voucher, "clinic_name": clinic["name"]}),
        expires=formatting.day_label(expires),
    )


@routes.route("*", "/vouchers/{voucher}/book")
async def book_with(request: web.Request) -> web.Response:
    """Into the booking flow with the voucher's code waiting for the details step: from the email's link
    (GET, token in its URL) or the voucher page's button (POST, token in the form)."""
    if request.method == "POST":
        token = str((await genuine_form(request)).get("token", ""))
    elif request.method == "GET":
        token = request.query.get("token", "")
    else:
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    voucher = await held_voucher(request, token)
    slug, flows = voucher["clinic"], request.app[FLOWS]
    found = await flows.find(request)
    flow = found[1] if found and found[1].get("clinic") == slug else {"clinic": slug}
    flow_id = await flows.save(found[0] if found else None, {**flow, "voucher_code": voucher["code"]})
    message = "Your gift voucher is ready: we will use it when you give your details."
    response = web.HTTPSeeOther(f"/c/{slug}/book?" + urlencode({"message": message}))
    flows.remember(response, flow_id)
    raise response


# --- the buyer's changes before it is sent, from the receipt's link ---------------------------------


async def _gift(request: web.Request, token: str) -> dict:
    try:
        return await api(request).gift(str(uuid.UUID(request.match_info["voucher"])), token)
    except (ValueError, ApiRefused):
        raise web.HTTPForbidden(text="This link is not valid. Use the link in your receipt email.") from None


async def _change_page(
    request: web.Request, gift: dict, token: str, values: dict, errors: dict, status: int = 200, done: bool = False
) -> web.Response:
    clinic = (await catalogue(request, gift["clinic"])).clinic
    words = gift_delivery.in_words(
        gift["recipient"]["name"],
        date.fromisoformat(gift["deliver_on"]),
        clinic_zone(clinic),
        datetime.now(timezone.utc),
    )
    return render(
        request,
        "vouchers_change.html",
        status=status,
        private=True,
        clinic=clinic,
        gift=gift,
        token=token,
        values=values,
        errors=errors,
        delivery=words,
        done=done,
    )


@routes.get("/vouchers/{voucher}/change")
async def change_form(request: web.Request) -> web.Response:
    token = request.query.get("token", "")
    gift = await _gift(request, token)
    values = {"recipient_email": gift["recipient"]["email"], "deliver_on": gift["deliver_on"]}
    return await _change_page(request, gift, token, values, {})


@routes.post("/vouchers/{voucher}/change")
async def change(request: web.Request) -> web.Response:
    form = await genuine_form(request)
    token = str(form.get("token", ""))
    gift = await _gift(request, token)
    values = {name: str(form.get(name, "")).strip() for name in ("recipient_email", "deliver_on")}
    errors = {}
    if not EMAIL.match(values["recipient_email"]):
        errors["recipient_email"] = "Enter their email address, like name@example.com"
    try:
        date.fromisoformat(values["deliver_on"])
    except ValueError:
        errors["deliver_on"] = "Enter the day to send it, like 24 December 2026"
    if errors or not gift["changeable"]:
        return await _change_page(request, gift, token, values, errors, status=400 if errors else 409)
    try:
        changed = await api(request).change_gift(
            gift["voucher_id"], token, values["recipient_email"], values["deliver_on"]
        )
    except ApiRefused as exc:
        field = "deliver_on" if exc.code.startswith("delivery_date") else "recipient_email"
        return await _change_page(request, gift, token, values, {field: exc.message}, status=400)
    return await _change_page(request, changed, token, values, {}, done=True)
