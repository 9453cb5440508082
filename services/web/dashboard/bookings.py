"""A booking's page and the clinic's actions for its customer (owner and staff): cancel with a full refund (a reason
required), move to another free time, mark completed or no-show, and book for a customer (a phone booking), each a
form calling the clinic API (GET /api/v1/clinic/bookings/{id}, POST …/cancel, …/reschedule, …/complete, …/no-show,
POST /api/v1/clinic/bookings). What the API refuses is said in words on the page, and nothing changes.

The booking's page is the only page with the customer's health answers (no-store, as every dashboard page)."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from services.web.api import ApiRefused, ApiUnavailable
from services.web.booking import week_view
from services.web.dashboard import diary_view
from services.web.dashboard.api import SessionExpired
from services.web.dashboard.diary import clinic_today
from services.web.dashboard.pages import clinic_api, redirect, render, session_form, signed_in
from services.web.dashboard.session import Session
from services.web.formatting import day_label, money, wall_clock, zone_label
from services.web.pages import api, catalogue
from shared.clinic_time import zone_name

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

NEW = "/clinic/bookings/new"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
KEY = re.compile(r"[0-9a-f]{32}")  # a form's Idempotency-Key, as _new_page makes it
MAX_REASON = 500  # the API's limit (services/booking/domain.py MAX_CANCEL_REASON), said before it is sent
MAX_NAME, MAX_EMAIL, MAX_PHONE = 200, 254, 40
PAYMENTS = (
    ("online", "Pay online (we email a link)", "The booking is confirmed when they pay by card from the email."),
    ("at_clinic", "Pay at the clinic", "Confirmed now; they pay on the day. Nothing is charged online."),
)
DONE_NOTES = {
    "cancelled": "Booking cancelled. The customer gets a full refund and an email saying so.",
    "cancelled-unpaid": "Booking cancelled. Nothing was paid online, so nothing is refunded; the customer has been "
    "emailed that it is cancelled.",
    "moved": "Booking moved. The customer has been emailed the new time.",
    "completed": "Marked as completed.",
    "no-show": "Marked as a no-show.",
    "booked": "Booked and confirmed, to be paid at the clinic. The customer has been emailed the confirmation.",
    "booked-online": "Booked. We have emailed the customer a link to pay online; the booking is confirmed when they "
    "pay, and lapses if they do not.",
}
OUTCOME_DONE = {"complete": "completed", "no-show": "no-show"}  # the API's action: the page's note


def _booking_id(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["booking_id"]))
    except ValueError:
        raise web.HTTPNotFound() from None


def _path(booking_id: str, action: str = "") -> str:
    return f"/api/v1/clinic/bookings/{booking_id}" + (f"/{action}" if action else "")


async def _read(request: web.Request, session: Session, booking_id: str) -> dict:
    """The clinic's booking (another clinic's: the API's 404, the 404 page)."""
    return await clinic_api(request, session).call("GET", _path(booking_id))


def _summary(booking: dict, session: Session) -> dict:
    """What every page about the booking says of it."""
    zone = session.zone
    return {
        "booking": booking,
        "when": diary_view.when_words(booking["start"], booking["end"], zone),
        "status_words": diary_view.status_words(booking),
    }


# --- the booking's page ------------------------------------------------------------------------------------


def _fee(fees: dict | None, kind: str) -> str | None:
    fee = (fees or {}).get(kind)
    return money(fee["amount"], fee["currency"]) if fee else None


def fee_words(fees: dict | None) -> dict[str, str]:
    """The booking's fees (issue 20), fixed when it was booked, as the page's rows and the no-show button's hint."""
    shown = {}
    if no_show := _fee(fees, "no_show"):
        shown["no_show"] = f"{no_show}, charged to the customer's saved card if they are marked a no-show"
        shown["no_show_hint"] = f"Marking a no-show charges the no-show fee of {no_show} to the customer's saved card."
    if late := _fee(fees, "late_cancellation"):
        shown["late_cancellation"] = (
            f"{late}, charged to the customer's saved card if they cancel inside the change window"
        )
    return shown


FEE_NAMES = {"no_show": "No-show fee", "late_cancellation": "Late-cancellation fee"}
FEES_UNAVAILABLE = "Fee status unavailable"


