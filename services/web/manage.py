"""The page behind the link in every booking email: the booking, the clinic's policy, and (inside the change
window) cancel or move it (after it, a booking with a late-cancellation fee may still be cancelled, for the fee); for a booking awaiting its payment (a phone booking paid online), what is due and
by when, and the card payment. The signed token arrives in the email's URL once; after that it travels only
in the bodies of this page's forms, never in another URL. The payment's own pages cannot carry it in a form
(Stripe.js comes back to one of them by a URL of ours), so while the customer pays it is kept in Redis under
a random id in an HttpOnly cookie (flows.FlowStore), as the booking flow keeps its booking's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

from services.web import formatting
from services.web.api import ApiRefused
from services.web.booking import (
    CONFIRMING_REFRESH_SECONDS,
    at_clinic_part,
    clinic_zone,
    genuine_form,
    setup_refreshed,
    week_view,
    when_label,
)
from services.web.card_payment import offer_card
from services.web.kept_tokens import KeptTokens
from services.web.offline_card import OFFLINE_CARDS, test_card_problem
from services.web.pages import api, catalogue, path_id, render

routes = web.RouteTableDef()
PAYING = KeptTokens("manage_payment")  # the manage links this browser is paying from
# What payments calls a payment it has the money for (or soon will): the booking is being confirmed.
RECEIVED = ("succeeded", "processing")
INVALID_LINK = "This link is not valid or has expired."


@dataclass(frozen=True)
class Due:
    """A booking's card payment as the manage pages show it."""

    amount_due: dict  # {"amount", "currency"}: minor units
    amount: str  # '£65.00'
    pay_by: str  # 'Tuesday 15 December 2026, 10:30 (UK time, GMT)'
    lapsed: bool  # its pay-by time has passed: the time is no longer kept
    received: bool  # payments has the money: the booking is being confirmed
    intent: str  # the Stripe PaymentIntent's id (a card saved only: the SetupIntent's)
    client_secret: str  # for Stripe.js
    # Under the treatment's payment policy (issue 20): nothing to pay now, the card only saved by a SetupIntent;
    # what is left to pay at the clinic (a deposit's rest), None when nothing is.
    setup: bool = False
    at_clinic: dict | None = None
    policy_words: str = ""  # the booking's payment policy in words ("" for one paid in full with no fee)


def due_of(answer: dict, zone, now: datetime) -> Due:
    """The booking service's answer about what is left to pay, in the page's words (the clinic's zone)."""
    pay_by = datetime.fromisoformat(answer["pay_by"]) if answer.get("pay_by") else None
    payment, amount_due = answer.get("payment") or {}, answer["amount_due"]
    setup = bool(payment.get("setup"))
    return Due(
        amount_due=amount_due,
        amount=formatting.money(amount_due["amount"], amount_due["currency"]),
        pay_by=formatting.when(pay_by, zone) if pay_by else "",
        lapsed=pay_by is not None and pay_by <= now,
        received=payment.get("status") in RECEIVED,
        intent=(payment.get("stripe_setup_intent") if setup else payment.get("stripe_payment_intent")) or "",
        client_secret=payment.get("client_secret") or "",
        setup=setup,
        at_clinic=at_clinic_part(answer.get("due_at_clinic")),
        policy_words=answer.get("payment_policy_words") or "",
    )


async def _booking(request: web.Request, booking_id: str, token: str) -> dict:
    """The booking the token is for; a refused token is a page saying so."""
    try:
        return await api(request).booking(booking_id, token)
    except ApiRefused as exc:
        if exc.status in (403, 404):
            raise web.HTTPForbidden(text=INVALID_LINK) from None
        raise


async def _due(request: web.Request, booking: dict, token: str, clinic: dict) -> Due | None:
    """What is left to pay for a booking awaiting its payment; None for any other booking."""
    if booking["status"] != "pending_payment":
        return None
    try:
        answer = await api(request).booking_payment(booking["id"], token)
    except ApiRefused as exc:
        if exc.status == 409:  # paid, or lapsed, since the booking was read
            return None
        if exc.status in (403, 404):  # the link ran out since
            raise web.HTTPForbidden(text=INVALID_LINK) from None
        raise
    return due_of(answer, clinic_zone(clinic), datetime.now(timezone.utc))


