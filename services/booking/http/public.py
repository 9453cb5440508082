"""The customers' API (no key): the clinics' catalogue and screening questions, availability, holds, and
booking a hold."""

from __future__ import annotations

from datetime import datetime
from typing import Awaitable, Callable

import asyncpg
from aiohttp import web

from services.booking import payment_policy, reads, screening, service
from services.booking.availability import Slot
from services.booking.catalogue_admin import CLINIC_CURRENCY, photo_path
from services.booking.domain import Clinic, Hold, Therapist
from services.booking.http import context, serialise
from services.booking.payments_client import PAYMENTS, TooManyVoucherCodes
from services.booking.reservation import Reservation
from services.booking.schemas import BookingIn, HoldIn, ScreeningIn
from shared.db import retry_conflicts
from shared.errors import ApiError
from shared.http_input import idempotency_key, query_day, query_uuid, read_json

routes = web.RouteTableDef()


# --- catalogue -----------------------------------------------------------------------------------


def _clinic_json(c: Clinic, policy: dict) -> dict:
    return {
        "id": str(c.id),
        "slug": c.slug,
        "name": c.name,
        "timezone": c.timezone,
        "contact": {"email": c.email, "phone": c.phone, "address": c.address},
        "policies": {
            "booking_horizon_days": c.booking_horizon_days,
            "min_notice_minutes": c.min_notice_minutes,
            "slot_step_minutes": c.slot_step_minutes,
            "hold_minutes": c.hold_minutes,
            "change_window_hours": c.change_window_hours,
            "reminder_offsets_minutes": list(c.reminder_offsets_minutes),
            "voucher_validity_months": c.voucher_validity_months,
            "voucher_min_amount": c.voucher_min_amount,
            "voucher_max_amount": c.voucher_max_amount,
            "waitlist_offer_minutes": c.waitlist_offer_minutes,
            "message": c.policy_message,
            # How bookings are paid for unless a treatment says otherwise (issue 20), and that in words.
            "payment_policy": {
                **policy,
                "words": payment_policy.general_words(policy, CLINIC_CURRENCY, c.change_window_hours),
            },
        },
        "embed_origins": list(c.embed_origins),
    }


def _slug(request: web.Request) -> str:
    return request.match_info["clinic"]


@routes.get("/api/v1/clinics")
async def list_clinics(request: web.Request) -> web.Response:
    clinics = await reads.clinics(context.pool(request))
    policies = await reads.clinic_payment_policies(context.pool(request))
    return web.json_response({"clinics": [_clinic_json(c, policies.get(c.id, payment_policy.FULL)) for c in clinics]})


@routes.get("/api/v1/clinics/{clinic}")
async def get_clinic(request: web.Request) -> web.Response:
    clinic = await reads.clinic(context.pool(request), _slug(request))
    return web.json_response(_clinic_json(clinic, await reads.clinic_payment_policy(context.pool(request), clinic.id)))


def _therapist_json(r: asyncpg.Record) -> dict:
    return {
        "id": str(r["id"]),
        "slug": r["slug"],
        "name": r["name"],
        "bio": r["bio"],
        "credentials": list(r["credentials"]),
        "treatments": sorted(str(t) for t in r["treatment_ids"]),
        "photo_url": photo_path(r["clinic_slug"], r["id"], r["photo_digest"]),
    }


async def _listed(
    request: web.Request,
    read: Callable[[asyncpg.Pool, str], Awaitable[list[asyncpg.Record]]],
    name: str,
    shape: Callable[[asyncpg.Record], dict],
) -> web.Response:
    """One of the clinic's lists: `{name: [shape(row), ...]}`."""
    rows = await read(context.pool(request), _slug(request))
    return web.json_response({name: [shape(r) for r in rows]})


@routes.get("/api/v1/clinics/{clinic}/treatments")
async def list_treatments(request: web.Request) -> web.Response:
    return await _listed(request, reads.treatments, "treatments", serialise.treatment)


@routes.get("/api/v1/clinics/{clinic}/courses")
async def list_courses(request: web.Request) -> web.Response:
    return await _listed(request, reads.courses, "courses", serialise.course)


@routes.get("/api/v1/clinics/{clinic}/therapists")
async def list_therapists(request: web.Request) -> web.Response:
    return await _listed(request, reads.therapists, "therapists", _therapist_json)


@routes.get("/api/v1/clinics/{clinic}/screening")
async def get_screening(request: web.Request) -> web.Response:
    await reads.clinic(context.pool(request), _slug(request))  # 404 for a clinic that does not exist
    form = screening.questionnaire()
    return web.json_response(
        {
            "version": form.version,
            "intro": form.intro,
            "questions": [{"id": q.id, "text": q.text, "answer": "boolean"} for q in form.questions],
        }
    )


@routes.post("/api/v1/clinics/{clinic}/screening/check")
async def check_screening(request: web.Request) -> web.Response:
    """The verdict on screening answers, so a page can stop at the screening step; nothing is stored
    (health data), and the booking judges the answers again."""
    body = await read_json(request, ScreeningIn)
    await reads.clinic(context.pool(request), _slug(request))  # 404 for a clinic that does not exist
    result = service.assess_screening(body.answers)
    return web.json_response(
        {"outcome": result.outcome, "stops_booking": result.stops_booking, "advice": list(result.advice)}
    )


