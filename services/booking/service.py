"""Use cases of the booking service. Each is given a unit of work, in which it reads and changes what it
needs and commits (the events with the change), and raises BookingError for what the rules refuse."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

import asyncpg

from services.booking import key_management, payment_policy, screening, store
from services.booking.availability import Interval, Schedule, Slot, free_slots, refusal
from services.booking.domain import (
    DEFAULT_AVAILABILITY_DAYS,
    FINAL_STATUSES,
    MAX_AVAILABILITY_DAYS,
    BookingError,
    Clinic,
    Customer,
    Hold,
    Therapist,
    Treatment,
    course_session_prices,
    manage_link_expiry,
    new_hold,
    refused_start,
)
from services.booking.reservation import Lapsed, Particulars, Reservation, awaiting_payment_event, held_event
from services.booking.series import Spacing, plan_series
from services.booking.tokens import TokenInvalid, check_token, make_token
from services.booking.unit_of_work import HoldKeyInUse, ScheduleChanged, SlotTaken, UnitOfWork
from shared import contracts
from shared.sealing import Sealer

log = logging.getLogger(__name__)

# Availability is computed on a window padded by a day each side, so buffers and time off that
# straddle local midnight are seen.
WINDOW_PADDING = timedelta(days=1)


@dataclass(frozen=True)
class Links:
    public_url: str
    key: str

    def manage_url(self, booking_id: uuid.UUID, end: datetime) -> str:
        return f"{self.public_url}/manage/{booking_id}?token={self.token(booking_id, end)}"

    def token(self, booking_id: uuid.UUID, end: datetime) -> str:
        return make_token(self.key, booking_id, manage_link_expiry(end))


def found_clinic(clinic: Clinic | None, slug: str) -> Clinic:
    if clinic is None:
        raise BookingError(404, "clinic_not_found", f"No clinic called {slug!r}")
    return clinic


def found_treatment(treatment: Treatment | None) -> Treatment:
    if treatment is None:
        raise BookingError(404, "treatment_not_found", "This clinic has no such treatment")
    return treatment


def found_therapist(therapist: Therapist | None, treatment: Treatment) -> Therapist:
    """The therapist, if they exist and give the treatment."""
    if therapist is None:
        raise BookingError(404, "therapist_not_found", "This clinic has no such therapist")
    if treatment.id not in therapist.treatment_ids:
        raise BookingError(
            422,
            "therapist_does_not_give_treatment",
            f"{therapist.name} does not give {treatment.name}; please choose another therapist",
        )
    return therapist


async def clinic_or_404(uow: UnitOfWork, slug: str) -> Clinic:
    return found_clinic(await uow.catalogue.clinic(slug), slug)


async def treatment_or_404(uow: UnitOfWork, clinic: Clinic, treatment_id: uuid.UUID) -> Treatment:
    return found_treatment(await uow.catalogue.treatment(clinic.id, treatment_id))


async def therapist_for(uow: UnitOfWork, clinic: Clinic, therapist_id: uuid.UUID, treatment: Treatment) -> Therapist:
    return found_therapist(await uow.catalogue.offered_therapist(clinic.id, therapist_id), treatment)


def local_days(clinic: Clinic, first: date, last: date) -> Interval:
    """From the start of `first` to the end of `last`, in the clinic's zone."""
    zone = clinic.rules.zone
    return Interval(
        datetime.combine(first, datetime.min.time(), tzinfo=zone),
        datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone),
    )


def _local_window(clinic: Clinic, first: date, last: date) -> Interval:
    days = local_days(clinic, first, last)
    return Interval(days.start - WINDOW_PADDING, days.end + WINDOW_PADDING)


# --- availability --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    clinic: Clinic
    treatment: Treatment
    therapists: list[Therapist]
    first: date
    last: date
    slots: list[Slot]


