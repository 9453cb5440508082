"""The booking flow, one question per page, every step a real form with a server-side answer:
treatment → therapist → a week of slots → hold → health screening → details → payment → confirmed.
Where the customer is lives in flows.FlowStore; the health answers only in the bodies of the two forms
that carry them."""

from __future__ import annotations

import contextlib
import functools
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from markupsafe import Markup

from services.web import birth_date, formatting
from services.web.api import ApiRefused, ApiUnavailable, json_of
from services.web.csrf import form_is_genuine
from services.web.flows import FLOWS
from services.web.offline_card import OFFLINE_CARDS, test_card_problem
from services.web.pages import TEMPLATES, api, catalogue, clinic_slug, render
from shared import ics
from shared.clinic_time import zone_name

DAYS_SHOWN = 7
SEARCH_WINDOW_DAYS = 31  # the longest range the availability API answers at once
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# An instant's text that is safe in a page as it is (fromisoformat takes any character between date and time).
ISO_INSTANT = re.compile(r"[0-9T:.+Z-]+")
# Free times whose buttons are kept (~0.5 KB each), e.g. a month of quarter hours for three therapists.
FREE_TIMES_KEPT = 8192
# Weeks whose rendered times are kept (~50 KB each with their answer), e.g. the weeks customers are looking at.
WEEKS_KEPT = 128
CONFIRMING_REFRESH_SECONDS = 2
routes = web.RouteTableDef()


def _uuid(text: str | None) -> str | None:
    try:
        return str(uuid.UUID(text)) if text else None
    except ValueError:
        return None


