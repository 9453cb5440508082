"""The clinic API's actions on behalf of customers (owner and staff; scoped to the caller's clinic): cancel,
move, and book by phone. Each answers with the booking as the clinic sees it, and what the actions left on it."""

from __future__ import annotations

import uuid

from aiohttp import web

from services.booking import clinic_actions, clinic_actions_store, reads
from services.booking.clinic_actions_schemas import ClinicCancelIn, ClinicRescheduleIn, PhoneBookingIn
from services.booking.clinic_actions_store import Actor, PostgresClinicUnitOfWork
from services.booking.http import context, serialise
from services.booking.http.clinic import _clinic_booking_json
from services.booking.payments_client import PAYMENTS
from services.booking.reservation import Reservation
from shared.clinic_auth import clinic_scope
from shared.db import retry_conflicts
from shared.http_input import idempotency_key, read_json

routes = web.RouteTableDef()


async def _acting(request: web.Request) -> tuple[uuid.UUID, Actor]:
    """The clinic (staff and owner alike), and who acts for it."""
    clinic_id = clinic_scope(request)
    return clinic_id, await context.actor(request, clinic_id)


def _unit_of_work(request: web.Request) -> PostgresClinicUnitOfWork:
    return PostgresClinicUnitOfWork(context.pool(request))


def _action_json(row) -> dict:
    return {
        "action": row["action"],
        "role": row["role"],
        "staff_id": str(row["staff_id"]) if row["staff_id"] else None,
        "detail": row["detail"],
        "at": row["at"].isoformat(),
    }


async def _booking_json(request: web.Request, clinic_id: uuid.UUID, booking_id: uuid.UUID) -> dict:
    """The clinic's view of the booking (no health answers), with who booked it, how it is paid, who cancelled
    it and why, and the clinic's actions on it."""
    found = await reads.clinic_booking(context.pool(request), clinic_id, booking_id)
    body = _clinic_booking_json(found.seen, found.clinic, context.health(request), with_answers=False)
    async with context.pool(request).acquire() as conn:
        record = await clinic_actions_store.record_of(conn, clinic_id, booking_id)
    assert record is not None  # the clinic's booking, just read
    body["booked_by"] = record.booked_by
    body["payment"] = {"mode": record.payment_mode}
    body["cancellation"] = (
        {"by": record.cancelled_by, "reason": record.cancel_reason} if record.cancelled_by is not None else None
    )
    body["actions"] = [_action_json(row) for row in record.actions]
    return body


@routes.post("/api/v1/clinic/bookings/{id}/cancel")
@retry_conflicts
async def cancel_on_behalf(request: web.Request) -> web.Response:
    clinic_id, actor = await _acting(request)
    booking_id = context.booking_id(request)
    body = await read_json(request, ClinicCancelIn)
    await clinic_actions.cancel(_unit_of_work(request), clinic_id, booking_id, body.reason, actor)
    return web.json_response(await _booking_json(request, clinic_id, booking_id))


@routes.post("/api/v1/clinic/bookings/{id}/reschedule")
@retry_conflicts
async def reschedule_on_behalf(request: web.Request) -> web.Response:
    clinic_id, actor = await _acting(request)
    booking_id = context.booking_id(request)
    body = await read_json(request, ClinicRescheduleIn)
    await clinic_actions.reschedule(
        _unit_of_work(request),
        clinic_id,
        booking_id,
        body.start,
        body.therapist,
        actor,
        context.now(),
        context.manage_links(request),
    )
    return web.json_response(await _booking_json(request, clinic_id, booking_id))


def _payment_json(reservation: Reservation, links) -> dict:
    """How the phone booking is paid: what is due now and at the clinic (clinic_actions.phone_amounts); while it
    awaits its online payment, by when and the link the customer was emailed to pay (their manage link: its page
    offers the payment, GET /api/v1/bookings/{id}/payment)."""
    awaiting = reservation.status == "pending_payment"
    amount_due, due_at_clinic = clinic_actions.phone_amounts(reservation)
    return {
        "mode": reservation.payment_mode,
        "amount_due": serialise.money(amount_due, reservation.currency),
        "due_at_clinic": serialise.money(due_at_clinic, reservation.currency),
        "pay_by": serialise.iso(reservation.expires_at) if awaiting else None,
        "pay_url": links.manage_url(reservation.id, reservation.end) if awaiting else None,
    }


@routes.post("/api/v1/clinic/bookings")
@retry_conflicts
async def book_on_behalf(request: web.Request) -> web.Response:
    clinic_id, actor = await _acting(request)
    body = await read_json(request, PhoneBookingIn)
    key = idempotency_key(request)
    links = context.manage_links(request)
    order = clinic_actions.PhoneBooking(
        treatment_id=body.treatment,
        therapist_id=body.therapist,
        start=body.start,
        customer=body.customer.customer(context.now().date()),
        payment_mode=body.payment,
        answers=body.screening.answers if body.screening else None,
    )
    booked = await clinic_actions.book(
        _unit_of_work(request),
        clinic_id,
        order,
        actor,
        context.now(),
        links,
        request.app[PAYMENTS],
        health=context.health(request),
        key=key,
    )
    reservation = booked.reservation
    answer = await _booking_json(request, clinic_id, reservation.id)
    answer["payment"] = _payment_json(reservation, links)
    answer["manage_url"] = links.manage_url(reservation.id, reservation.end)
    return web.json_response(answer, status=201)