async def availability(
    uow: UnitOfWork,
    slug: str,
    treatment_id: uuid.UUID,
    therapist_id: uuid.UUID | None,
    first: date | None,
    last: date | None,
    now: datetime,
) -> Availability:
    """Free slots of the treatment (with one therapist, or any giving it) over days in the clinic's zone
    (by default a week from the clinic's today), read in one round trip."""
    days = store.DaysAsked(first, last, DEFAULT_AVAILABILITY_DAYS, MAX_AVAILABILITY_DAYS, WINDOW_PADDING)
    async with uow:
        context = await uow.catalogue.availability_context(slug, treatment_id, therapist_id, days, now)
    clinic = found_clinic(context.named.clinic if context else None, slug)
    treatment = found_treatment(context.named.treatment)
    if therapist_id is not None:
        found_therapist(context.named.therapist, treatment)
    first, last = context.first, context.last
    if last < first:
        raise BookingError(422, "invalid_range", "The end date is before the start date")
    if (last - first).days + 1 > MAX_AVAILABILITY_DAYS:
        raise BookingError(422, "range_too_large", f"Ask for at most {MAX_AVAILABILITY_DAYS} days at a time")
    slots = (
        free_slots(context.schedules, treatment.timing, clinic.rules, first, last, now) if context.considered else []
    )
    return Availability(clinic, treatment, context.considered, first, last, slots)


# --- holds ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """What a hold request made, or (`replayed`) what the request with its Idempotency-Key made before."""

    clinic: Clinic
    holds: list[Hold] | list[Reservation]
    replayed: bool = False


async def _check_start(
    uow: UnitOfWork,
    clinic: Clinic,
    treatment: Treatment,
    therapist_id: uuid.UUID,
    start: datetime,
    now: datetime,
    schedule: Schedule | None = None,
) -> None:
    """Refuse a start the clinic's rules do not allow. `schedule`: the therapist's hours, breaks and
    the time off around `start`, if the caller has them already."""
    if schedule is None:
        day = start.astimezone(clinic.rules.zone).date()
        # Other reservations are the exclusion constraint's business, not this check's: skip loading them.
        [schedule] = await uow.catalogue.schedules([therapist_id], _local_window(clinic, day, day), with_busy=False)
    reason = refusal(schedule, treatment.timing, clinic.rules, start, now)
    if reason is not None:
        raise refused_start(reason)


async def _expire_in_the_way(uow: UnitOfWork, therapist_id: uuid.UUID, blocked: Interval) -> None:
    """Expired holds overlapping `blocked` stop blocking now (not when the sweeper next runs), announced
    as the sweeper would (payments gives back what a voucher put towards them)."""
    _announced(uow, await uow.reservations.expire_overlapping(therapist_id, blocked))


def _slot_taken(start: datetime) -> BookingError:
    return BookingError(
        409, "slot_taken", "That time has just been taken; please choose another", {"start": start.isoformat()}
    )


async def _commit_holds(uow: UnitOfWork) -> None:
    try:
        await uow.commit()
    except HoldKeyInUse:
        raise BookingError(409, "idempotency_conflict", "A request with this Idempotency-Key is in progress") from None


async def _place_holds(
    uow: UnitOfWork,
    holds: list[Hold],
    hold_key: str | None,
    described: Particulars,
    schedule_version: int | None = None,
) -> None:
    """Each hold, after expired holds in its way, with its event, under the therapist's lock. The holds were
    judged by the therapist's schedule under lock_schedule, or by its version `schedule_version`, checked here
    (ScheduleChanged if it changed since)."""
    if schedule_version is not None:
        await uow.reservations.check_schedule(described.therapist.id, schedule_version)
    await uow.reservations.lock_therapist_time(described.therapist.id)
    for hold in holds:
        await _expire_in_the_way(uow, hold.therapist_id, hold.blocked)
        uow.add_event(held_event(hold, described))
    # The exclusion constraint decides; a pre-check here would only race.
    uow.reservations.add_holds(holds, hold_key)
    try:
        await _commit_holds(uow)
    except SlotTaken as taken:
        raise _slot_taken(taken.start) from None


# How many times a hold is judged when its therapist's schedule keeps changing between its read and its write.
SCHEDULE_ATTEMPTS = 3


