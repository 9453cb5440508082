"""HTTP handlers of the booking service: parse, run a use case in a transaction, shape the answer."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pydantic
from aiohttp import web

from services.booking import api_keys, domain, key_management, screening, service, staff, store
from services.booking.domain import Clinic, Customer, Hold
from services.booking.payments_client import PAYMENTS
from services.booking.reservation import Reservation
from services.booking.schemas import (ApiKeyCheckIn, ApiKeyIn, BookingIn, HoldIn, ManageIn, RescheduleIn, RotateKeyIn,
                                      ScreeningIn, SignInIn)
from services.booking.unit_of_work import PostgresUnitOfWork
from shared.clinic_auth import clinic_scope, require_internal
from shared.db import retry_conflicts
from shared.errors import ApiError
from shared.http_input import idempotency_key, query_day, query_uuid, read_json
from shared.keys import DB, SETTINGS
from shared.sealing import Sealer

routes = web.RouteTableDef()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _links(request: web.Request) -> service.Links:
    settings = request.app[SETTINGS]
    return service.Links(settings.public_url, settings.manage_link_key)


def _money(amount: int, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


def _local(instant: datetime, clinic: Clinic) -> str:
    """Clinic wall time, always with its UTC offset."""
    return instant.astimezone(clinic.rules.zone).isoformat()


# --- catalogue -----------------------------------------------------------------------------------

def _clinic_json(c: Clinic) -> dict:
    return {
        "id": str(c.id), "slug": c.slug, "name": c.name, "timezone": c.timezone,
        "contact": {"email": c.email, "phone": c.phone, "address": c.address},
        "policies": {
            "booking_horizon_days": c.booking_horizon_days, "min_notice_minutes": c.min_notice_minutes,
            "slot_step_minutes": c.slot_step_minutes, "hold_minutes": c.hold_minutes,
            "change_window_hours": c.change_window_hours, "reminder_offsets_minutes": list(c.reminder_offsets_minutes),
            "voucher_validity_months": c.voucher_validity_months,
            "message": c.policy_message,
        },
        "embed_origins": list(c.embed_origins),
    }


def _unit_of_work(request: web.Request) -> PostgresUnitOfWork:
    return PostgresUnitOfWork(request.app[DB])


async def _clinic(conn: asyncpg.Connection, request: web.Request) -> Clinic:
    slug = request.match_info["clinic"]
    return service.found_clinic(await store.get_clinic(conn, slug), slug)


@routes.get("/api/v1/clinics")
async def list_clinics(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        clinics = await store.list_clinics(conn)
    return web.json_response({"clinics": [_clinic_json(c) for c in clinics]})


@routes.get("/api/v1/clinics/{clinic}")
async def get_clinic(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        return web.json_response(_clinic_json(await _clinic(conn, request)))


@routes.get("/api/v1/clinics/{clinic}/treatments")
async def list_treatments(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        rows = await store.list_treatments(conn, (await _clinic(conn, request)).id)
    return web.json_response({"treatments": [
        {"id": str(r["id"]), "slug": r["slug"], "name": r["name"], "description": r["description"],
         "duration_minutes": r["duration_minutes"], "buffer_before_minutes": r["buffer_before_minutes"],
         "buffer_after_minutes": r["buffer_after_minutes"], "requires_screening": r["requires_screening"],
         "price": _money(r["price_amount"], r["currency"])} for r in rows]})


@routes.get("/api/v1/clinics/{clinic}/courses")
async def list_courses(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        rows = await store.list_courses(conn, (await _clinic(conn, request)).id)
    return web.json_response({"courses": [
        {"id": str(r["id"]), "slug": r["slug"], "name": r["name"], "description": r["description"],
         "treatment": str(r["treatment_id"]), "sessions": r["sessions"],
         "spacing": {"min_days_between": r["min_gap_days"], "max_days_between": r["max_gap_days"]},
         "price": _money(r["price_amount"], r["currency"])} for r in rows]})


@routes.get("/api/v1/clinics/{clinic}/therapists")
async def list_therapists(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        rows = await store.list_therapists(conn, (await _clinic(conn, request)).id)
    return web.json_response({"therapists": [
        {"id": str(r["id"]), "slug": r["slug"], "name": r["name"], "bio": r["bio"],
         "credentials": list(r["credentials"]), "treatments": sorted(str(t) for t in r["treatment_ids"])}
        for r in rows]})


@routes.get("/api/v1/clinics/{clinic}/screening")
async def get_screening(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        await _clinic(conn, request)
    form = screening.questionnaire()
    return web.json_response({"version": form.version, "intro": form.intro,
                              "questions": [{"id": q.id, "text": q.text, "answer": "boolean"}
                                            for q in form.questions]})


@routes.post("/api/v1/clinics/{clinic}/screening/check")
async def check_screening(request: web.Request) -> web.Response:
    """The verdict on screening answers, so a page can stop at the screening step; nothing is stored
    (health data), and the booking judges the answers again."""
    body = await read_json(request, ScreeningIn)
    async with request.app[DB].acquire() as conn:
        await _clinic(conn, request)
    result = service.assess_screening(body.answers)
    return web.json_response({"outcome": result.outcome, "stops_booking": result.stops_booking,
                              "advice": list(result.advice)})


@routes.get("/api/v1/clinics/{clinic}/availability")
async def get_availability(request: web.Request) -> web.Response:
    treatment_id = query_uuid(request, "treatment", required=True)
    therapist_id = query_uuid(request, "therapist", required=False)
    first, last = query_day(request, "from"), query_day(request, "to")
    found = await service.availability(_unit_of_work(request), request.match_info["clinic"], treatment_id,
                                       therapist_id, first, last, _now())
    return web.json_response({
        "clinic": found.clinic.slug, "timezone": found.clinic.timezone, "treatment": str(found.treatment.id),
        "from": found.first.isoformat(), "to": found.last.isoformat(),
        "slots": _slots_json(found.slots, found.therapists, found.clinic),
    })


def _slots_json(slots, therapists, clinic: Clinic) -> list[dict]:
    zone = clinic.rules.zone
    # One therapist object per therapist, shared by their slots (the JSON is the same).
    refs = {t.id: {"id": str(t.id), "name": t.name} for t in therapists}
    return [{"start": s.start.astimezone(zone).isoformat(), "end": s.end.astimezone(zone).isoformat(),
             "therapist": refs[s.therapist_id]} for s in slots]


# --- holds and bookings --------------------------------------------------------------------------

def _hold_json(holds: list[Hold] | list[Reservation], clinic: Clinic, expires_at: datetime) -> dict:
    sessions = [{"id": str(h.id), "start": _local(h.start, clinic), "end": _local(h.end, clinic),
                 "price": _money(h.price_amount, h.currency)} for h in holds]
    first = holds[0]
    body = {"id": str(first.series_id or first.id), "expires_at": expires_at.isoformat(),
            "therapist": str(first.therapist_id), "treatment": str(first.treatment_id)}
    if first.series_id is not None:
        body.update(kind="series", course=str(first.course_id), sessions=sessions)
    else:
        body.update(kind="single", start=sessions[0]["start"], end=sessions[0]["end"], price=sessions[0]["price"])
    return body


@routes.post("/api/v1/holds")
@retry_conflicts
async def create_hold(request: web.Request) -> web.Response:
    body = await read_json(request, HoldIn)
    key = idempotency_key(request)
    uow, now = _unit_of_work(request), _now()
    if body.treatment is not None:
        held = await service.hold_slot(uow, body.clinic, body.treatment, body.therapist, body.start, now, key)
    else:
        held = await service.hold_course(uow, body.clinic, body.course, body.therapist, body.start, body.starts,
                                         now, key)
    if held.replayed:
        return web.json_response(_replayed_hold(held.clinic, held.holds), status=200)
    return web.json_response(_hold_json(held.holds, held.clinic, held.holds[0].expires_at), status=201)


@routes.delete("/api/v1/holds/{id}")
async def release_hold(request: web.Request) -> web.Response:
    """Let a hold go (the customer chose another time): the time is free again at once. Idempotent."""
    try:
        hold_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, "hold_not_found", "No such hold") from None
    await service.release_hold(_unit_of_work(request), hold_id)
    return web.Response(status=204)


def _replayed_hold(clinic: Clinic, holds: list[Reservation]) -> dict:
    """The answer to a retried hold request: the holds it made the first time (booked since: when it was made)."""
    return _hold_json(holds, clinic, holds[0].expires_at or holds[0].created_at)


def _customer_json(customer: Customer | None) -> dict:
    return {"name": customer.name if customer else None, "email": customer.email if customer else None}


def _booking_json(booking: Reservation, clinic: Clinic, links: service.Links, *, with_manage_url: bool) -> dict:
    body = {
        "id": str(booking.id), "status": booking.status, "clinic": clinic.slug,
        "treatment": str(booking.treatment_id), "therapist": str(booking.therapist_id),
        "start": _local(booking.start, clinic), "end": _local(booking.end, clinic),
        "amount_due": _money(booking.price_amount, booking.currency),
        "customer": _customer_json(booking.customer),
        "change_deadline": _local(booking.start - timedelta(hours=clinic.change_window_hours), clinic),
        "policy": clinic.policy_message,
    }
    if booking.series_id is not None:
        body["series"] = {"id": str(booking.series_id), "index": booking.series_index}
    if with_manage_url:
        body["manage_url"] = links.manage_url(booking.id, booking.end)
    return body


@routes.post("/api/v1/bookings")
@retry_conflicts
async def create_booking(request: web.Request) -> web.Response:
    body = await read_json(request, BookingIn)
    key = idempotency_key(request)
    links = _links(request)
    customer = Customer(body.customer.name, body.customer.email, body.customer.phone)
    answers = body.screening.answers if body.screening else None
    submitted = await service.submit(_unit_of_work(request), body.hold, customer, answers, key, _now(), links,
                                     request.app[PAYMENTS], health=_health(request),
                                     voucher_code=body.voucher_code, pay_rest_by_card=body.pay_rest_by_card)
    sessions, payment, first = submitted.reservations, submitted.payment, submitted.reservations[0]
    bookings = [_booking_json(r, submitted.clinic, links, with_manage_url=True) for r in sessions]
    answer = dict(bookings[0])
    answer["price"] = _money(sum(r.price_amount for r in sessions), first.currency)
    answer["amount_due"] = _money(payment["amount"], first.currency)   # what is left for the card
    answer["payment"] = payment
    answer["pay_by"] = first.expires_at.isoformat() if first.expires_at else None
    if len(bookings) > 1:
        answer["sessions"] = bookings
    return web.json_response(answer, status=201)


async def _manage_body(request: web.Request, model):
    if request.can_read_body:
        return await read_json(request, model)
    return model()


def _token(request: web.Request, body: ManageIn) -> str | None:
    return body.token or request.query.get("token")


@routes.get("/api/v1/bookings/{id}")
async def get_booking(request: web.Request) -> web.Response:
    booking_id = _path_uuid(request)
    links = _links(request)
    service.check_manage_token(links, booking_id, request.query.get("token"), _now())
    async with request.app[DB].acquire() as conn:
        booking = await store.get_booking(conn, booking_id)
        if booking is None:
            raise ApiError(404, "booking_not_found", "No such booking")
        clinic = await store.get_clinic_by_id(conn, booking.clinic_id)
    return web.json_response(_booking_json(booking, clinic, links, with_manage_url=False))


def _path_uuid(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, "booking_not_found", "No such booking") from None


@routes.post("/api/v1/bookings/{id}/cancel")
@retry_conflicts
async def cancel_booking(request: web.Request) -> web.Response:
    booking_id = _path_uuid(request)
    body = await _manage_body(request, ManageIn)
    links, now = _links(request), _now()
    service.check_manage_token(links, booking_id, _token(request, body), now)
    changed = await service.cancel(_unit_of_work(request), booking_id, now)
    return web.json_response(_booking_json(changed.reservation, changed.clinic, links, with_manage_url=False))


@routes.post("/api/v1/bookings/{id}/reschedule")
@retry_conflicts
async def reschedule_booking(request: web.Request) -> web.Response:
    booking_id = _path_uuid(request)
    body = await read_json(request, RescheduleIn)
    links, now = _links(request), _now()
    service.check_manage_token(links, booking_id, _token(request, body), now)
    changed = await service.reschedule(_unit_of_work(request), booking_id, body.start, body.therapist, now, links)
    return web.json_response(_booking_json(changed.reservation, changed.clinic, links, with_manage_url=True))



@routes.post("/internal/v1/api-keys/verify")
async def verify_api_key(request: web.Request) -> web.Response:
    """Internal (the gateway): which clinic does this API key belong to?"""
    require_internal(request)
    try:
        key = (await read_json(request, ApiKeyCheckIn)).key
    except pydantic.ValidationError:
        key = ""        # nothing we could have issued (too long, control characters…): not a key
    if api_keys.prefix_of(key) is None:
        raise ApiError(401, "invalid_api_key", "This API key is not valid")
    async with request.app[DB].acquire() as conn:
        row = await store.clinic_for_key(conn, api_keys.digest(key))
    if row is None:
        raise ApiError(401, "invalid_api_key", "This API key is not valid or has been revoked")
    return web.json_response({"clinic_id": str(row["clinic_id"]), "clinic": row["slug"], "key_id": str(row["key_id"]),
                              "expires_at": _iso(row["expires_at"])})



@routes.post("/internal/v1/staff/sign-in")
async def staff_sign_in(request: web.Request) -> web.Response:
    """Internal (the gateway's dashboard sign-in): whose are this email and password? 401 if nobody's."""
    require_internal(request)
    body = await read_json(request, SignInIn)
    async with request.app[DB].acquire() as conn:
        row = await store.staff_by_email(conn, body.email)
        # The same scrypt work whether or not the account exists (no timing hint), off the event loop.
        ok = await asyncio.to_thread(staff.verify_password, body.password,
                                     row["password_hash"] if row else staff.dummy_hash())
        if row is None or not ok:
            raise ApiError(401, "sign_in_failed", "That email and password do not match an account")
        await store.stamp_sign_in(conn, row["id"])
    return web.json_response({"staff_id": str(row["id"]), "name": row["name"], "clinic_id": str(row["clinic_id"]),
                              "clinic": row["slug"], "clinic_name": row["clinic_name"]})


# --- the clinic API (scoped to the clinic whose key the gateway checked) ------------------------

def _health(request: web.Request) -> Sealer:
    return service.health_sealer(request.app[SETTINGS].health_data_key)


def _clinic_booking_json(seen: store.ClinicBooking, clinic: Clinic, health: Sealer, *, with_answers: bool) -> dict:
    booking = seen.reservation
    body = {
        "id": str(booking.id), "status": booking.status,
        "start": _local(booking.start, clinic), "end": _local(booking.end, clinic),
        "treatment": {"id": str(booking.treatment_id), "name": seen.treatment_name},
        "therapist": {"id": str(booking.therapist_id), "name": seen.therapist_name},
        "customer": {**_customer_json(booking.customer), "phone": booking.customer.phone if booking.customer else None},
        "price": _money(booking.price_amount, booking.currency),
        "series": {"id": str(booking.series_id), "index": booking.series_index} if booking.series_id else None,
        "screening": None,
    }
    if seen.screening_outcome is not None:
        kept = health.open(seen.screening_sealed) if seen.screening_sealed else {"answers": None, "flags": []}
        body["screening"] = {"outcome": seen.screening_outcome, "flags": kept["flags"]}
        if with_answers:   # health data: only on the single-booking view, only to this clinic
            body["screening"]["answers"] = kept["answers"]
    return body


@routes.get("/api/v1/clinic/bookings")
async def clinic_bookings(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    async with request.app[DB].acquire() as conn:
        clinic = await store.get_clinic_by_id(conn, clinic_id)
        today = _now().astimezone(clinic.rules.zone).date()
        first = query_day(request, "from", today)
        last = query_day(request, "to", first + timedelta(days=domain.DEFAULT_AVAILABILITY_DAYS - 1))
        if last < first or (last - first).days >= domain.MAX_AVAILABILITY_DAYS:
            raise ApiError(422, "range_too_large" if last >= first else "invalid_range",
                           f"Ask for 1 to {domain.MAX_AVAILABILITY_DAYS} days at a time")
        seen = await store.clinic_bookings(conn, clinic_id, service.local_days(clinic, first, last))
    return web.json_response({"from": first.isoformat(), "to": last.isoformat(),
                              "bookings": [_clinic_booking_json(s, clinic, _health(request), with_answers=False)
                                           for s in seen]})


@routes.get("/api/v1/clinic/bookings/{id}")
async def clinic_booking(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    booking_id = _path_uuid(request)
    async with request.app[DB].acquire() as conn:
        seen = await store.clinic_booking(conn, clinic_id, booking_id)
        if seen is None:
            raise ApiError(404, "booking_not_found", "No such booking")
        clinic = await store.get_clinic_by_id(conn, clinic_id)
    return web.json_response(_clinic_booking_json(seen, clinic, _health(request), with_answers=True))


async def _record_outcome(request: web.Request, outcome: str) -> web.Response:
    clinic_id = clinic_scope(request)
    booking_id = _path_uuid(request)
    await service.record_outcome(_unit_of_work(request), clinic_id, booking_id, outcome, _now())
    async with request.app[DB].acquire() as conn:
        seen = await store.clinic_booking(conn, clinic_id, booking_id)
        clinic = await store.get_clinic_by_id(conn, clinic_id)
    return web.json_response(_clinic_booking_json(seen, clinic, _health(request), with_answers=False))


@routes.post("/api/v1/clinic/bookings/{id}/complete")
async def complete_booking(request: web.Request) -> web.Response:
    return await _record_outcome(request, domain.OUTCOMES["complete"])


@routes.post("/api/v1/clinic/bookings/{id}/no-show")
async def no_show_booking(request: web.Request) -> web.Response:
    return await _record_outcome(request, domain.OUTCOMES["no-show"])


# --- the clinic's API keys -------------------------------------------------------------------------

def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


def _api_key_json(row) -> dict:
    """Never the key itself (only its hash is kept): the prefix tells keys apart."""
    return {"id": str(row["id"]), "name": row["name"], "prefix": row["prefix"],
            "created_at": row["created_at"].isoformat(), "last_used_at": _iso(row["last_used_at"]),
            "expires_at": _iso(row["expires_at"]), "revoked_at": _iso(row["revoked_at"]),
            "replaced_by": str(row["replaced_by"]) if row["replaced_by"] else None}


def _new_key_json(new: key_management.NewKey) -> dict:
    return {**_api_key_json(new.record), "key": new.key}


def _key_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, "api_key_not_found", "No such API key") from None


@routes.get("/api/v1/clinic/api-keys")
async def list_api_keys(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    async with request.app[DB].acquire() as conn:
        rows = await store.list_api_keys(conn, clinic_id)
    return web.json_response({"api_keys": [_api_key_json(r) for r in rows]})


@routes.post("/api/v1/clinic/api-keys")
async def create_api_key(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    body = await read_json(request, ApiKeyIn)
    async with request.app[DB].acquire() as conn, conn.transaction():
        new = await key_management.create(conn, clinic_id, body.name)
    return web.json_response(_new_key_json(new), status=201)


@routes.post("/api/v1/clinic/api-keys/{id}/rotate")
async def rotate_api_key(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    key_id = _key_id(request)
    body = await _manage_body(request, RotateKeyIn)
    async with request.app[DB].acquire() as conn, conn.transaction():
        new, old = await key_management.rotate(conn, clinic_id, key_id, body.grace_hours, _now())
    return web.json_response({**_new_key_json(new), "replaces": _api_key_json(old)}, status=201)


@routes.delete("/api/v1/clinic/api-keys/{id}")
async def revoke_api_key(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    key_id = _key_id(request)
    async with request.app[DB].acquire() as conn, conn.transaction():
        row = await key_management.revoke(conn, clinic_id, key_id)
    return web.json_response(_api_key_json(row))