async def _context(request: web.Request, booking_id: str, token: str) -> dict:
    """The booking and what the page says about it; a refused token is a page saying so."""
    booking = await _booking(request, booking_id, token)
    found = await catalogue(request, booking["clinic"])
    clinic = found.clinic
    deadline = datetime.fromisoformat(booking["change_deadline"])
    due = await _due(request, booking, token, clinic)
    late_fee = booking.get("late_cancellation_fee_due")  # inside the window, cancelling costs it (issue 20)
    return {
        "booking": booking,
        "clinic": clinic,
        "token": token,
        "when": when_label(booking["start"], clinic),
        "treatment": found.treatment(booking["treatment"]),
        "therapist": found.therapist(booking["therapist"]),
        "deadline": formatting.when(deadline, clinic_zone(clinic)),
        "refund": formatting.money(booking["amount_due"]["amount"], booking["amount_due"]["currency"]),
        "changeable": booking["status"] == "confirmed" and datetime.now(timezone.utc) < deadline,
        "late_fee": formatting.money(late_fee["amount"], late_fee["currency"]) if late_fee else None,
        "fees": _fees_in_words(booking.get("fees")),
        "due": due,
        # Not paid in time: the booking service lets the time go (expired), maybe a moment after its pay-by time.
        "lapsed": booking["status"] == "expired" or bool(due and due.lapsed),
    }


FEE_NAMES = {"no_show": "If you miss it", "late_cancellation": "If you cancel late"}


def _fees_in_words(fees: dict | None) -> list[tuple[str, str]]:
    """The booking's fees (issue 20) as the summary's rows: ('If you miss it', 'A no-show fee of £32.50, …')."""
    words = {"no_show": "no-show fee", "late_cancellation": "late-cancellation fee"}
    return [
        (
            FEE_NAMES[kind],
            f"A {words[kind]} of {formatting.money(fee['amount'], fee['currency'])}, charged to your saved card",
        )
        for kind, fee in (fees or {}).items()
        if kind in FEE_NAMES and fee
    ]


@routes.get("/manage/{booking}")
async def manage(request: web.Request) -> web.Response:
    booking_id = path_id(request, "booking")
    context = await _context(request, booking_id, request.query.get("token", ""))
    return render(request, "manage.html", private=True, **context)