def fee_outcome_words(fee: dict) -> str:
    """What became of a fee (the clinic API's GET /api/v1/clinic/fees), in a line."""
    what = f"{FEE_NAMES.get(fee['kind'], 'Fee')} {money(fee['amount']['amount'], fee['amount']['currency'])}"
    status = fee["status"]
    if status == "charged":
        return f"{what}: charged to the saved card"
    if status == "paid":
        return f"{what}: paid by the customer from the link"
    if status == "failed":
        # payments says why in words: the bank's answer, or that no card was saved.
        why = fee.get("failure") or "the card could not be charged"
        return f"{what}: not charged ({why}); the customer was emailed a link to pay it"
    return f"{what}: being charged"


async def _fee_outcomes(request: web.Request, session: Session, booking: dict) -> list[str] | None:
    """Each of the booking's fees' outcome, from payments (oldest first); None if payments did not answer (the page
    says so and shows the rest). A booking without fees asks nothing."""
    if not booking.get("fees"):
        return []
    try:
        answer = await clinic_api(request, session).call(
            "GET", "/api/v1/clinic/fees", params={"booking": booking["id"]}
        )
        return [fee_outcome_words(fee) for fee in reversed(answer["fees"])]
    except (ApiRefused, ApiUnavailable, KeyError, TypeError) as exc:
        log.warning("fee outcomes unavailable", extra={"error": type(exc).__name__})
        return None


def _done_note(done: str, booking: dict) -> str | None:
    note = DONE_NOTES.get(done)
    if done == "no-show" and (no_show := _fee(booking.get("fees"), "no_show")):
        note = (
            f"{note} The no-show fee of {no_show} is being charged to the customer's saved card; they are emailed "
            "a receipt, or a link to pay it if their bank declines it."
        )
    return note


async def _booking_page(
    request: web.Request,
    session: Session,
    booking_id: str,
    *,
    problem: str | None = None,
    status: int = 200,
    booking: dict | None = None,
) -> web.Response:
    booking = booking or await _read(request, session, booking_id)
    zone = session.zone
    screening = booking.get("screening")
    questions = (await api(request).screening(session.clinic_slug))["questions"] if screening else []
    started = datetime.fromisoformat(booking["start"]) <= datetime.now(timezone.utc)
    return render(
        request,
        "dashboard/booking.html",
        session=session,
        status=status,
        problem=problem,
        done=_done_note(request.query.get("done", ""), booking),
        fees=fee_words(booking.get("fees")),
        fee_outcomes=await _fee_outcomes(request, session, booking),
        fees_unavailable=FEES_UNAVAILABLE,
        **_summary(booking, session),
        payment=diary_view.payment_words(booking),
        voucher=diary_view.voucher_words(booking.get("voucher")),
        refund=diary_view.refund_words(booking),
        screening=screening,
        screening_outcome=diary_view.SCREENING_OUTCOMES.get((screening or {}).get("outcome", ""), ""),
        answers=diary_view.screening_answers(screening, questions),
        actions=diary_view.actions_log(booking.get("actions") or (), zone, session.staff_id),
        created=diary_view.instant_words(booking["created_at"], zone) if booking.get("created_at") else None,
        confirmed=booking["status"] == "confirmed",
        cancellable=_cancellable(booking),
        started=started,
    )


@routes.get(NEW)
async def new_booking_form(request: web.Request) -> web.Response:
    session = await signed_in(request)
    query = request.query
    values = {name: query.get(name, "").strip() for name in ("treatment", "therapist", "date")}
    asked = any(name in query for name in values)  # the first form was sent
    return await _new_page(request, session, values, check_choice=asked)


@routes.get("/clinic/bookings/{booking_id}")
async def booking_page(request: web.Request) -> web.Response:
    session = await signed_in(request)
    return await _booking_page(request, session, _booking_id(request))


# --- cancel on the customer's behalf ---------------------------------------------------------------------


async def _cancel_page(
    request: web.Request, session: Session, booking: dict, *, reason: str = "", errors=None, status: int = 200
) -> web.Response:
    return render(
        request,
        "dashboard/booking_cancel.html",
        session=session,
        status=status,
        reason=reason,
        errors=errors or {},
        max_reason=MAX_REASON,
        refund=diary_view.cancel_refund_words(booking),
        **_summary(booking, session),
    )


@routes.get("/clinic/bookings/{booking_id}/cancel")
async def cancel_form(request: web.Request) -> web.Response:
    session = await signed_in(request)
    booking_id = _booking_id(request)
    booking = await _read(request, session, booking_id)
    if not _cancellable(booking):
        return await _refused(request, session, booking, "cancelled")
    return await _cancel_page(request, session, booking)


