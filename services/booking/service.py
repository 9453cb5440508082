"""Use cases of the booking service. Each runs inside the caller's transaction, raises BookingError for
what the rules refuse, and writes its events to the outbox with the change."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, timedelta

import asyncpg

from services.booking import screening, store
from services.booking.availability import Interval, Schedule, Slot, free_slots, refusal
from services.booking.domain import (DEFAULT_AVAILABILITY_DAYS, FINAL_STATUSES, MAX_AVAILABILITY_DAYS, BookingError,
                                     Clinic, Customer, Hold, Therapist, Treatment, course_session_prices,
                                     manage_link_expiry, new_hold, refused_start)
from services.booking.reservation import Particulars, Reservation, awaiting_payment_event, held_event
from services.booking.series import Spacing, plan_series
from services.booking.tokens import TokenInvalid, check_token, make_token
from shared.events import Event
from shared.sealing import Sealer
from shared.outbox import add_event

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
        raise BookingError(422, "therapist_does_not_give_treatment",
                           f"{therapist.name} does not give {treatment.name}; please choose another therapist")
    return therapist


async def clinic_or_404(conn: asyncpg.Connection, slug: str) -> Clinic:
    return found_clinic(await store.get_clinic(conn, slug), slug)


async def treatment_or_404(conn: asyncpg.Connection, clinic: Clinic, treatment_id: uuid.UUID) -> Treatment:
    return found_treatment(await store.get_treatment(conn, clinic.id, treatment_id))


async def therapist_for(conn: asyncpg.Connection, clinic: Clinic, therapist_id: uuid.UUID,
                        treatment: Treatment) -> Therapist:
    return found_therapist(await store.get_therapist(conn, clinic.id, therapist_id), treatment)


def local_days(clinic: Clinic, first: date, last: date) -> Interval:
    """From the start of `first` to the end of `last`, in the clinic's zone."""
    zone = clinic.rules.zone
    return Interval(datetime.combine(first, datetime.min.time(), tzinfo=zone),
                    datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone))


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


async def availability(conn: asyncpg.Connection, slug: str, treatment_id: uuid.UUID, therapist_id: uuid.UUID | None,
                       first: date | None, last: date | None, now: datetime) -> Availability:
    """Free slots of the treatment (with one therapist, or any giving it) over days in the clinic's zone
    (by default a week from the clinic's today), read in one round trip."""
    days = store.DaysAsked(first, last, DEFAULT_AVAILABILITY_DAYS, MAX_AVAILABILITY_DAYS, WINDOW_PADDING)
    context = await store.availability_context(conn, slug, treatment_id, therapist_id, days, now)
    clinic = found_clinic(context.named.clinic if context else None, slug)
    treatment = found_treatment(context.named.treatment)
    if therapist_id is not None:
        found_therapist(context.named.therapist, treatment)
    first, last = context.first, context.last
    if last < first:
        raise BookingError(422, "invalid_range", "The end date is before the start date")
    if (last - first).days + 1 > MAX_AVAILABILITY_DAYS:
        raise BookingError(422, "range_too_large", f"Ask for at most {MAX_AVAILABILITY_DAYS} days at a time")
    slots = free_slots(context.schedules, treatment.timing, clinic.rules, first, last, now) if context.considered else []
    return Availability(clinic, treatment, context.considered, first, last, slots)


# --- holds ---------------------------------------------------------------------------------------

async def _check_start(conn: asyncpg.Connection, clinic: Clinic, treatment: Treatment, therapist_id: uuid.UUID,
                       start: datetime, now: datetime, schedule: Schedule | None = None) -> None:
    """Refuse a start the clinic's rules do not allow. `schedule`: the therapist's hours, breaks and
    the time off around `start`, if the caller has them already."""
    if schedule is None:
        day = start.astimezone(clinic.rules.zone).date()
        # Other reservations are the exclusion constraint's business, not this check's: skip loading them.
        [schedule] = await store.load_schedules(conn, [therapist_id], _local_window(clinic, day, day), with_busy=False)
    reason = refusal(schedule, treatment.timing, clinic.rules, start, now)
    if reason is not None:
        raise refused_start(reason)


