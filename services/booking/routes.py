"""HTTP handlers of the booking service: parse, call the rules and the store, map errors."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import asyncpg
from aiohttp import web

from services.booking import domain, store
from services.booking.schemas import BookingIn
from shared.errors import ApiError, read_json
from shared.events import Event
from shared.keys import DB
from shared.outbox import add_event

routes = web.RouteTableDef()

MAX_IDEMPOTENCY_KEY = 255


def _money(amount: int, currency: str) -> dict:
    return {"amount": amount, "currency": currency.strip()}


async def _clinic_or_404(conn: asyncpg.Connection, slug: str) -> domain.Clinic:
    clinic = await store.get_clinic(conn, slug)
    if clinic is None:
        raise ApiError(404, "clinic_not_found", f"No clinic called {slug!r}")
    return clinic


def _clinic_json(c: domain.Clinic) -> dict:
    return {"id": str(c.id), "slug": c.slug, "name": c.name, "timezone": c.timezone}


@routes.get("/api/v1/clinics")
async def list_clinics(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        clinics = await store.list_clinics(conn)
    return web.json_response({"clinics": [_clinic_json(c) for c in clinics]})


@routes.get("/api/v1/clinics/{clinic}")
async def get_clinic(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        clinic = await _clinic_or_404(conn, request.match_info["clinic"])
    return web.json_response(_clinic_json(clinic))


@routes.get("/api/v1/clinics/{clinic}/treatments")
async def list_treatments(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        clinic = await _clinic_or_404(conn, request.match_info["clinic"])
        rows = await store.list_treatments(conn, clinic.id)
    return web.json_response({"treatments": [
        {"id": str(r["id"]), "slug": r["slug"], "name": r["name"], "description": r["description"],
         "duration_minutes": r["duration_minutes"], "price": _money(r["price_amount"], r["currency"])}
        for r in rows]})


@routes.get("/api/v1/clinics/{clinic}/therapists")
async def list_therapists(request: web.Request) -> web.Response:
    async with request.app[DB].acquire() as conn:
        clinic = await _clinic_or_404(conn, request.match_info["clinic"])
        rows = await store.list_therapists(conn, clinic.id)
    return web.json_response({"therapists": [
        {"id": str(r["id"]), "slug": r["slug"], "name": r["name"], "bio": r["bio"]} for r in rows]})


def _booking_json(row: asyncpg.Record) -> dict:
    return {
        "id": str(row["id"]), "status": row["status"], "clinic": row["clinic"],
        "treatment": {"id": str(row["treatment_id"]), "name": row["treatment_name"]},
        "therapist": {"id": str(row["therapist_id"]), "name": row["therapist_name"]},
        "start": row["starts_at"].isoformat(), "end": row["ends_at"].isoformat(),
        "amount_due": _money(row["price_amount"], row["currency"]),
    }


@routes.post("/api/v1/bookings")
async def create_booking(request: web.Request) -> web.Response:
    body = await read_json(request, BookingIn)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters")
    async with request.app[DB].acquire() as conn:
        async with conn.transaction():
            clinic = await _clinic_or_404(conn, body.clinic)
            if key and (existing := await store.booking_id_for_key(conn, clinic.id, key)):
                return await _respond_with_booking(conn, existing, status=200)
            treatment = await store.get_treatment(conn, clinic.id, body.treatment)
            therapist = await store.get_therapist(conn, clinic.id, body.therapist)
            if treatment is None:
                raise ApiError(422, "treatment_not_found", "This clinic has no such treatment")
            if therapist is None:
                raise ApiError(422, "therapist_not_found", "This clinic has no such therapist")
            customer = domain.Customer(body.customer.name, body.customer.email, body.customer.phone)
            try:
                booking = domain.new_booking(clinic, treatment, therapist, body.start, customer,
                                             now=datetime.now(timezone.utc))
            except domain.BookingError as exc:
                raise ApiError(422, exc.code, exc.message) from None
            try:
                await store.insert_booking(conn, booking, key)
            except asyncpg.ExclusionViolationError:
                raise ApiError(409, "slot_taken", "That time is no longer free with this therapist") from None
            except asyncpg.UniqueViolationError:
                raise ApiError(409, "idempotency_conflict", "A request with this Idempotency-Key is in progress") from None
            await add_event(conn, Event("booking.confirmed", domain.confirmed_event_data(booking),
                                        clinic_id=str(clinic.id)))
        return await _respond_with_booking(conn, booking.id, status=201)


async def _respond_with_booking(conn: asyncpg.Connection, booking_id: uuid.UUID, status: int) -> web.Response:
    row = await store.get_booking_view(conn, booking_id)
    return web.json_response(_booking_json(row), status=status)