async def hold_slot(
    uow: UnitOfWork,
    slug: str,
    treatment_id: uuid.UUID,
    therapist_id: uuid.UUID,
    start: datetime,
    now: datetime,
    hold_key: str | None,
) -> Held:
    """Hold one treatment's time. One read (what the request names, and the therapist's schedule), then
    usually one write: the hold and its event together. Only if that is refused (taken, or an expired hold
    not yet marked is in the way) are expired holds marked in a transaction and the hold tried once more.
    If the clinic changed the therapist's schedule between the read and the write, nothing was written: the
    hold is judged again on the schedule as it now is."""
    attempts = SCHEDULE_ATTEMPTS
    while True:
        try:
            return await _hold_slot(uow, slug, treatment_id, therapist_id, start, now, hold_key)
        except ScheduleChanged:
            attempts -= 1
            if not attempts:
                raise BookingError(
                    409, "schedule_changed", "The therapist's hours have just changed; please choose a time again"
                ) from None


async def _hold_slot(
    uow: UnitOfWork,
    slug: str,
    treatment_id: uuid.UUID,
    therapist_id: uuid.UUID,
    start: datetime,
    now: datetime,
    hold_key: str | None,
) -> Held:
    async with uow:
        context = await uow.catalogue.hold_context(slug, treatment_id, therapist_id, start)
        clinic = found_clinic(context.named.clinic if context else None, slug)
        if hold_key and (existing := await uow.reservations.for_hold_key(clinic.id, hold_key)):
            return Held(clinic, existing, replayed=True)
        treatment = found_treatment(context.named.treatment)
        therapist = found_therapist(context.named.therapist, treatment)
        await _check_start(uow, clinic, treatment, therapist.id, start, now, context.schedule)
        hold = new_hold(clinic, treatment, therapist.id, start, now)
        described = Particulars(clinic, treatment, therapist)
        uow.reservations.add_holds([hold], hold_key)
        uow.add_event(held_event(hold, described))
        if context.schedule_version is not None:
            uow.reservations.judged_by(therapist.id, context.schedule_version)
        try:
            await _commit_holds(uow)
        except SlotTaken:
            await _place_holds(uow, [hold], hold_key, described, context.schedule_version)
    return Held(clinic, [hold])


async def hold_course(
    uow: UnitOfWork,
    slug: str,
    course_id: uuid.UUID,
    therapist_id: uuid.UUID,
    start: datetime | None,
    starts: list[datetime] | None,
    now: datetime,
    hold_key: str | None,
) -> Held:
    """Hold every session of a course, all or nothing: explicit `starts`, or planned from `start`
    (or the first free slot) with the course's spacing."""
    async with uow:
        clinic = await clinic_or_404(uow, slug)
        if hold_key and (existing := await uow.reservations.for_hold_key(clinic.id, hold_key)):
            return Held(clinic, existing, replayed=True)
        course = await uow.catalogue.course(clinic.id, course_id)
        if course is None:
            raise BookingError(404, "course_not_found", "This clinic has no such course")
        treatment = await treatment_or_404(uow, clinic, course.treatment_id)
        therapist = await therapist_for(uow, clinic, therapist_id, treatment)
        if starts is None:
            starts = await _plan_course(uow, clinic, treatment, therapist, course, start, now)
        if len(starts) != course.sessions:
            raise BookingError(
                422,
                "wrong_session_count",
                f"{course.name} has {course.sessions} sessions",
                {"sessions": course.sessions},
            )
        await uow.reservations.lock_schedule(therapist.id)  # the schedule the starts are judged by stays
        for session_start in starts:
            await _check_start(uow, clinic, treatment, therapist.id, session_start, now)
        series_id = uuid.uuid4()
        prices = course_session_prices(course)
        holds = [
            new_hold(
                clinic,
                treatment,
                therapist.id,
                s,
                now,
                price_amount=prices[i],
                course_id=course.id,
                series_id=series_id,
                series_index=i,
            )
            for i, s in enumerate(sorted(starts))
        ]
        await _place_holds(uow, holds, hold_key, Particulars(clinic, treatment, therapist))
    return Held(clinic, holds)