async def _expire_in_the_way(conn: asyncpg.Connection, therapist_id: uuid.UUID, blocked: Interval) -> None:
    """Expired holds overlapping `blocked` stop blocking now (not when the sweeper next runs), announced
    as the sweeper would (payments gives back what a voucher put towards them), in the caller's transaction."""
    for lapsed in await store.expire_overlapping_holds(conn, therapist_id, blocked):
        await add_event(conn, lapsed.event)


def _slot_taken(hold: Hold) -> BookingError:
    return BookingError(409, "slot_taken", "That time has just been taken; please choose another",
                        {"start": hold.start.isoformat()})


async def _insert_holds(conn: asyncpg.Connection, holds: list[Hold], hold_key: str | None,
                        clinic: Clinic, treatment: Treatment, therapist: Therapist) -> None:
    """In the caller's transaction: each hold, after expired holds in its way, with its event."""
    described = Particulars(clinic, treatment, therapist)
    await store.lock_therapist_time(conn, therapist.id)
    for i, hold in enumerate(holds):
        await _expire_in_the_way(conn, hold.therapist_id, hold.blocked)
        try:
            # The exclusion constraint decides; a pre-check here would only race.
            await store.insert_hold(conn, hold, hold_key if i == 0 else None)
        except asyncpg.ExclusionViolationError:
            raise _slot_taken(hold) from None
        await add_event(conn, held_event(hold, described))


async def hold_context(conn: asyncpg.Connection, slug: str, treatment_id: uuid.UUID, therapist_id: uuid.UUID,
                       start: datetime) -> store.HoldContext:
    """Everything a hold of one treatment reads, in one round trip (see store.HoldContext); only the
    clinic is checked here, so that a caller can answer a replayed request before the rest."""
    context = await store.hold_context(conn, slug, treatment_id, therapist_id, start)
    found_clinic(context.named.clinic if context else None, slug)
    return context


async def hold_slot(conn: asyncpg.Connection, clinic: Clinic, treatment: Treatment, therapist: Therapist,
                    start: datetime, now: datetime, hold_key: str | None, *,
                    context: store.HoldContext | None = None) -> list[Hold]:
    """`context`: from hold_context for this start, if the caller has it (else the schedule is loaded).

    Outside a transaction, the usual case costs one statement: the hold and its event, inserted together.
    Only if the constraint refuses it (taken, or an expired hold not yet marked is in the way) does a
    transaction mark expired holds and try once more."""
    await _check_start(conn, clinic, treatment, therapist.id, start, now, context.schedule if context else None)
    hold = new_hold(clinic, treatment, therapist.id, start, now)
    if conn.is_in_transaction():
        await _insert_holds(conn, [hold], hold_key, clinic, treatment, therapist)
        return [hold]
    try:
        event = held_event(hold, Particulars(clinic, treatment, therapist))
        await store.insert_hold_announced(conn, hold, hold_key, event)
    except asyncpg.ExclusionViolationError:
        async with conn.transaction():
            await _insert_holds(conn, [hold], hold_key, clinic, treatment, therapist)
    return [hold]


async def hold_course(conn: asyncpg.Connection, clinic: Clinic, course_id: uuid.UUID, therapist_id: uuid.UUID,
                      start: datetime | None, starts: list[datetime] | None, now: datetime,
                      hold_key: str | None) -> list[Hold]:
    """Hold every session of a course, all or nothing: explicit `starts`, or planned from `start`
    (or the first free slot) with the course's spacing."""
    course = await store.get_course(conn, clinic.id, course_id)
    if course is None:
        raise BookingError(404, "course_not_found", "This clinic has no such course")
    treatment = await treatment_or_404(conn, clinic, course.treatment_id)
    therapist = await therapist_for(conn, clinic, therapist_id, treatment)
    if starts is None:
        starts = await _plan_course(conn, clinic, treatment, therapist, course, start, now)
    if len(starts) != course.sessions:
        raise BookingError(422, "wrong_session_count", f"{course.name} has {course.sessions} sessions",
                           {"sessions": course.sessions})
    for session_start in starts:
        await _check_start(conn, clinic, treatment, therapist.id, session_start, now)
    series_id = uuid.uuid4()
    prices = course_session_prices(course)
    holds = [new_hold(clinic, treatment, therapist.id, s, now, price_amount=prices[i], course_id=course.id,
                      series_id=series_id, series_index=i) for i, s in enumerate(sorted(starts))]
    await _insert_holds(conn, holds, hold_key, clinic, treatment, therapist)
    return holds