@routes.get("/api/v1/clinics/{clinic}/availability")
async def get_availability(request: web.Request) -> web.Response:
    treatment_id = query_uuid(request, "treatment", required=True)
    therapist_id = query_uuid(request, "therapist", required=False)
    first, last = query_day(request, "from"), query_day(request, "to")
    found = await service.availability(
        context.unit_of_work(request), _slug(request), treatment_id, therapist_id, first, last, context.now()
    )
    return web.json_response(
        {
            "clinic": found.clinic.slug,
            "timezone": found.clinic.timezone,
            "treatment": str(found.treatment.id),
            "from": found.first.isoformat(),
            "to": found.last.isoformat(),
            "slots": _slots_json(found.slots, found.therapists, found.clinic),
        }
    )


def _slots_json(slots: list[Slot], therapists: list[Therapist], clinic: Clinic) -> list[dict]:
    zone = clinic.rules.zone
    # One therapist object per therapist, shared by their slots (the JSON is the same).
    refs = {t.id: {"id": str(t.id), "name": t.name} for t in therapists}
    return [
        {
            "start": s.start.astimezone(zone).isoformat(),
            "end": s.end.astimezone(zone).isoformat(),
            "therapist": refs[s.therapist_id],
        }
        for s in slots
    ]


# --- holds and bookings --------------------------------------------------------------------------


def _hold_json(holds: list[Hold] | list[Reservation], clinic: Clinic, expires_at: datetime) -> dict:
    sessions = [
        {
            "id": str(h.id),
            "start": serialise.local(h.start, clinic),
            "end": serialise.local(h.end, clinic),
            "price": serialise.money(h.price_amount, h.currency),
        }
        for h in holds
    ]
    first = holds[0]
    body = {
        "id": str(first.series_id or first.id),
        "expires_at": expires_at.isoformat(),
        "therapist": str(first.therapist_id),
        "treatment": str(first.treatment_id),
    }
    if first.series_id is not None:
        body.update(kind="series", course=str(first.course_id), sessions=sessions)
    else:
        body.update(kind="single", start=sessions[0]["start"], end=sessions[0]["end"], price=sessions[0]["price"])
    return body


def _replayed_hold(clinic: Clinic, holds: list[Reservation]) -> dict:
    """The answer to a retried hold request: the holds it made the first time (booked since: when it was made)."""
    return _hold_json(holds, clinic, holds[0].expires_at or holds[0].created_at)


@routes.post("/api/v1/holds")
@retry_conflicts
async def create_hold(request: web.Request) -> web.Response:
    body = await read_json(request, HoldIn)
    key = idempotency_key(request)
    uow, now = context.unit_of_work(request), context.now()
    if body.treatment is not None:
        held = await service.hold_slot(uow, body.clinic, body.treatment, body.therapist, body.start, now, key)
    else:
        held = await service.hold_course(
            uow, body.clinic, body.course, body.therapist, body.start, body.starts, now, key
        )
    if held.replayed:
        return web.json_response(_replayed_hold(held.clinic, held.holds), status=200)
    return web.json_response(_hold_json(held.holds, held.clinic, held.holds[0].expires_at), status=201)


@routes.delete("/api/v1/holds/{id}")
async def release_hold(request: web.Request) -> web.Response:
    """Let a hold go (the customer chose another time): the time is free again at once. Idempotent."""
    hold_id = context.path_id(request, "hold_not_found", "No such hold")
    await service.release_hold(context.unit_of_work(request), hold_id)
    return web.Response(status=204)


def _client(request: web.Request) -> str:
    # Behind the gateway (or the web pages) the customer is the first address forwarded.
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.split(",")[0].strip() or request.remote or "unknown"


@routes.post("/api/v1/bookings")
@retry_conflicts
async def create_booking(request: web.Request) -> web.Response:
    body = await read_json(request, BookingIn)
    key = idempotency_key(request)
    links = context.manage_links(request)
    customer = body.customer.customer(context.now().date())
    answers = body.screening.answers if body.screening else None
    try:
        submitted = await service.submit(
            context.unit_of_work(request),
            body.hold,
            customer,
            answers,
            key,
            context.now(),
            links,
            request.app[PAYMENTS],
            health=context.health(request),
            voucher_code=body.voucher_code,
            client=_client(request),
            pay_rest_by_card=body.pay_rest_by_card,
        )
    except TooManyVoucherCodes as exc:  # the hold is as it was; the customer may book without a code
        raise ApiError(exc.status, exc.code, exc.message, headers={"Retry-After": exc.retry_after}) from None
    sessions, payment, first = submitted.reservations, submitted.payment, submitted.reservations[0]
    now = context.now()
    bookings = [serialise.booking(r, submitted.clinic, links, with_manage_url=True, now=now) for r in sessions]
    answer = dict(bookings[0])
    answer["price"] = serialise.money(sum(r.price_amount for r in sessions), first.currency)
    answer["amount_due"] = serialise.money(payment["amount"], first.currency)  # what is left for the card
    # What is left to pay at the clinic (a deposit: the price less the voucher and card parts; else zero).
    answer["due_at_clinic"] = serialise.money(first.due_at_clinic, first.currency)
    answer["payment"] = payment
    answer["pay_by"] = first.expires_at.isoformat() if first.expires_at else None
    if len(bookings) > 1:
        answer["sessions"] = bookings
    return web.json_response(answer, status=201)