async def _plan_course(uow, clinic, treatment, therapist, course, start, now) -> list[datetime]:
    spacing = Spacing(course.sessions, course.min_gap_days, course.max_gap_days)
    today = now.astimezone(clinic.rules.zone).date()
    last_day = today + timedelta(days=clinic.booking_horizon_days)
    [schedule] = await uow.catalogue.schedules([therapist.id], _local_window(clinic, today, last_day))
    if start is not None:
        await _check_start(uow, clinic, treatment, therapist.id, start, now)
        firsts = [Slot(therapist.id, start, treatment.timing.end(start))]
    else:
        firsts = free_slots([schedule], treatment.timing, clinic.rules, today, last_day, now)
    for first in firsts[:200]:
        plan = plan_series(schedule, treatment.timing, clinic.rules, spacing, first, now)
        if plan is not None:
            return [s.start for s in plan]
    raise BookingError(
        409,
        "series_unavailable",
        f"There are not enough free times for all {course.sessions} sessions with this therapist",
    )


# --- booking a hold: screening, then payment ------------------------------------------------------

# How long an unpaid booking keeps its time while the customer completes the card payment.
PAYMENT_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Submitted:
    """A booking made of a hold: its sessions as they now stand, and how they are paid (payments' answer)."""

    clinic: Clinic
    reservations: list[Reservation]
    payment: dict


async def submit(
    uow: UnitOfWork,
    hold_id: uuid.UUID,
    customer: Customer,
    answers: dict[str, bool] | None,
    confirm_key: str | None,
    now: datetime,
    links: Links,
    payments,
    *,
    health: Sealer,
    voucher_code: str | None = None,
    client: str | None = None,
    pay_rest_by_card: bool = True,
) -> Submitted:
    """Turn a hold (or every hold of a series) into a booking, after the health screening (its answers kept
    sealed by `health`): confirmed at once if a voucher pays for all of it, else awaiting its card payment.

    Two short transactions, with payments asked in between while no row is locked (it may wait on Stripe):
    the first makes the hold the customer's booking, so payments is asked only for a booking that exists;
    the second records how it is paid. If payments refuses or cannot answer, the booking is undone (the hold
    as it was). If the second never comes, the booking runs out at its pay-by time, announced without a
    payment, and payments cancels any it made (never a charge without a booking); a retry with the same
    Idempotency-Key finishes it instead, payments answering it the same. `client`: the customer's address, whose
    wrong voucher codes payments counts (429 once too many)."""
    started = await _start_booking(uow, hold_id, customer, answers, confirm_key, now, health)
    # Under a deposit policy (the treatment's, else the clinic's; a course's: its treatment's) the card pays at
    # most the deposit of the whole price now, and the rest is due at the clinic (payments keeps the parts); in
    # "card" mode nothing now. Not when nothing is paid by card now anyway (a phone booking paid at the clinic).
    if not pay_rest_by_card:
        started = dataclasses.replace(started, policy=dict(payment_policy.FULL))
    cap, save_card = payment_terms(started.policy, started.reservations)
    if started.reservations[0].paid_for:  # a retry of the request that already did this
        payment = await _payment_of(payments, started.reservations, cap, save_card)
        return Submitted(started.clinic, started.reservations, payment)
    first = started.reservations[0]
    try:
        payment = await payments.booking_payment(
            booking_id=hold_id,
            clinic_id=started.clinic.id,
            amount=_price(started.reservations),
            currency=first.currency,
            customer_email=first.customer.email,
            treatment_id=first.treatment_id,
            sessions=len(started.reservations),
            voucher_code=voucher_code,
            client=client,
            pay_rest_by_card=pay_rest_by_card,
            card_at_most=cap,
            save_card=save_card,
        )
    except BookingError:
        if started.held_until is not None:
            await _undo_booking(uow, hold_id, confirm_key, started.held_until)
        raise
    return await _record_payment(uow, hold_id, started, confirm_key, payment, links)


@dataclass(frozen=True)
class _Started:
    """A booking awaiting the answer of payments. `held_until`: the hold's expiry, if this request made the
    booking (undone if payments fails); None if an earlier request with its key did."""

    clinic: Clinic
    treatment: Treatment
    reservations: list[Reservation]
    held_until: datetime | None
    policy: dict = field(default_factory=lambda: dict(payment_policy.FULL))  # the booking's payment policy


def _price(reservations: list[Reservation]) -> int:
    """The booking's whole price (a course's: of all its sessions)."""
    return sum(r.price_amount for r in reservations)