async def _plan_course(conn, clinic, treatment, therapist, course, start, now) -> list[datetime]:
    spacing = Spacing(course.sessions, course.min_gap_days, course.max_gap_days)
    today = now.astimezone(clinic.rules.zone).date()
    last_day = today + timedelta(days=clinic.booking_horizon_days)
    [schedule] = await store.load_schedules(conn, [therapist.id], _local_window(clinic, today, last_day))
    if start is not None:
        await _check_start(conn, clinic, treatment, therapist.id, start, now)
        firsts = [Slot(therapist.id, start, treatment.timing.end(start))]
    else:
        firsts = free_slots([schedule], treatment.timing, clinic.rules, today, last_day, now)
    for first in firsts[:200]:
        plan = plan_series(schedule, treatment.timing, clinic.rules, spacing, first, now)
        if plan is not None:
            return [s.start for s in plan]
    raise BookingError(409, "series_unavailable",
                       f"There are not enough free times for all {course.sessions} sessions with this therapist")


# --- booking a hold: screening, then payment ------------------------------------------------------

# How long an unpaid booking keeps its time while the customer completes the card payment.
PAYMENT_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Submitted:
    """A booking made of a hold: its sessions as they now stand, and how they are paid (payments' answer)."""
    clinic: Clinic
    reservations: list[Reservation]
    payment: dict


async def submit(conn: asyncpg.Connection, hold_id: uuid.UUID, customer: Customer, answers: dict[str, bool] | None,
                 confirm_key: str | None, now: datetime, links: Links, payments, *, health: Sealer,
                 voucher_code: str | None = None, pay_rest_by_card: bool = True) -> Submitted:
    """Turn a hold (or every hold of a series) into a booking, after the health screening (its answers kept
    sealed by `health`): confirmed at once if a voucher pays for all of it, else awaiting its card payment."""
    reservations = await store.lock_reservations(conn, hold_id)
    if not reservations:
        raise BookingError(404, "hold_not_found", "No such hold")
    first = reservations[0]
    if confirm_key and all(r.was_submitted_with(confirm_key) for r in reservations):
        # A retry of the request that already did this.
        clinic = await store.get_clinic_by_id(conn, first.clinic_id)
        return Submitted(clinic, reservations, await _payment_of(payments, reservations))
    for reservation in reservations:
        reservation.check_usable(now)
    clinic = await store.get_clinic_by_id(conn, first.clinic_id)
    treatment = await store.get_treatment(conn, clinic.id, first.treatment_id)
    assessment = await _screen(conn, clinic, treatment, customer, answers)
    ids = [r.id for r in reservations]
    # The booking's own writes first: whatever in them could fail fails before payments (and Stripe) is
    # asked for anything, so a refused booking never leaves a PaymentIntent behind. (No therapist lock:
    # it would queue every hold of the therapist behind the card processor. These updates keep the
    # reservation's time; a deadlock with a hold racing for it is rare and retried by the route.)
    if assessment is not None:
        await store.insert_screening(conn, first.id, clinic.id, screening.questionnaire().version,
                                     seal_screening(health, answers, assessment.flags), assessment.outcome)
    pay_by = max(now + PAYMENT_WINDOW, first.expires_at)
    for reservation in reservations:
        reservation.await_payment(customer, confirm_key, pay_by, now)
    await store.await_payment(conn, ids, customer, confirm_key, pay_by)
    payment = await payments.booking_payment(
        booking_id=hold_id, clinic_id=clinic.id, amount=sum(r.price_amount for r in reservations),
        currency=first.currency, customer_email=customer.email, treatment_id=treatment.id,
        sessions=len(reservations), voucher_code=voucher_code, pay_rest_by_card=pay_rest_by_card)
    payment_id = uuid.UUID(payment["id"]) if payment["id"] else None
    voucher = None
    if payment.get("voucher"):
        voucher = {key: payment["voucher"][key] for key in ("code_hint", "value", "remaining")}
    for reservation in reservations:
        reservation.note_payment(payment_id, voucher)
    if payment_id is not None:
        await store.attach_payment(conn, ids, payment_id)
    if voucher is not None:
        await store.note_voucher(conn, ids, voucher)
    if payment["covered"]:   # the voucher paid for everything: nothing to wait for
        await _confirm(conn, reservations, links, clinic, treatment)
    else:
        await add_event(conn, awaiting_payment_event(hold_id, clinic.id, payment, pay_by))
    return Submitted(clinic, reservations, payment)