def _day(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


def clinic_zone(clinic: dict) -> ZoneInfo:
    return ZoneInfo(clinic["timezone"])


def clinic_today(clinic: dict) -> date:
    return datetime.now(timezone.utc).astimezone(clinic_zone(clinic)).date()


def when_label(iso: str, clinic: dict) -> str:
    return formatting.when(datetime.fromisoformat(iso), clinic_zone(clinic))


async def genuine_form(request: web.Request):
    form = await request.post()
    if not form_is_genuine(request, form):
        raise web.HTTPForbidden(text="This form has expired. Go back, reload the page and try again.")
    return form


# --- choose: what, with whom, when ----------------------------------------------------------------


@routes.get("/c/{clinic}/book")
async def choose(request: web.Request) -> web.Response:
    slug, query = clinic_slug(request), request.query
    found = await catalogue(request, slug)  # then the week's times, fresh
    what = query.get("what", "")
    treatment_id = _uuid(query.get("treatment")) or (_uuid(what[10:]) if what.startswith("treatment:") else None)
    course = found.course(_uuid(query.get("course")) or (_uuid(what[7:]) if what.startswith("course:") else None))
    treatment = found.treatment(course["treatment"] if course else treatment_id)
    context = {
        "clinic": found.clinic,
        "treatments": found.treatments,
        "courses": found.courses,
        "message": query.get("message"),
    }
    if treatment is None:
        answered = "what" in query or query.get("step") == "what"  # an unticked radio group sends nothing
        errors = {"what": "Choose a treatment or a course"} if answered else {}
        return render(request, "book_what.html", status=400 if errors else 200, errors=errors, **context)
    therapists = [t for t in found.therapists if treatment["id"] in t["treatments"]]
    therapist_choice = query.get("therapist")
    context.update(treatment=treatment, course=course, therapists=therapists)
    if therapist_choice is None:
        return render(request, "book_who.html", errors={}, **context)
    therapist = next((t for t in therapists if t["id"] == therapist_choice), None)
    if therapist is None and therapist_choice != "any":
        return render(request, "book_who.html", errors={"therapist": "Choose a therapist, or no preference"}, **context)
    return await _week(request, context, therapist, query)


class Time(NamedTuple):
    """A free time as a button of the week shows it. Every field but the therapist's name is safe in HTML as it
    is (checked by _free_time, or made from a parsed value), so the `week` macro prints them unescaped: a week
    has a hundred-odd times, and escaping their values was most of the page's rendering."""

    start: str  # ISO 8601
    clock: str  # '10:30', clinic time
    therapist_id: str
    therapist_name: str  # escaped by the macro


class Day(NamedTuple):
    id: str  # of the day's heading, which describes each of its times (aria-describedby)
    heading: str  # 'Monday 14 December 2026 (UK time, GMT)'
    times: list[Time]


def _week_days(first: date, zone: ZoneInfo) -> dict[date, Day]:
    days = (first + timedelta(days=i) for i in range(DAYS_SHOWN))
    return {day: Day(f"day-{day.isoformat()}", formatting.day_heading(day, zone), []) for day in days}


@functools.lru_cache(maxsize=FREE_TIMES_KEPT)
def _free_time(start: str, therapist_id: str, therapist_name: str, zone: ZoneInfo) -> tuple[date, Time]:
    """A free time's day in the clinic's zone, and its button. Kept: free times fall on few instants (quarter
    hours within a booking horizon) of few therapists, which page after page shows again, and working one out
    (parse, change of zone, checks) costs more than all the rest of its button."""
    instant = datetime.fromisoformat(start)
    local = instant.astimezone(zone)
    safe_start = start if ISO_INSTANT.fullmatch(start) else instant.isoformat()
    return local.date(), Time(safe_start, formatting.wall_clock(local), str(uuid.UUID(therapist_id)), therapist_name)


async def week_view(
    request: web.Request,
    clinic: dict,
    treatment_id: str,
    therapist_id: str | None,
    week: str | None,
    button: str = "slot",
) -> dict:
    """A week of free times from `week` (default: the clinic's today), day by day in the clinic's zone,
    each day's heading naming its zone, with the zone's name and the neighbouring weeks: what a page needs to
    show them. The times are buttons named `button` of the page's form (see the `week` macro)."""
    zone = clinic_zone(clinic)
    today = clinic_today(clinic)
    first_free = await first_free_day(request, clinic, treatment_id, therapist_id, today) if week == "first" else None
    first = first_free or max(today, _day(week, today))
    last = first + timedelta(days=DAYS_SHOWN - 1)
    answer = await api(request).availability_answer(clinic["slug"], treatment_id, therapist_id, first, last)
    shown = rendered_week(
        request.app[TEMPLATES].get_template("_macros.html").module, answer, first, zone, button, therapist_id is None
    )
    return {
        "week_html": shown.html,
        "zone_name": zone_name(zone),
        "shown_week": first.isoformat(),
        "none_free": shown.none_free,
        "none_free_ahead": week == "first" and first_free is None,
        "previous_week": (first - timedelta(days=DAYS_SHOWN)).isoformat() if first > today else None,
        "next_week": (first + timedelta(days=DAYS_SHOWN)).isoformat(),
    }


class RenderedWeek(NamedTuple):
    html: Markup
    none_free: bool


@functools.lru_cache(maxsize=WEEKS_KEPT)
def rendered_week(
    macros, answer: bytes, first: date, zone: ZoneInfo, button: str, with_therapist: bool
) -> RenderedWeek:
    """The week's times as the `week` macro of `macros` prints them, from the availability API's `answer`.
    Kept by the answer's bytes: while a week's free times do not change, every customer looking at it gets
    the same answer, and its buttons are made once (decoding and rendering them is most of the page's work).
    A changed answer is a new key, so what is shown is always the answer just read."""
    slots = json_of(answer, "availability")["slots"]
    days = _week_days(first, zone)
    for slot in slots:
        therapist = slot["therapist"]
        day, time_ = _free_time(slot["start"], therapist["id"], therapist["name"], zone)
        days[day].times.append(time_)
    return RenderedWeek(macros.week(list(days.values()), button, with_therapist=with_therapist), not slots)


async def first_free_day(
    request: web.Request, clinic: dict, treatment_id: str, therapist_id: str | None, today: date
) -> date | None:
    """The clinic's first day with a free time, looked for window by window up to its booking horizon."""
    zone, horizon = clinic_zone(clinic), today + timedelta(days=clinic["policies"]["booking_horizon_days"])
    first = today
    while first <= horizon:
        last = min(first + timedelta(days=SEARCH_WINDOW_DAYS - 1), horizon)
        found = await api(request).availability(clinic["slug"], treatment_id, therapist_id, first, last)
        if found["slots"]:
            return min(datetime.fromisoformat(slot["start"]) for slot in found["slots"]).astimezone(zone).date()
        first = last + timedelta(days=1)
    return None


async def _week(request: web.Request, context: dict, therapist: dict | None, query) -> web.Response:
    week = await week_view(
        request,
        context["clinic"],
        context["treatment"]["id"],
        therapist["id"] if therapist else None,
        query.get("week"),
    )
    return render(
        request,
        "book_when.html",
        therapist=therapist,
        therapist_choice=therapist["id"] if therapist else "any",
        **week,
        **context,
    )


@routes.post("/c/{clinic}/book/hold")
async def hold(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    form = await genuine_form(request)
    chosen_therapist, _, start = str(form.get("slot", "")).partition("|")  # the button pressed
    therapist = _uuid(chosen_therapist)
    body = {"clinic": slug, "therapist": therapist, "start": start}
    kind = "course" if _uuid(form.get("course")) else "treatment"
    body[kind] = _uuid(form.get(kind))
    back = {"therapist": form.get("therapist_choice", "any"), kind: body[kind], "week": form.get("week", "")}
    try:
        held = await api(request).hold(body)
    except ApiRefused as exc:
        message = (
            "Sorry, that time has just been taken. Please choose another."
            if exc.status == 409
            else "Sorry, that time cannot be booked. Please choose another."
        )
        raise web.HTTPSeeOther(f"/c/{slug}/book?" + _query({**back, "message": message}))
    raise await start_with_hold(request, slug, held, back)


async def start_with_hold(request: web.Request, slug: str, held: dict, choice: dict) -> web.HTTPSeeOther:
    """The flow at its screening step with `held` (a hold as the holds API answers it: id, expires_at, start),
    `choice` being where "choose a different time" goes back to: the redirect that says so, with the flow's cookie.
    A time this browser held before is let go, unless it is this very hold (a waitlist offer's link opened twice)."""
    flows = request.app[FLOWS]
    found = await flows.find(request)
    if found and "hold" in found[1] and "booking" not in found[1] and found[1]["hold"]["id"] != held["id"]:
        await api(request).release(found[1]["hold"]["id"])  # the time chosen before is free again
    # A gift voucher brought from its email (vouchers.book_with) waits for the details step.
    code = found[1].get("voucher_code") if found and found[1].get("clinic") == slug else None
    flow_id = await flows.save(
        found[0] if found else None,
        {"clinic": slug, "hold": held, "choice": choice, **({"voucher_code": code} if code else {})},
    )
    response = web.HTTPSeeOther(f"/c/{slug}/book/screening")
    flows.remember(response, flow_id)
    return response


def _query(params: dict) -> str:
    return urlencode({k: v for k, v in params.items() if v})


async def _flow(request: web.Request, slug: str, *, needs: str = "hold") -> tuple[str, dict]:
    """The customer's flow at this clinic, having reached `needs`; else back to the start, told why."""
    found = await request.app[FLOWS].find(request)
    if found is None or found[1].get("clinic") != slug or needs not in found[1]:
        message = "Your booking session has ended. Please choose a time again."
        raise web.HTTPSeeOther(f"/c/{slug}/book?" + _query({"message": message}))
    return found


def _hold_summary(flow: dict, clinic: dict) -> dict:
    held = flow["hold"]
    sessions = held.get("sessions") or [held]
    return {
        "sessions": [when_label(s["start"], clinic) for s in sessions],
        "booked": "booking" in flow,
        "expires_at": held["expires_at"],
        "expires_clock": _clock_and_zone(datetime.fromisoformat(held["expires_at"]), clinic_zone(clinic)),
    }


def _clock_and_zone(instant: datetime, zone: ZoneInfo) -> str:
    """'10:40 (UK time, GMT)': a time alone still names its zone."""
    return f"{formatting.clock(instant, zone)} ({formatting.zone_label(instant, zone)})"


def _expired(flow: dict) -> bool:
    return datetime.fromisoformat(flow["hold"]["expires_at"]) <= datetime.now(timezone.utc)


def _ran_out(slug: str, flow: dict) -> web.HTTPSeeOther:
    message = "The time we were holding for you ran out before the booking was finished. Please choose a time again."
    return web.HTTPSeeOther(f"/c/{slug}/book?" + _query({**flow["choice"], "message": message}))


@routes.post("/c/{clinic}/book/release")
async def choose_another_time(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    await genuine_form(request)
    _, flow = await _flow(request, slug)
    if "booking" not in flow:
        await api(request).release(flow["hold"]["id"])
    raise web.HTTPSeeOther(f"/c/{slug}/book?" + _query(flow["choice"]))


# --- screening ------------------------------------------------------------------------------------


@routes.get("/c/{clinic}/book/screening")
async def screening_form(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    _, flow = await _flow(request, slug)
    return await _screening_page(request, slug, flow, {}, {})


async def _screening_page(request, slug, flow, answers, errors, status=200) -> web.Response:
    clinic, form = (await catalogue(request, slug)).clinic, await api(request).screening(slug)
    return render(
        request,
        "book_screening.html",
        status=status,
        private=True,
        clinic=clinic,
        form=form,
        answers=answers,
        errors=errors,
        held=_hold_summary(flow, clinic),
    )


def _answers(form, questions: list[dict]) -> tuple[dict[str, bool], dict[str, str]]:
    answers, errors = {}, {}
    for question in questions:
        value = form.get(question["id"])
        if value in ("yes", "no"):
            answers[question["id"]] = value == "yes"
        else:
            errors[question["id"]] = f"Answer yes or no: {question['text']}"
    return answers, errors


async def _answered(request: web.Request, slug: str):
    """A posted form of the flow that carries the screening answers: (the form, the flow's id, the flow,
    the answers, what is unanswered)."""
    form = await genuine_form(request)
    flow_id, flow = await _flow(request, slug)
    answers, unanswered = _answers(form, (await api(request).screening(slug))["questions"])
    return form, flow_id, flow, answers, unanswered


async def _stopped(request: web.Request, slug: str, flow: dict, advice: list[str]) -> web.Response:
    """The screening stops the booking: nothing is booked, the time is free again, the advice in words."""
    await api(request).release(flow["hold"]["id"])
    clinic = (await catalogue(request, slug)).clinic
    return render(request, "book_stopped.html", private=True, clinic=clinic, advice=advice)


@routes.post("/c/{clinic}/book/screening")
async def screening_answered(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    _, _, flow, answers, unanswered = await _answered(request, slug)
    if unanswered:
        return await _screening_page(request, slug, flow, answers, unanswered, status=400)
    verdict = await api(request).check_screening(slug, answers)
    if verdict["stops_booking"]:
        return await _stopped(request, slug, flow, verdict["advice"])
    return await _details_page(request, slug, flow, answers, {"voucher_code": flow.get("voucher_code", "")}, {})


# --- details and the booking ----------------------------------------------------------------------


async def _details_page(request, slug, flow, answers, values, errors, status=200, dob_faulty=()) -> web.Response:
    clinic = (await catalogue(request, slug)).clinic
    return render(
        request,
        "book_details.html",
        status=status,
        private=True,
        clinic=clinic,
        answers=answers,
        values=values,
        errors=errors,
        dob_faulty=dob_faulty,
        held=_hold_summary(flow, clinic),
    )


# The date of birth (optional) in GOV.UK's three boxes: birth_date.parse reads them.
DATE_OF_BIRTH = ("dob_day", "dob_month", "dob_year")
DETAILS = ("name", "email", "phone", "voucher_code", *DATE_OF_BIRTH)


@routes.post("/c/{clinic}/book/details")
async def details_given(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    form, flow_id, flow, answers, unanswered = await _answered(request, slug)
    if unanswered:  # the hidden answers did not come back: ask them again
        return await _screening_page(request, slug, flow, answers, unanswered, status=400)
    values = {name: str(form.get(name, "")).strip() for name in DETAILS}
    values["policy"] = "yes" if form.get("policy") == "yes" else ""  # kept ticked after another field's error
    errors = {}
    if not values["name"]:
        errors["name"] = "Enter your full name"
    if not EMAIL.match(values["email"]):
        errors["email"] = "Enter an email address like name@example.com"
    today = clinic_today((await catalogue(request, slug)).clinic)
    born = birth_date.parse(values["dob_day"], values["dob_month"], values["dob_year"], today)
    if born.error:  # linked to its first box at fault
        errors[f"dob_{born.faulty[0]}"] = born.error
    if not values["policy"]:
        errors["policy"] = "Confirm you have read the cancellation policy"
    if errors:
        return await _details_page(request, slug, flow, answers, values, errors, status=400, dob_faulty=born.faulty)
    if _expired(flow):
        raise _ran_out(slug, flow)
    customer = {"name": values["name"], "email": values["email"], "phone": values["phone"] or None}
    if born.value:
        customer["date_of_birth"] = born.value
    body = {"hold": flow["hold"]["id"], "customer": customer, "screening": {"answers": answers}}
    if values["voucher_code"]:
        body["voucher_code"] = values["voucher_code"]
    try:  # keyed by the hold: the same details sent twice at once book it once, and both answers are that booking
        booked = await api(request).book(body, idempotency_key=f"web-booking-{flow['hold']['id']}")
    except ApiRefused as exc:
        return await _booking_refused(request, slug, flow, answers, values, exc)
    flow["booking"] = {
        "id": booked["id"],
        "token": booked["manage_url"].split("token=", 1)[1],
        "manage_url": booked["manage_url"],
        "payment": booked["payment"],
        "amount_due": booked["amount_due"],
        "due_at_clinic": booked.get("due_at_clinic"),  # a deposit's rest (issue 20)
        "price": booked["price"],
    }
    await request.app[FLOWS].save(flow_id, flow)
    raise _booked(slug, flow)


def _booked(slug: str, flow: dict) -> web.HTTPSeeOther:
    """On from the flow's booking: to paying for it, or to its confirmation when a voucher paid it all."""
    return web.HTTPSeeOther(f"/c/{slug}/book/{'confirming' if flow['booking']['payment']['covered'] else 'pay'}")


async def _booking_refused(request, slug, flow, answers, values, exc: ApiRefused) -> web.Response:
    if exc.code.startswith("voucher"):  # the code cannot pay: said at its field, the time still held
        return await _details_page(request, slug, flow, answers, values, {"voucher_code": exc.message}, status=400)
    if exc.status == 429 and values["voucher_code"]:  # too many wrong codes from here: the field says so
        return await _details_page(request, slug, flow, answers, values, {"voucher_code": _codes_paused(exc)}, 429)
    if exc.code in ("hold_expired", "hold_not_found") or exc.status == 409:
        raise _ran_out(slug, flow)
    if exc.code == "screening_red_flag":
        return await _stopped(request, slug, flow, (exc.details or {}).get("advice", [exc.message]))
    if exc.code == "invalid_date_of_birth":  # the API's bounds, a day apart from ours at most (its today)
        message = "Date of birth must be a real date in the past, like 27 3 2010"
        return await _details_page(
            request, slug, flow, answers, values, {"dob_day": message}, status=400, dob_faulty=birth_date.PARTS
        )
    field = "email" if "email" in str(exc.details) else "name"
    return await _details_page(request, slug, flow, answers, values, {field: exc.message or "Check this"}, status=400)


def _codes_paused(exc: ApiRefused) -> str:
    minutes = -(-exc.retry_after // 60) if exc.retry_after else None
    wait = f"in {minutes} minute{'s' if minutes != 1 else ''}" if minutes else "later"
    return f"Too many voucher codes have been tried. Try again {wait}, or leave the code out to pay by card"


# --- payment --------------------------------------------------------------------------------------


@routes.get("/c/{clinic}/book/pay")
async def pay_form(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    _, flow = await _flow(request, slug, needs="booking")
    return await _pay_page(request, slug, flow, {})


async def _pay_by(request: web.Request, flow: dict) -> datetime | None:
    """The time by which the flow's booking must be paid, as the booking service says it now (it may be later than
    the hold's: a payment window); None when it awaits no payment (paid, or let go: `lapsed` below says which)."""
    booking = flow["booking"]
    try:
        answer = await api(request).booking_payment(booking["id"], booking["token"])
    except ApiRefused as exc:
        if exc.code == "nothing_to_pay" and (exc.details or {}).get("status") == "expired":
            return datetime.min.replace(tzinfo=timezone.utc)  # let go already: long past
        return None
    return datetime.fromisoformat(answer["pay_by"]) if answer.get("pay_by") else None


def _lapsed(pay_by: datetime | None) -> bool:
    return pay_by is not None and pay_by <= datetime.now(timezone.utc)


def _time_ran_out_page(request: web.Request, slug: str, flow: dict, clinic: dict) -> web.Response:
    """A booking not paid by its pay-by time: said in words, the way on (the earlier choices kept), no card form."""
    again = f"/c/{slug}/book?" + _query(flow.get("choice") or {})
    return render(request, "book_pay.html", status=409, private=True, clinic=clinic, errors={}, choose_again=again)


async def _pay_page(request, slug, flow, errors, status=200) -> web.Response:
    clinic = (await catalogue(request, slug)).clinic
    pay_by = await _pay_by(request, flow)
    if _lapsed(pay_by):
        return _time_ran_out_page(request, slug, flow, clinic)
    held = _hold_summary(flow, clinic)
    if pay_by is not None:  # the booking service's pay-by time, not the hold's: the one that counts now
        held.update(expires_at=pay_by.isoformat(), expires_clock=_clock_and_zone(pay_by, clinic_zone(clinic)))
    booking = flow["booking"]
    payment = booking["payment"]
    voucher = payment.get("voucher")
    return render(
        request,
        "book_pay.html",
        status=status,
        private=True,
        clinic=clinic,
        errors=errors,
        held=held,
        price=booking["price"],
        due=booking["amount_due"],
        at_clinic=at_clinic_part(booking.get("due_at_clinic")),
        voucher=voucher,
        offline=OFFLINE_CARDS in request.app,
        # Nothing to pay by card, the card only saved (issue 20): its SetupIntent, and the policy in words.
        setup=bool(payment.get("setup")),
        policy_words=_policy_words(await catalogue(request, slug), flow),
    )


def _policy_words(found, flow: dict) -> str:
    """The chosen treatment's (or course's) payment policy in words, as the catalogue says it."""
    choice = flow.get("choice") or {}
    item = found.treatment(choice.get("treatment")) or found.course(choice.get("course")) or {}
    return str((item.get("payment_policy") or {}).get("words") or "")


def at_clinic_part(due_at_clinic: dict | None) -> dict | None:
    """What is due at the clinic when a deposit is paid now (issue 20); None when nothing is. The manage link's pay
    page (manage.py) too."""
    return due_at_clinic if due_at_clinic and due_at_clinic.get("amount", 0) > 0 else None


@routes.post("/c/{clinic}/book/pay")
async def pay(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    form = await genuine_form(request)
    _, flow = await _flow(request, slug, needs="booking")
    if OFFLINE_CARDS not in request.app:
        raise web.HTTPNotFound()  # with real Stripe keys the card is paid in Stripe's own field
    if _lapsed(await _pay_by(request, flow)):  # its time was let go: nothing is charged for it
        return _time_ran_out_page(request, slug, flow, (await catalogue(request, slug)).clinic)
    payment = flow["booking"]["payment"]
    if payment.get("setup"):  # card saved only: the SetupIntent confirmed, then payments told (no event offline)
        if problem := await test_card_problem(request, form, payment["stripe_setup_intent"], setup=True):
            return await _pay_page(request, slug, flow, {"card": problem}, status=400)
        await setup_refreshed(request, payment["stripe_setup_intent"])
    elif problem := await test_card_problem(request, form, payment["stripe_payment_intent"]):
        return await _pay_page(request, slug, flow, {"card": problem}, status=400)
    raise web.HTTPSeeOther(f"/c/{slug}/book/confirming")


async def setup_refreshed(request: web.Request, setup_intent_id: str) -> None:
    """Payments asked to look at the card-saving SetupIntent now (best effort: the confirming page asks again,
    and payments' own reconciler finds it too). The manage link's pay pages (manage.py) too."""
    with contextlib.suppress(ApiRefused, ApiUnavailable):
        await api(request).refresh_setup_intent(setup_intent_id)


@routes.get("/c/{clinic}/book/confirming")
async def confirming(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    _, flow = await _flow(request, slug, needs="booking")
    booking = await api(request).booking(flow["booking"]["id"], flow["booking"]["token"])
    if booking["status"] == "pending_payment" and flow["booking"]["payment"].get("setup"):
        # A saved card's SetupIntent sends no event at the fake Stripe (and Stripe.js comes back here): ask.
        await setup_refreshed(request, flow["booking"]["payment"]["stripe_setup_intent"])
        booking = await api(request).booking(flow["booking"]["id"], flow["booking"]["token"])
    if booking["status"] == "confirmed":
        raise web.HTTPSeeOther(f"/c/{slug}/book/confirmed")
    clinic = (await catalogue(request, slug)).clinic
    setup = bool(flow["booking"]["payment"].get("setup"))
    if booking["status"] != "pending_payment":  # its time ran out first: said so, with the way on, never a loop
        again = f"/c/{slug}/book?" + _query(flow.get("choice") or {})
        return render(request, "book_confirming.html", private=True, clinic=clinic, setup=setup, choose_again=again)
    response = render(request, "book_confirming.html", private=True, clinic=clinic, errors={}, setup=setup)
    response.headers["Refresh"] = str(CONFIRMING_REFRESH_SECONDS)  # without JavaScript, the page asks again
    return response


async def _confirmed_booking(request: web.Request, slug: str):
    """The flow's booking once confirmed (else to the confirming page), and the catalogue that names it."""
    _, flow = await _flow(request, slug, needs="booking")
    booking = await api(request).booking(flow["booking"]["id"], flow["booking"]["token"])
    if booking["status"] != "confirmed":
        raise web.HTTPSeeOther(f"/c/{slug}/book/confirming")
    return flow, booking, await catalogue(request, slug)


@routes.get("/c/{clinic}/book/confirmed")
async def confirmed(request: web.Request) -> web.Response:
    slug = clinic_slug(request)
    flow, booking, found = await _confirmed_booking(request, slug)
    clinic, treatment = found.clinic, found.treatment(booking["treatment"])
    calendar = formatting.google_calendar_url(
        f"{treatment['name'] if treatment else 'Treatment'} at {clinic['name']}",
        datetime.fromisoformat(booking["start"]),
        datetime.fromisoformat(booking["end"]),
        clinic["contact"]["address"],
        f"Booked with {clinic['name']}. To cancel or move it, use the link in your confirmation email.",
    )
    return render(
        request,
        "book_confirmed.html",
        private=True,
        clinic=clinic,
        booking=booking,
        calendar=calendar,
        when=when_label(booking["start"], clinic),
        sessions=_hold_summary(flow, clinic)["sessions"],
        therapist=found.therapist(booking["therapist"]),
        treatment=treatment,
        manage_url=flow["booking"]["manage_url"],
        voucher_paid=formatting.voucher_paid(flow["booking"]["payment"].get("voucher")),
        deposit_paid=formatting.deposit_paid(
            flow["booking"]["amount_due"], booking.get("due_at_clinic") or flow["booking"].get("due_at_clinic")
        ),
    )


@routes.get("/c/{clinic}/book/confirmed/booking.ics")
async def calendar_file(request: web.Request) -> web.Response:
    """The booking as a calendar file, found through the flow's cookie (no token in this URL); the same
    calendar entry as the email's invite, which updates it if the booking moves."""
    slug = clinic_slug(request)
    flow, booking, found = await _confirmed_booking(request, slug)
    clinic, now = found.clinic, datetime.now(timezone.utc)
    treatment, therapist = found.treatment(booking["treatment"]), found.therapist(booking["therapist"])
    invite = ics.Invite(
        booking_id=booking["id"],
        start=datetime.fromisoformat(booking["start"]),
        end=datetime.fromisoformat(booking["end"]),
        changed_at=now,
        sequence=ics.sequence_for(now),
        summary=f"{treatment['name'] if treatment else 'Treatment'}"
        f"{' with ' + therapist['name'] if therapist else ''} at {clinic['name']}",
        location=", ".join(filter(None, [clinic["name"], clinic["contact"]["address"]])),
        description=f"Booking reference: {booking['id']}\nView, cancel or move it: {flow['booking']['manage_url']}",
        organizer_name=clinic["name"],
        organizer_email=clinic["contact"]["email"] or "",
        attendee_name=booking["customer"]["name"],
        attendee_email=booking["customer"]["email"],
        url=flow["booking"]["manage_url"],
    )
    return web.Response(
        body=ics.publish(invite).encode(),
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="booking.ics"', "Cache-Control": "no-store"},
    )