async def _start_booking(
    uow: UnitOfWork,
    hold_id: uuid.UUID,
    customer: Customer,
    answers: dict[str, bool] | None,
    confirm_key: str | None,
    now: datetime,
    health: Sealer,
) -> _Started:
    async with uow:
        reservations = await uow.reservations.lock(hold_id)
        if not reservations:
            raise BookingError(404, "hold_not_found", "No such hold")
        first = reservations[0]
        clinic = await uow.catalogue.clinic_by_id(first.clinic_id)
        treatment = await uow.catalogue.treatment(clinic.id, first.treatment_id)
        policy = await uow.catalogue.payment_policy(clinic.id, first.treatment_id)
        if confirm_key and all(r.was_submitted_with(confirm_key) for r in reservations):
            return _Started(clinic, treatment, reservations, held_until=None, policy=policy)
        for reservation in reservations:
            reservation.check_usable(now)
        assessment = await _screen(uow, clinic, treatment, customer, answers)
        # The booking's own writes come first: whatever in them could fail fails before payments (and Stripe)
        # is asked for anything. (No therapist lock: these updates keep the reservation's time; a deadlock with
        # a hold racing for it is rare and retried by the route.)
        if assessment is not None:
            await uow.screenings.add(
                first.id,
                clinic.id,
                screening.questionnaire().version,
                seal_screening(health, answers, assessment.flags),
                assessment.outcome,
            )
        held_until = first.expires_at
        pay_by = max(now + PAYMENT_WINDOW, held_until)
        for reservation in reservations:
            reservation.await_payment(customer, confirm_key, pay_by, now)
        await uow.reservations.save_awaiting_payment(reservations)
        await uow.commit()
    return _Started(clinic, treatment, reservations, held_until, policy)


async def _undo_booking(uow: UnitOfWork, hold_id: uuid.UUID, confirm_key: str | None, held_until: datetime) -> None:
    """Payments refused or could not answer: the hold as it was, and no screening kept (as if never asked)."""
    async with uow:
        reservations = await uow.reservations.lock(hold_id)
        if not all(r.was_submitted_with(confirm_key) and not r.paid_for for r in reservations):
            return  # a retry with the same key got further meanwhile
        for reservation in reservations:
            reservation.back_to_hold(held_until)
        await uow.reservations.save_back_to_hold(reservations)
        await uow.screenings.remove(reservations[0].id)
        await uow.commit()


async def _record_payment(
    uow: UnitOfWork, hold_id: uuid.UUID, started: _Started, confirm_key: str | None, payment: dict, links: Links
) -> Submitted:
    """How the booking is paid (payments' answer), and what that means: confirmed, or awaiting the card."""
    async with uow:
        reservations = await uow.reservations.lock(hold_id)
        if not all(r.was_submitted_with(confirm_key) for r in reservations):
            # It ran out while payments answered, announced without a payment, which payments cancels.
            raise BookingError(409, "hold_expired", "This hold has expired; please choose a time again")
        if reservations[0].paid_for:  # a retry with the same key recorded it first
            return Submitted(started.clinic, reservations, payment)
        voucher = None
        if payment.get("voucher"):
            voucher = {key: payment["voucher"][key] for key in ("code_hint", "value", "remaining")}
        note_payment(reservations, started.clinic, started.policy, payment, voucher)
        await uow.reservations.save_payment(reservations)
        if payment["covered"]:  # the voucher paid for everything: nothing to wait for
            await _confirm(uow, reservations, links, started.clinic, started.treatment)
        else:
            uow.add_event(awaiting_payment_event(hold_id, started.clinic.id, payment, reservations[0].expires_at))
        await uow.commit()
    return Submitted(started.clinic, reservations, payment)


def payment_terms(policy: dict, reservations: list[Reservation]) -> tuple[int | None, bool]:
    """What payments is asked for a booking under its payment policy (the treatment's, else the clinic's): the most
    the card pays now (the deposit under a deposit policy, 0 in "card" mode, None: all of it), and whether it saves
    the card (a policy with fees, or "card" mode: by the PaymentIntent, or a SetupIntent when nothing is paid by card
    now) for charges made later, off session."""
    return payment_policy.card_at_most(policy, _price(reservations)), payment_policy.needs_saved_card(policy)