async def _payment_of(payments, reservations: list[Reservation]) -> dict:
    first = reservations[0]
    return await payments.booking_payment(
        booking_id=first.booking_id, clinic_id=first.clinic_id,
        amount=sum(r.price_amount for r in reservations), currency=first.currency,
        customer_email=first.customer.email, treatment_id=first.treatment_id, sessions=len(reservations))


async def on_payment_succeeded(conn: asyncpg.Connection, booking_id: uuid.UUID, payment_id: str,
                               links: Links) -> str:
    """The card payment of a booking succeeded: confirm it. If its time ran out meanwhile, book the same
    time again if still free; if not (or the booking is gone), ask for a refund. Never a charge without
    a booking. Returns what happened."""
    reservations = await store.lock_reservations(conn, booking_id)
    statuses = {r.status for r in reservations}
    if statuses == {"confirmed"}:
        return "already_confirmed"
    if not reservations or statuses & set(FINAL_STATUSES):
        return await _orphan_payment(conn, booking_id, payment_id, reservations, "booking_gone")
    if any(r.customer is None for r in reservations):
        # A hold whose booking was never written (its request failed after payments answered): nobody to confirm.
        return await _orphan_payment(conn, booking_id, payment_id, reservations, "booking_never_written")
    await store.lock_therapist_time(conn, reservations[0].therapist_id)
    try:
        async with conn.transaction():   # a savepoint: a taken slot must not undo the refund request
            await _confirm(conn, reservations, links)
    except asyncpg.ExclusionViolationError:
        return await _orphan_payment(conn, booking_id, payment_id, reservations, "slot_taken_after_hold_expired")
    late = statuses & {"expired", "released"}
    return "rebooked_after_expiry" if late else "confirmed"


async def _orphan_payment(conn, booking_id: uuid.UUID, payment_id: str, reservations: list[Reservation],
                          reason: str) -> str:
    data = {"booking_id": str(booking_id), "payment_id": payment_id, "reason": reason}
    if reservations:
        customer = reservations[0].customer
        data["customer"] = {"name": customer.name if customer else None, "email": customer.email if customer else None}
    await add_event(conn, Event("booking.payment_orphaned", data,
                                clinic_id=str(reservations[0].clinic_id) if reservations else None))
    log.warning("paid booking could not be confirmed; refund requested",
                extra={"booking_id": str(booking_id), "reason": reason})
    return reason


async def _confirm(conn, reservations: list[Reservation], links: Links, clinic: Clinic | None = None,
                   treatment: Treatment | None = None) -> None:
    """Confirm the sessions of a paid booking, with their events (each announced with its manage link)."""
    described = await _particulars(conn, reservations[0], clinic, treatment)
    for reservation in reservations:
        reservation.confirm(described, links.manage_url)
    await store.confirm_paid(conn, [r.id for r in reservations])
    for reservation in reservations:
        await _record_events(conn, reservation)


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
        raise BookingError(422, "screening_incomplete", "Please answer every screening question yes or no",
                           {"missing": exc.missing, "unknown": exc.unknown}) from None


async def _screen(conn, clinic: Clinic, treatment: Treatment, customer: Customer,
                  answers: dict[str, bool] | None) -> screening.Assessment | None:
    form = screening.questionnaire()
    if answers is None:
        if not treatment.requires_screening or await store.has_screening_on_file(conn, clinic.id, customer.email):
            return None
        raise BookingError(422, "screening_required", form.intro,
                           {"questions": [{"id": q.id, "text": q.text} for q in form.questions]})
    result = assess_screening(answers)
    if result.stops_booking:
        raise BookingError(422, "screening_red_flag", " ".join(result.advice),
                           {"outcome": result.outcome, "advice": list(result.advice)})
    return result