def _cancellable(booking: dict) -> bool:
    """Confirmed, or a phone booking still awaiting its payment (the API's rule: not a course's session)."""
    return booking["status"] == "confirmed" or (booking["status"] == "pending_payment" and not booking.get("series"))


async def _refused(request: web.Request, session: Session, booking: dict, verb: str) -> web.Response:
    """The booking's page saying why it cannot be `verb` (the state machine's rule, in words)."""
    words = diary_view.status_words(booking).lower()
    problem = f"This booking is {words}: only a confirmed booking can be {verb}."
    return await _booking_page(request, session, booking["id"], problem=problem, status=409, booking=booking)


@routes.post("/clinic/bookings/{booking_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    session = await signed_in(request)
    booking_id = _booking_id(request)
    form = await session_form(request, session)
    reason = str(form.get("reason", "")).strip()
    errors = {}
    if not reason:
        errors["reason"] = "Enter why the booking is cancelled"
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"The reason must be {MAX_REASON} characters or fewer"
    booking = await _read(request, session, booking_id)  # what it was: whether anything is refunded
    if errors:
        return await _cancel_page(request, session, booking, reason=reason, errors=errors, status=400)
    try:
        await clinic_api(request, session).call("POST", _path(booking_id, "cancel"), json={"reason": reason})
    except ApiRefused as exc:
        if exc.status == 409:  # e.g. cancelled meanwhile: the state machine's refusal, in its words
            return await _booking_page(request, session, booking_id, problem=exc.message, status=409)
        if exc.status == 422:
            errors = {"reason": exc.message or "Check the reason"}
            return await _cancel_page(request, session, booking, reason=reason, errors=errors, status=400)
        raise
    log.info("dashboard: booking cancelled for the customer", extra={"booking_id": booking_id})
    done = "cancelled-unpaid" if diary_view.paid_nothing_online(booking) else "cancelled"
    raise redirect(f"/clinic/bookings/{booking_id}?done={done}")


# --- mark completed or no-show -----------------------------------------------------------------------------


async def _outcome(request: web.Request, action: str) -> web.Response:
    session = await signed_in(request)
    booking_id = _booking_id(request)
    await session_form(request, session)
    try:
        await clinic_api(request, session).call("POST", _path(booking_id, action))
    except ApiRefused as exc:
        if exc.status == 409:  # not confirmed, or its time has not come: the API's words
            return await _booking_page(request, session, booking_id, problem=exc.message, status=409)
        raise
    raise redirect(f"/clinic/bookings/{booking_id}?done={OUTCOME_DONE[action]}")


@routes.post("/clinic/bookings/{booking_id}/complete")
async def complete(request: web.Request) -> web.Response:
    return await _outcome(request, "complete")


@routes.post("/clinic/bookings/{booking_id}/no-show")
async def no_show(request: web.Request) -> web.Response:
    return await _outcome(request, "no-show")


# --- move to another time ----------------------------------------------------------------------------------


async def _move_page(
    request: web.Request,
    session: Session,
    booking: dict,
    week: str | None,
    anyone: bool,
    *,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    """A week of the treatment's free times (the customer pages' week: services/web/booking.py), of the same
    therapist or of any who gives it; each time a button of the form that moves the booking."""
    clinic = (await catalogue(request, session.clinic_slug)).clinic
    therapist_id = None if anyone else booking["therapist"]["id"]
    shown = await week_view(request, clinic, booking["treatment"]["id"], therapist_id, week, button="slot")
    here = f"/clinic/bookings/{booking['id']}/reschedule?{'therapist=any&' if anyone else ''}week="
    return render(
        request,
        "dashboard/booking_move.html",
        session=session,
        status=status,
        problem=problem,
        anyone=anyone,
        here=here,
        **shown,
        **_summary(booking, session),
    )


@routes.get("/clinic/bookings/{booking_id}/reschedule")
async def move_form(request: web.Request) -> web.Response:
    session = await signed_in(request)
    booking = await _read(request, session, _booking_id(request))
    if booking["status"] != "confirmed":
        return await _refused(request, session, booking, "moved")
    week = request.query.get("week") or None
    return await _move_page(request, session, booking, week, request.query.get("therapist") == "any")


@routes.post("/clinic/bookings/{booking_id}/reschedule")
async def move(request: web.Request) -> web.Response:
    session = await signed_in(request)
    booking_id = _booking_id(request)
    form = await session_form(request, session)
    therapist, _, start = str(form.get("slot", "")).partition("|")  # the time's button: "therapist|start"
    week, anyone = str(form.get("week", "")) or None, form.get("anyone") == "yes"
    body: dict[str, Any] = {"start": start}
    try:
        body["therapist"] = str(uuid.UUID(therapist))
    except ValueError:
        pass  # the same therapist
    problem = None
    if not start:
        problem = "Choose a new time"
    else:
        try:
            await clinic_api(request, session).call("POST", _path(booking_id, "reschedule"), json=body)
        except ApiRefused as exc:
            if exc.status not in (409, 422):
                raise
            problem = "That time has just been taken. Choose another." if exc.code == "slot_taken" else exc.message
    booking = await _read(request, session, booking_id)
    if problem is None:
        log.info("dashboard: booking moved for the customer", extra={"booking_id": booking_id})
        raise redirect(f"/clinic/bookings/{booking_id}?done=moved")
    if booking["status"] != "confirmed":
        return await _booking_page(request, session, booking_id, problem=problem, status=409, booking=booking)
    return await _move_page(request, session, booking, week, anyone, problem=problem, status=409)


# --- book for a customer (a phone booking) -----------------------------------------------------------------


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


async def _new_page(
    request: web.Request,
    session: Session,
    values: dict[str, str],
    *,
    check_choice: bool,
    errors: dict[str, str] | None = None,
    answers: dict[str, bool] | None = None,
    status: int = 200,
) -> web.Response:
    """The phone booking's page: first the treatment, therapist and day (a GET form); once they make sense, that
    day's free times (the availability API), the customer's details, how they pay and the health questions."""
    errors = dict(errors or {})
    found = await catalogue(request, session.clinic_slug)
    zone, today = session.zone, clinic_today(session)
    treatment, therapist = found.treatment(values.get("treatment")), found.therapist(values.get("therapist"))
    day = _day(values.get("date", ""))
    # The days a customer could book online too (today to the booking horizon): a list, not a date to type.
    last_day = today + timedelta(days=found.clinic["policies"]["booking_horizon_days"])
    days = [
        (d.isoformat(), day_label(d)) for d in (today + timedelta(days=n) for n in range((last_day - today).days + 1))
    ]
    choice_errors: dict[str, str] = {}
    if check_choice:
        if treatment is None:
            choice_errors["treatment"] = "Choose a treatment"
        if therapist is None:
            choice_errors["therapist"] = "Choose a therapist"
        elif treatment is not None and treatment["id"] not in therapist["treatments"]:
            choice_errors["therapist"] = f"{therapist['name']} does not give {treatment['name']}: choose another"
        if day is None or not today <= day <= last_day:
            choice_errors["date"] = "Choose a day"
    times = None
    if check_choice and not choice_errors and treatment and therapist and day:
        slots = (await api(request).availability(session.clinic_slug, treatment["id"], therapist["id"], day, day))[
            "slots"
        ]
        times = [(s["start"], wall_clock(datetime.fromisoformat(s["start"]).astimezone(zone)), "") for s in slots]
    questions = (await api(request).screening(session.clinic_slug))["questions"] if times is not None else []
    noon = datetime.combine(day or today, datetime.min.time().replace(hour=12), zone)
    return render(
        request,
        "dashboard/booking_new.html",
        session=session,
        status=status,
        values=values,
        errors={**choice_errors, **errors},
        treatments=[
            (
                t["id"],
                t["name"],
                f"{t['duration_minutes']} minutes, {money(t['price']['amount'], t['price']['currency'])}",
            )
            for t in found.treatments
        ],
        therapists=[(t["id"], t["name"]) for t in found.therapists],
        days=days,
        treatment=treatment,
        therapist=therapist,
        day_words=day_label(day) if day else "",
        zone=zone_label(noon, zone),
        zone_name=zone_name(zone),
        times=times,
        questions=questions,
        answers=answers or {},
        payments=PAYMENTS,
        key=uuid.uuid4().hex,  # the Idempotency-Key of this form's booking: sent twice, booked once
    )


def _screening(form, questions: list[dict]) -> tuple[dict[str, bool], dict[str, str]]:
    """The health answers given: all of them, or none (the customer answered within the year); some, an error for
    each left out."""
    answers = {q["id"]: form.get(q["id"]) == "yes" for q in questions if form.get(q["id"]) in ("yes", "no")}
    if not answers:
        return {}, {}
    return answers, {q["id"]: f"Answer yes or no: {q['text']}" for q in questions if q["id"] not in answers}


async def _book(request: web.Request, session: Session, body: dict, key: str) -> dict:
    """POST /api/v1/clinic/bookings as the signed-in staff member, with the form's Idempotency-Key: a form sent
    twice (a double click) books once, and the second answer is the same booking, not "that time is taken"."""
    clinic = clinic_api(request, session)
    headers = {"Authorization": f"Bearer {clinic.token}", "Idempotency-Key": key}
    try:
        return await clinic.api._call(
            "POST", f"{clinic.gateway_url}/api/v1/clinic/bookings", json=body, extra_headers=headers
        )
    except ApiRefused as exc:
        if exc.status == 401:  # as ClinicApi.call (which sends no other header)
            raise SessionExpired() from None
        raise


def _detail_errors(exc: ApiRefused) -> dict[str, str]:
    """The API's 422 details beside the fields they are about (the time when it does not say)."""
    fields = {"customer.name": "name", "customer.email": "email", "customer.phone": "phone", "start": "start"}
    errors: dict[str, str] = {}
    for detail in exc.details if isinstance(exc.details, list) else ():
        if isinstance(detail, dict) and (field := fields.get(str(detail.get("field", "")))) and field not in errors:
            errors[field] = str(detail.get("message") or "Check this")
    return errors or {"start": exc.message or "Choose another time"}


@routes.post(NEW)
async def new_booking(request: web.Request) -> web.Response:
    session = await signed_in(request)
    form = await session_form(request, session)
    names = ("treatment", "therapist", "date", "start", "name", "email", "phone", "payment")
    values = {name: str(form.get(name, "")).strip() for name in names}
    questions = (await api(request).screening(session.clinic_slug))["questions"]
    answers, errors = _screening(form, questions)
    if not values["start"]:
        errors["start"] = "Choose a time"
    if not values["name"]:
        errors["name"] = "Enter the customer's full name"
    elif len(values["name"]) > MAX_NAME:
        errors["name"] = f"The name must be {MAX_NAME} characters or fewer"
    if not values["email"]:
        errors["email"] = "Enter the customer's email address: the confirmation goes there"
    elif not EMAIL.match(values["email"]) or len(values["email"]) > MAX_EMAIL:
        errors["email"] = "Enter an email address in the correct format, like name@example.com"
    if len(values["phone"]) > MAX_PHONE:
        errors["phone"] = f"The phone number must be {MAX_PHONE} characters or fewer"
    if values["payment"] not in dict((p[0], p) for p in PAYMENTS):
        errors["payment"] = "Choose how the customer will pay"

    async def again(errors: dict[str, str], status: int = 400) -> web.Response:
        return await _new_page(
            request, session, values, check_choice=True, errors=errors, answers=answers, status=status
        )

    if errors:
        return await again(errors)
    body: dict[str, Any] = {
        "treatment": values["treatment"],
        "therapist": values["therapist"],
        "start": values["start"],
        "customer": {"name": values["name"], "email": values["email"], "phone": values["phone"] or None},
        "payment": values["payment"],
    }
    if answers:
        body["screening"] = {"answers": answers}
    key = str(form.get("key", ""))
    try:
        booked = await _book(request, session, body, key if KEY.fullmatch(key) else uuid.uuid4().hex)
    except ApiRefused as exc:
        if exc.code == "screening_red_flag":  # nothing booked: the advice, for the customer
            details = exc.details if isinstance(exc.details, dict) else {}
            advice = details.get("advice") or [exc.message]
            return render(request, "dashboard/booking_stopped.html", session=session, status=422, advice=advice)
        if exc.code == "screening_required":
            message = "Ask the customer the health questions: they have not answered them here in the last year"
            return await again({"screening": message})
        if exc.code == "slot_taken":
            return await again({"start": "That time has just been taken. Choose another."}, 409)
        if exc.status == 404:
            return await again({"treatment": exc.message or "Choose a treatment and a therapist again"})
        if exc.status == 422:
            return await again(_detail_errors(exc))
        if exc.status == 409:
            return await again({"start": exc.message or "Choose another time"}, 409)
        raise
    log.info("dashboard: booked for a customer", extra={"booking_id": booked["id"], "payment": values["payment"]})
    done = "booked" if values["payment"] == "at_clinic" else "booked-online"
    raise redirect(f"/clinic/bookings/{booked['id']}?done={done}")