def note_payment(
    reservations: list[Reservation], clinic: Clinic, policy: dict, payment: dict, voucher: dict | None = None
) -> None:
    """Payments' answer noted on the booking's reservations, with what its policy fixed: what is due at the clinic,
    the policy in words, the fees and whether the card is saved (saved by save_payment)."""
    payment_id = uuid.UUID(payment["id"]) if payment["id"] else None
    due, words = _deposit_of(policy, reservations, clinic, payment)
    fees = payment_policy.fee_amounts(policy, _price(reservations), len(reservations))
    for reservation in reservations:
        reservation.note_payment(
            payment_id,
            voucher,
            due,
            words,
            fees=(fees.no_show, fees.late_cancellation),
            save_card=payment_policy.needs_saved_card(policy),
        )


def _deposit_of(policy: dict, reservations: list[Reservation], clinic: Clinic, payment: dict) -> tuple[int, str | None]:
    """What payments left due at the clinic, and the policy in words (for the whole price: a deposit, a card saved
    only, the fees); (0, None) for a booking paid in full with no fee (as before the policies)."""
    if payment_policy.is_plain(policy):
        return 0, None
    due = payment.get("due_at_clinic") or 0
    amount = due["amount"] if isinstance(due, dict) else int(due)
    said = payment_policy.words(
        policy, _price(reservations), reservations[0].currency, clinic.change_window_hours, len(reservations)
    )
    return amount, said


async def _payment_of(
    payments, reservations: list[Reservation], card_at_most: int | None = None, save_card: bool = False
) -> dict:
    first = reservations[0]
    return await payments.booking_payment(
        booking_id=first.booking_id,
        clinic_id=first.clinic_id,
        amount=_price(reservations),
        currency=first.currency,
        customer_email=first.customer.email,
        treatment_id=first.treatment_id,
        sessions=len(reservations),
        card_at_most=card_at_most,
        save_card=save_card,
    )


async def on_payment_succeeded(uow: UnitOfWork, booking_id: uuid.UUID, payment_id: str, links: Links) -> str:
    """The card payment of a booking succeeded: confirm it. If its time ran out meanwhile, book the same
    time again if still free; if not (or the booking is gone), ask for a refund. Never a charge without
    a booking. Returns what happened."""
    async with uow:
        outcome = await _settle_payment(uow, booking_id, payment_id, links)
        await uow.commit()
    return outcome


async def _settle_payment(uow: UnitOfWork, booking_id: uuid.UUID, payment_id: str, links: Links) -> str:
    reservations = await uow.reservations.lock(booking_id)
    statuses = {r.status for r in reservations}
    if statuses == {"confirmed"}:
        return "already_confirmed"
    if not reservations or statuses & set(FINAL_STATUSES):
        return _orphan_payment(uow, booking_id, payment_id, reservations, "booking_gone")
    if any(r.customer is None for r in reservations):
        # A hold whose booking was never written (its request failed after payments answered): nobody to confirm.
        return _orphan_payment(uow, booking_id, payment_id, reservations, "booking_never_written")
    await uow.reservations.lock_therapist_time(reservations[0].therapist_id)
    try:
        await _confirm(uow, reservations, links)
    except SlotTaken:
        for reservation in reservations:  # not confirmed after all: nothing of theirs to announce
            reservation.events.clear()
        return _orphan_payment(uow, booking_id, payment_id, reservations, "slot_taken_after_hold_expired")
    late = statuses & {"expired", "released"}
    return "rebooked_after_expiry" if late else "confirmed"


def _orphan_payment(
    uow: UnitOfWork, booking_id: uuid.UUID, payment_id: str, reservations: list[Reservation], reason: str
) -> str:
    customer = reservations[0].customer if reservations else None
    orphaned = contracts.BookingPaymentOrphaned(
        booking_id=str(booking_id),
        payment_id=payment_id,
        reason=reason,
        customer=contracts.Person(customer.name if customer else None, customer.email if customer else None)
        if reservations
        else None,
    )
    uow.add_event(contracts.event(orphaned, clinic_id=str(reservations[0].clinic_id) if reservations else None))
    log.warning(
        "paid booking could not be confirmed; refund requested", extra={"booking_id": str(booking_id), "reason": reason}
    )
    return reason