@routes.post("/manage/{booking}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """First the question, with the refund shown; then, confirmed, the cancellation."""
    booking_id = path_id(request, "booking")
    form = await genuine_form(request)
    context = await _context(request, booking_id, str(form.get("token", "")))
    if not (context["changeable"] or context["late_fee"]):  # cancelled meanwhile, or too late: the page says so
        return render(request, "manage.html", status=409, private=True, **context)
    if form.get("confirm") != "yes":
        return render(request, "manage_cancel.html", private=True, **context)
    try:
        cancelled = await api(request).cancel(booking_id, context["token"])
    except ApiRefused as exc:
        return render(request, "manage.html", status=409, private=True, problem=exc.message, **context)
    fee = (cancelled or {}).get("fee")  # a late cancellation's fee, charged to the saved card (issue 20)
    context["late_fee"] = formatting.money(fee["amount"], fee["currency"]) if fee else None
    return render(request, "manage_done.html", private=True, done="cancelled", **context)


@routes.post("/manage/{booking}/move")
async def move(request: web.Request) -> web.Response:
    """The week of times for the same treatment and therapist; a time chosen moves the booking."""
    booking_id = path_id(request, "booking")
    form = await genuine_form(request)
    context = await _context(request, booking_id, str(form.get("token", "")))
    booking = context["booking"]
    if not context["changeable"]:  # cancelled meanwhile, or too late: the page says so, and offers no times
        return render(request, "manage.html", status=409, private=True, **context)
    start = str(form.get("start", ""))
    if start:
        try:
            moved = await api(request).reschedule(booking_id, context["token"], start, booking["therapist"])
        except ApiRefused as exc:
            context["problem"] = (
                "Sorry, that time has just been taken. Please choose another." if exc.status == 409 else exc.message
            )
        else:
            return render(
                request,
                "manage_done.html",
                private=True,
                done="moved",
                **{**context, "when": when_label(moved["start"], context["clinic"])},
            )
    week = await week_view(
        request,
        context["clinic"],
        booking["treatment"],
        booking["therapist"],
        str(form.get("week", "")) or None,
        button="start",
    )
    return render(request, "manage_move.html", private=True, **week, **context)


# --- paying for a booking that awaits its payment -------------------------------------------------


@routes.post("/manage/{booking}/pay")
async def start_paying(request: web.Request) -> web.Response:
    """The manage page's pay button: the link's token kept for the payment's pages, then the pay page."""
    booking_id = path_id(request, "booking")
    form = await genuine_form(request)
    token = str(form.get("token", ""))
    await _booking(request, booking_id, token)  # a refused token: the page saying so, nothing kept
    response = web.HTTPSeeOther(f"/manage/{booking_id}/pay")
    await PAYING.keep(request, response, booking_id, token)
    raise response


def _pay_page(request: web.Request, context: dict, errors: dict, status: int = 200) -> web.Response:
    """The amount due and the card form; for a booking with nothing to pay now, the page that says why."""
    booking, due = context["booking"], context["due"]
    if booking["status"] == "confirmed" or (due is not None and due.received):
        raise web.HTTPSeeOther(f"/manage/{booking['id']}/confirming")
    if due is None or due.lapsed:  # lapsed, cancelled, ...: the manage page says so
        return render(request, "manage.html", status=409, private=True, **context)
    offer_card(request, due.client_secret)  # Stripe's Payment Element, when the publishable key is set
    return render(
        request,
        "manage_pay.html",
        status=status,
        private=True,
        errors=errors,
        offline=OFFLINE_CARDS in request.app,
        **context,
    )


@routes.get("/manage/{booking}/pay")
async def pay_form(request: web.Request) -> web.Response:
    booking_id = path_id(request, "booking")
    return _pay_page(request, await _context(request, booking_id, await PAYING.kept(request, booking_id)), {})


@routes.post("/manage/{booking}/pay/card")
async def pay_by_test_card(request: web.Request) -> web.Response:
    """Offline only: the test card the form chose, paid by the server (offline_card.py)."""
    booking_id = path_id(request, "booking")
    form = await genuine_form(request)
    if OFFLINE_CARDS not in request.app:
        raise web.HTTPNotFound()  # with real Stripe keys the card is paid in Stripe's own field
    context = await _context(request, booking_id, await PAYING.kept(request, booking_id))
    due = context["due"]
    if due is None or due.lapsed or due.received:
        return _pay_page(request, context, {})  # nothing to pay now: said why, nothing charged
    if problem := await test_card_problem(request, form, due.intent, setup=due.setup):
        return _pay_page(request, context, {"card": problem}, status=400)
    if due.setup:  # card saved only: payments told now (the fake Stripe sends no event for a SetupIntent)
        await setup_refreshed(request, due.intent)
    raise web.HTTPSeeOther(f"/manage/{booking_id}/confirming")


@routes.get("/manage/{booking}/confirming")
async def confirming(request: web.Request) -> web.Response:
    """Paid: waiting for the payment's event to confirm the booking (as the booking flow's confirming page)."""
    booking_id = path_id(request, "booking")
    token = await PAYING.kept(request, booking_id)
    booking = await _booking(request, booking_id, token)
    if booking["status"] == "confirmed":
        raise web.HTTPSeeOther(f"/manage/{booking_id}/confirmed")
    if booking["status"] != "pending_payment":  # lapsed before the payment came: the manage page says so
        return render(request, "manage.html", private=True, **await _context(request, booking_id, token))
    clinic = (await catalogue(request, booking["clinic"])).clinic
    due = await _due(request, booking, token, clinic)
    if due is not None and due.setup:
        # A saved card's SetupIntent sends no event at the fake Stripe (and Stripe.js comes back here): ask.
        await setup_refreshed(request, due.intent)
        booking = await _booking(request, booking_id, token)
        if booking["status"] == "confirmed":
            raise web.HTTPSeeOther(f"/manage/{booking_id}/confirmed")
    setup = due is not None and due.setup
    response = render(request, "manage_confirming.html", private=True, clinic=clinic, booking=booking, setup=setup)
    response.headers["Refresh"] = str(CONFIRMING_REFRESH_SECONDS)  # without JavaScript, the page asks again
    return response


@routes.get("/manage/{booking}/confirmed")
async def confirmed(request: web.Request) -> web.Response:
    """The manage page of the booking just paid for, saying it is confirmed."""
    booking_id = path_id(request, "booking")
    context = await _context(request, booking_id, await PAYING.kept(request, booking_id))
    if context["booking"]["status"] != "confirmed":
        raise web.HTTPSeeOther(f"/manage/{booking_id}/confirming")
    return render(request, "manage.html", private=True, just_paid=True, **context)
