"""The clinic's actions on behalf of its customers (owner and staff alike): cancel with a full refund and move a
booking whatever the change window says, and book by phone, paid online from the link in the customer's email
or at the clinic on the day. Each raises the events of the customer's own action (so the customer gets the same
emails and the clinic the same webhooks), saying that the clinic acted, and is recorded on the booking with who
took it. The steps the customer's own actions take are the booking use cases' (service.py), reused as they are."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.booking import screening, service
from services.booking.availability import Interval
from services.booking.clinic_actions_store import Actor
from services.booking.domain import BookingError, Clinic, Customer, phone_pay_by
from services.booking.reservation import Particulars, Reservation, awaiting_payment_event
from services.booking.unit_of_work import SlotTaken, UnitOfWork
from shared.sealing import Sealer

# What a clinic's Idempotency-Key is kept as beside the customers' own keys of the same clinic: a tab, which no
# client's key can hold (shared.input refuses it), so neither side can ever replay the other's request.
CLINIC_KEY_PREFIX = "clinic\t"


class OnBehalf(Protocol):
    """The writes of the clinic's actions, in the unit of work's transaction."""

    async def save_booked(self, reservations: list[Reservation]) -> None: ...
    async def save_cancelled(self, reservation: Reservation, reason: str) -> None: ...

    async def save_move(self, reservation: Reservation, blocked: Interval) -> None:
        """SlotTaken if the new time overlaps a live reservation (the exclusion constraint)."""

    async def record(self, reservation: Reservation, action: str, actor: Actor, detail: dict[str, Any]) -> None: ...


class ClinicUnitOfWork(UnitOfWork, Protocol):
    on_behalf: OnBehalf


# --- cancel and move ------------------------------------------------------------------------------


async def cancel(uow: ClinicUnitOfWork, clinic_id: uuid.UUID, booking_id: uuid.UUID, reason: str, actor: Actor) -> None:
    """Cancel a confirmed booking of this clinic at any time, with a full refund: payments gives the voucher part
    back to the voucher and refunds the rest to the card (its booking.cancelled handler), as for a customer's
    cancellation inside the window; the event says `cancelled_by: clinic`, `refund: full`. The reason stays on
    the booking (the clinic's record, not sent: free text may hold what a webhook must not)."""
    async with uow:
        reservation = await service._locked_booking(uow, booking_id, clinic_id)
        reservation.cancel_on_behalf(await service._particulars(uow, reservation))
        await uow.on_behalf.save_cancelled(reservation, reason)
        await uow.on_behalf.record(reservation, "cancel", actor, {"reason": reason})
        await uow.commit()


async def reschedule(
    uow: ClinicUnitOfWork,
    clinic_id: uuid.UUID,
    booking_id: uuid.UUID,
    start: datetime,
    therapist_id: uuid.UUID | None,
    actor: Actor,
    now: datetime,
    links: service.Links,
) -> None:
    """Move a confirmed booking of this clinic whatever the change window (and not counted as the customer's own
    move), by the slot rules of the customer's reschedule: the therapist's hours, the grid, the notice, and the
    exclusion constraint (409 `slot_taken`)."""
    async with uow:
        reservation = await service._locked_booking(uow, booking_id, clinic_id)
        reservation.check_movable_on_behalf()
        booked = await service._particulars(uow, reservation)
        clinic, treatment = booked.clinic, booked.treatment
        therapist, blocked = await service.moving_to(uow, booked, therapist_id or reservation.therapist_id, start, now)
        was = {"start": reservation.start.isoformat(), "therapist": str(reservation.therapist_id)}
        reservation.move_on_behalf(Particulars(clinic, treatment, therapist), booked.therapist, start, links.manage_url)
        try:
            await uow.on_behalf.save_move(reservation, blocked)
        except SlotTaken:
            raise service._slot_taken(start) from None
        moved = {"start": start.isoformat(), "therapist": str(therapist.id)}
        await uow.on_behalf.record(reservation, "reschedule", actor, {"from": was, "to": moved})
        await uow.commit()


# --- book by phone --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneBooking:
    """A booking the clinic makes for a customer. `answers`: the screening, asked on the phone (None: the
    customer answered it within the last year, or the treatment needs none; else 422 with the questions)."""

    treatment_id: uuid.UUID
    therapist_id: uuid.UUID
    start: datetime
    customer: Customer
    payment_mode: str  # domain.PAYMENT_MODES
    answers: dict[str, bool] | None = None


@dataclass(frozen=True)
class Booked:
    clinic: Clinic
    reservation: Reservation


def refuse_red_flags(answers: dict[str, bool]) -> None:
    """The customer's own booking's screening verdict (service._screen), judged before anything is held."""
    result = service.assess_screening(answers)
    if result.stops_booking:
        raise BookingError(
            422,
            "screening_red_flag",
            " ".join(result.advice),
            {"outcome": result.outcome, "advice": list(result.advice)},
        )


async def book(
    uow: ClinicUnitOfWork,
    clinic_id: uuid.UUID,
    order: PhoneBooking,
    actor: Actor,
    now: datetime,
    links: service.Links,
    payments,
    *,
    health: Sealer,
    key: str | None = None,
) -> Booked:
    """Hold and book in one go, by the customer's slot rules and screening. At the clinic: confirmed at once
    (booking.confirmed: the confirmation email saying to pay there, the booking.created webhook), with no
    charge and no payment. Online: awaiting its card payment, for up to PHONE_PAYMENT_WINDOW, announced by
    booking.payment_requested (the email whose link, the manage link, offers the payment); the payment confirms
    it as it confirms a customer's own booking. A red flag refuses before anything is held. Refused once held
    (no screening on file, payments down), the hold is let go, unless the request carries an Idempotency-Key:
    then its retry takes up the same hold (which otherwise runs out in the clinic's hold minutes)."""
    async with uow:
        clinic = await uow.catalogue.clinic_by_id(clinic_id)
    if order.answers is not None:
        refuse_red_flags(order.answers)
    hold_key = CLINIC_KEY_PREFIX + key if key else None
    held = await service.hold_slot(uow, clinic.slug, order.treatment_id, order.therapist_id, order.start, now, hold_key)
    hold_id = held.holds[0].id
    try:
        reservation, held_until = await _start(uow, hold_id, order, hold_key, actor, now, links, health)
        if reservation.status == "pending_payment" and not reservation.paid_for:
            reservation = await _pay_online(uow, reservation, held_until, hold_key, actor, links, payments)
    except Exception:  # refused, or a conflict the route retries: a retry without a key holds afresh
        if hold_key is None:
            await service.release_hold(uow, hold_id)
        raise
    return Booked(clinic, reservation)


async def _start(
    uow: ClinicUnitOfWork,
    hold_id: uuid.UUID,
    order: PhoneBooking,
    hold_key: str | None,
    actor: Actor,
    now: datetime,
    links: service.Links,
    health: Sealer,
) -> tuple[Reservation, datetime | None]:
    """The hold becomes the customer's booking (confirmed at once if paid at the clinic). Returns it, and the
    hold's expiry if this request made it (None if a retry with the same key finds it made)."""
    async with uow:
        [reservation] = await uow.reservations.lock(hold_id)
        if hold_key and reservation.was_submitted_with(hold_key):
            return reservation, None
        reservation.check_usable(now)
        described = await service._particulars(uow, reservation)
        clinic, treatment = described.clinic, described.treatment
        assessment = await service._screen(uow, clinic, treatment, order.customer, order.answers)
        if assessment is not None and order.answers is not None:
            sealed = service.seal_screening(health, order.answers, assessment.flags)
            await uow.screenings.add(
                reservation.id, clinic.id, screening.questionnaire().version, sealed, assessment.outcome
            )
        held_until = reservation.expires_at
        reservation.await_payment(order.customer, hold_key, phone_pay_by(reservation.start, now), now)
        reservation.book_on_behalf(order.payment_mode)
        await uow.reservations.save_awaiting_payment([reservation])
        await uow.on_behalf.save_booked([reservation])
        if order.payment_mode == "at_clinic":
            reservation.confirm(described, links.manage_url)
            await uow.reservations.save_confirmed([reservation])  # its own time: never taken
            await uow.on_behalf.record(reservation, "book", actor, {"payment": "at_clinic"})
        await uow.commit()
    return reservation, held_until


async def _pay_online(
    uow: ClinicUnitOfWork,
    reservation: Reservation,
    held_until: datetime | None,
    hold_key: str | None,
    actor: Actor,
    links: service.Links,
    payments,
) -> Reservation:
    """Payments asked for the card payment (no row locked meanwhile: it may wait on Stripe), then its answer
    recorded and the customer asked to pay. If payments refuses, the booking is undone (the hold as it was).
    Under the treatment's payment policy, as the customer's own booking (service.submit): the card pays at most
    the deposit now (nothing in "card" mode: a SetupIntent saves it), the card is saved when the policy needs it,
    and what is due at the clinic, the policy in words and the fees are kept on the booking."""
    async with uow:  # read, and let go before payments is asked
        policy = await uow.catalogue.payment_policy(reservation.clinic_id, reservation.treatment_id)
    card_at_most, save_card = service.payment_terms(policy, [reservation])
    try:
        payment = await service._payment_of(payments, [reservation], card_at_most, save_card)
    except BookingError:
        if held_until is not None:
            await service._undo_booking(uow, reservation.id, hold_key, held_until)
        raise
    async with uow:
        [reservation] = await uow.reservations.lock(reservation.id)
        if not reservation.was_submitted_with(hold_key):
            # It ran out while payments answered, announced without a payment, which payments cancels.
            raise BookingError(409, "hold_expired", "The time was let go before the payment was set up; book again")
        if reservation.paid_for:  # a retry with the same key recorded it first
            return reservation
        described = await service._particulars(uow, reservation)
        service.note_payment([reservation], described.clinic, policy, payment)
        await uow.reservations.save_payment([reservation])
        if payment["covered"]:  # nothing to pay by card (a treatment without a price)
            await service._confirm(uow, [reservation], links, described.clinic, described.treatment)
        else:
            uow.add_event(
                awaiting_payment_event(reservation.id, reservation.clinic_id, payment, reservation.expires_at)
            )
            reservation.request_payment(described, links.manage_url)
        await uow.on_behalf.record(reservation, "book", actor, {"payment": "online"})
        await uow.commit()
    return reservation


# --- the customer pays online, from the manage link -----------------------------------------------


def _left_after_voucher(reservations: list[Reservation]) -> int:
    """The booking's price (a course's: of all its sessions) less what a voucher paid when it was booked."""
    voucher_paid = (reservations[0].voucher or {}).get("value", {}).get("amount", 0)
    return sum(r.price_amount for r in reservations) - voucher_paid


def card_due(reservations: list[Reservation]) -> int:
    """What the card pays now for a booking paid online, in minor units: what the voucher left, less what its
    payment policy left due at the clinic as recorded when it was booked (the rest of a deposit; all of it in
    "card" mode, whose SetupIntent only saves the card); all of it under a plain full policy."""
    first = reservations[0]
    left = _left_after_voucher(reservations)
    return left - first.due_at_clinic if first.payment_policy_words is not None else left


def phone_amounts(reservation: Reservation) -> tuple[int, int]:
    """A phone booking's answer's (amount_due, due_at_clinic), in minor units. Paid online: what the card pays now
    (card_due, as GET /api/v1/bookings/{id}/payment answers) and what is left to pay at the clinic. Paid at the
    clinic: the whole price, and all of it at the clinic."""
    if reservation.payment_mode == "at_clinic":
        return reservation.price_amount, reservation.price_amount
    return card_due([reservation]), reservation.due_at_clinic


@dataclass(frozen=True)
class PaymentDue:
    reservation: Reservation  # the booking (the first session of a course)
    amount: int  # what is left for the card now, in minor units (a deposit; 0 when the card is only saved)
    payment: dict  # payments' answer: the card payment (or SetupIntent), with the client secret Stripe.js confirms


async def payment_due(uow: UnitOfWork, booking_id: uuid.UUID, payments) -> PaymentDue:
    """What is left to pay by card for a booking awaiting its payment (a phone booking paid online, or a
    customer's own booking left unpaid), for the manage link's page to take it: the card payment payments made
    when it was booked (found again, never a second one). 409 `nothing_to_pay` for any other booking."""
    async with uow:  # read, and let go before payments is asked (it may wait on Stripe)
        found = await uow.reservations.lock_booking(booking_id)
        if found is None:
            raise BookingError(404, "booking_not_found", "No such booking")
        reservations = await uow.reservations.lock(found.booking_id)
    first = reservations[0]
    if first.status != "pending_payment" or first.payment_id is None:
        raise BookingError(
            409,
            "nothing_to_pay",
            f"This booking is {first.status.replace('_', ' ')}: there is nothing to pay online",
            {"status": first.status},
        )
    amount = card_due(reservations)
    # Asked as it was when booked (payments answers the same).
    payment = await payments.booking_payment(
        booking_id=first.booking_id,
        clinic_id=first.clinic_id,
        amount=_left_after_voucher(reservations),
        currency=first.currency,
        customer_email=first.customer.email,
        treatment_id=first.treatment_id,
        sessions=len(reservations),
        card_at_most=amount if first.payment_policy_words is not None else None,
        save_card=first.save_card,
    )
    return PaymentDue(first, amount, payment)