async def _confirm(
    uow: UnitOfWork,
    reservations: list[Reservation],
    links: Links,
    clinic: Clinic | None = None,
    treatment: Treatment | None = None,
) -> None:
    """Confirm the sessions of a paid booking, each announced with its manage link."""
    described = await _particulars(uow, reservations[0], clinic, treatment)
    for reservation in reservations:
        reservation.confirm(described, links.manage_url)
    await uow.reservations.save_confirmed(reservations)


@lru_cache(maxsize=4)
def health_sealer(secret: str) -> Sealer:
    """What keeps screening answers encrypted at rest (settings.health_data_key), derived once per key."""
    return Sealer(secret, "health-screening")


def seal_screening(health: Sealer, answers: dict[str, bool], flags) -> str:
    """The answers and the flags they raised (which name the answers), as kept at rest."""
    return health.seal({"answers": answers, "flags": list(flags)})


async def seal_plain_screenings(conn: asyncpg.Connection, health: Sealer, batch: int = 500) -> int:
    """Encrypt the screenings written before they were sealed (migration 0007); how many."""
    sealed = 0
    while rows := await store.plain_screenings(conn, batch):
        for row in rows:
            await store.seal_screening(conn, row["booking_id"], seal_screening(health, row["answers"], row["flags"]))
        sealed += len(rows)
    return sealed


def assess_screening(answers: dict[str, bool]) -> screening.Assessment:
    """The verdict on screening answers; every question answered yes or no, else 422."""
    try:
        return screening.assess(answers, screening.questionnaire())
    except screening.AnswersInvalid as exc:
        raise BookingError(
            422,
            "screening_incomplete",
            "Please answer every screening question yes or no",
            {"missing": exc.missing, "unknown": exc.unknown},
        ) from None


async def _screen(
    uow: UnitOfWork, clinic: Clinic, treatment: Treatment, customer: Customer, answers: dict[str, bool] | None
) -> screening.Assessment | None:
    form = screening.questionnaire()
    if answers is None:
        if not treatment.requires_screening or await uow.screenings.on_file(clinic.id, customer.email):
            return None
        raise BookingError(
            422, "screening_required", form.intro, {"questions": [{"id": q.id, "text": q.text} for q in form.questions]}
        )
    result = assess_screening(answers)
    if result.stops_booking:
        raise BookingError(
            422,
            "screening_red_flag",
            " ".join(result.advice),
            {"outcome": result.outcome, "advice": list(result.advice)},
        )
    return result


# --- managing a booking --------------------------------------------------------------------------


def check_manage_token(links: Links, booking_id: uuid.UUID, token: str | None, now: datetime) -> None:
    try:
        check_token(links.key, token or "", booking_id, now)
    except TokenInvalid:
        raise BookingError(403, "invalid_token", "This link is not valid or has expired") from None


async def _particulars(
    uow: UnitOfWork, reservation: Reservation, clinic: Clinic | None = None, treatment: Treatment | None = None
) -> Particulars:
    """What the reservation's events name; `clinic` and `treatment` if the caller has them already."""
    clinic = clinic or await uow.catalogue.clinic_by_id(reservation.clinic_id)
    treatment = treatment or await uow.catalogue.treatment(clinic.id, reservation.treatment_id)
    return Particulars(clinic, treatment, await uow.catalogue.therapist(clinic.id, reservation.therapist_id))


@dataclass(frozen=True)
class Changed:
    """A booking as a change left it, and its clinic."""

    clinic: Clinic
    reservation: Reservation
    fee: int | None = None  # a late cancellation's fee (issue 20), in the booking's currency


async def _locked_booking(uow: UnitOfWork, booking_id: uuid.UUID, clinic_id: uuid.UUID | None = None) -> Reservation:
    reservation = await uow.reservations.lock_booking(booking_id, clinic_id)
    if reservation is None:
        raise BookingError(404, "booking_not_found", "No such booking")
    return reservation


async def cancel(uow: UnitOfWork, booking_id: uuid.UUID, now: datetime) -> Changed:
    """The customer cancels (inside the change window only for its late-cancellation fee: `Changed.fee`)."""
    async with uow:
        reservation = await _locked_booking(uow, booking_id)
        described = await _particulars(uow, reservation)
        fee = reservation.cancel(described, now)
        await uow.reservations.save_cancelled(reservation)
        await uow.commit()
    return Changed(described.clinic, reservation, fee)