# --- managing a booking --------------------------------------------------------------------------

def check_manage_token(links: Links, booking_id: uuid.UUID, token: str | None, now: datetime) -> None:
    try:
        check_token(links.key, token or "", booking_id, now)
    except TokenInvalid:
        raise BookingError(403, "invalid_token", "This link is not valid or has expired") from None


async def _particulars(conn, reservation: Reservation, clinic: Clinic | None = None,
                       treatment: Treatment | None = None) -> Particulars:
    """What the reservation's events name; `clinic` and `treatment` if the caller has them already."""
    clinic = clinic or await store.get_clinic_by_id(conn, reservation.clinic_id)
    treatment = treatment or await store.get_treatment(conn, clinic.id, reservation.treatment_id)
    return Particulars(clinic, treatment, await store.get_therapist(conn, clinic.id, reservation.therapist_id))


async def _record_events(conn, reservation: Reservation) -> None:
    for event in reservation.events:
        await add_event(conn, event)


async def _locked_booking(conn, booking_id: uuid.UUID) -> Reservation:
    reservation = await store.lock_booking(conn, booking_id)
    if reservation is None:
        raise BookingError(404, "booking_not_found", "No such booking")
    return reservation


async def cancel(conn: asyncpg.Connection, booking_id: uuid.UUID, now: datetime) -> Reservation:
    reservation = await _locked_booking(conn, booking_id)
    reservation.cancel(await _particulars(conn, reservation), now)
    await store.cancel_booking(conn, booking_id)
    await _record_events(conn, reservation)
    return reservation


async def reschedule(conn: asyncpg.Connection, booking_id: uuid.UUID, start: datetime,
                     therapist_id: uuid.UUID | None, now: datetime, links: Links) -> Reservation:
    reservation = await _locked_booking(conn, booking_id)
    booked = await _particulars(conn, reservation)
    clinic, treatment = booked.clinic, booked.treatment
    reservation.check_changeable(clinic, now)
    therapist = await therapist_for(conn, clinic, therapist_id or reservation.therapist_id, treatment)
    await _check_start(conn, clinic, treatment, therapist.id, start, now)
    blocked = treatment.timing.blocked(start)
    await store.lock_therapist_time(conn, therapist.id)
    await _expire_in_the_way(conn, therapist.id, blocked)
    reservation.reschedule(Particulars(clinic, treatment, therapist), booked.therapist, start, now, links.manage_url)
    try:
        await store.move_booking(conn, booking_id, therapist.id, start, reservation.end, blocked)
    except asyncpg.ExclusionViolationError:
        raise BookingError(409, "slot_taken", "That time has just been taken; please choose another") from None
    await _record_events(conn, reservation)
    return reservation


async def record_outcome(conn: asyncpg.Connection, clinic_id: uuid.UUID, booking_id: uuid.UUID, outcome: str,
                         now: datetime) -> None:
    """The clinic marks a visit completed or a no-show (`outcome` is the status), once its time has come."""
    reservation = await store.lock_clinic_booking(conn, clinic_id, booking_id)
    if reservation is None:
        raise BookingError(404, "booking_not_found", "No such booking")
    if reservation.record_outcome(outcome, await _particulars(conn, reservation), now):
        await store.set_outcome(conn, booking_id, outcome)
        await _record_events(conn, reservation)


async def release_hold(conn: asyncpg.Connection, hold_id: uuid.UUID) -> int:
    """The customer chose another time, or the screening stopped the booking: the held time is free again
    at once, announced as `booking.released` (payments treats it as an expiry). Returns the holds released;
    0 if there was nothing held (already booked, expired or released: a repeat changes nothing)."""
    released = await store.release_holds(conn, hold_id)
    for lapsed in released:
        await add_event(conn, lapsed.event)
    return len(released)


# --- housekeeping --------------------------------------------------------------------------------

async def expire_holds(conn: asyncpg.Connection, limit: int = 500) -> int:
    """The periodic sweep: expired holds become 'expired' with a booking.expired event."""
    expired = await store.claim_expired_holds(conn, limit)
    for lapsed in expired:
        await add_event(conn, lapsed.event)
    return len(expired)