async def moving_to(
    uow: UnitOfWork, booked: Particulars, therapist_id: uuid.UUID, start: datetime, now: datetime
) -> tuple[Therapist, Interval]:
    """Where a booking moves (whoever moves it): the therapist and the time it will block, judged by the slot rules
    under the therapist's schedule lock (the schedule stays as judged), lapsed holds in the way expired."""
    clinic, treatment = booked.clinic, booked.treatment
    therapist = await therapist_for(uow, clinic, therapist_id, treatment)
    await uow.reservations.lock_schedule(therapist.id)
    await _check_start(uow, clinic, treatment, therapist.id, start, now)
    blocked = treatment.timing.blocked(start)
    await uow.reservations.lock_therapist_time(therapist.id)
    await _expire_in_the_way(uow, therapist.id, blocked)
    return therapist, blocked


async def reschedule(
    uow: UnitOfWork, booking_id: uuid.UUID, start: datetime, therapist_id: uuid.UUID | None, now: datetime, links: Links
) -> Changed:
    async with uow:
        reservation = await _locked_booking(uow, booking_id)
        booked = await _particulars(uow, reservation)
        clinic, treatment = booked.clinic, booked.treatment
        reservation.check_changeable(clinic, now)
        therapist, blocked = await moving_to(uow, booked, therapist_id or reservation.therapist_id, start, now)
        reservation.reschedule(
            Particulars(clinic, treatment, therapist), booked.therapist, start, now, links.manage_url
        )
        try:
            await uow.reservations.save_move(reservation, blocked)
        except SlotTaken:
            raise BookingError(409, "slot_taken", "That time has just been taken; please choose another") from None
        await uow.commit()
    return Changed(clinic, reservation)


async def record_outcome(
    uow: UnitOfWork, clinic_id: uuid.UUID, booking_id: uuid.UUID, outcome: str, now: datetime
) -> None:
    """The clinic marks a visit completed or a no-show (`outcome` is the status), once its time has come."""
    async with uow:
        reservation = await _locked_booking(uow, booking_id, clinic_id)
        if reservation.record_outcome(outcome, await _particulars(uow, reservation), now):
            await uow.reservations.save_outcome(reservation)
            await uow.commit()


async def release_hold(uow: UnitOfWork, hold_id: uuid.UUID) -> int:
    """The customer chose another time, or the screening stopped the booking: the held time is free again
    at once, announced as `booking.released` (payments treats it as an expiry). Returns the holds released;
    0 if there was nothing held (already booked, expired or released: a repeat changes nothing)."""
    async with uow:
        released = _announced(uow, await uow.reservations.release(hold_id))
        await uow.commit()
    return released


def _announced(uow: UnitOfWork, lapsed: list[Lapsed]) -> int:
    for one in lapsed:
        uow.add_event(one.event)
    return len(lapsed)


# --- housekeeping --------------------------------------------------------------------------------


async def expire_lapsed(uow: UnitOfWork, limit: int = 500) -> int:
    """The periodic sweep: holds and unpaid bookings whose time ran out become 'expired', announced."""
    async with uow:
        expired = _announced(uow, await uow.reservations.claim_expired(limit))
        await uow.commit()
    return expired


# --- the clinic's access: its API keys --------------------------------------------------------------
# Outside the unit of work (they announce nothing): each in a transaction of its own on a pool connection.


async def create_api_key(pool: asyncpg.Pool, clinic_id: uuid.UUID, name: str) -> key_management.NewKey:
    async with pool.acquire() as conn, conn.transaction():
        return await key_management.create(conn, clinic_id, name)


async def rotate_api_key(
    pool: asyncpg.Pool, clinic_id: uuid.UUID, key_id: uuid.UUID, grace_hours: int, now: datetime
) -> tuple[key_management.NewKey, asyncpg.Record]:
    async with pool.acquire() as conn, conn.transaction():
        return await key_management.rotate(conn, clinic_id, key_id, grace_hours, now)


async def revoke_api_key(pool: asyncpg.Pool, clinic_id: uuid.UUID, key_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        return await key_management.revoke(conn, clinic_id, key_id)
