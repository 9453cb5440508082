"""The booking use cases' one port: a unit of work that owns the transaction, hands out the catalogue, the
reservations and the screenings, and on commit writes the events raised meanwhile to the outbox with the
change. Two adapters keep its promises: PostgresUnitOfWork here, and in_memory_unit_of_work's fake for unit
tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import asyncpg

from services.booking import payment_policy, store
from services.booking.availability import Interval, Schedule
from services.booking.domain import Clinic, Course, Hold, Therapist, Treatment
from services.booking.reservation import Lapsed, Reservation
from shared.events import Event
from shared.outbox import add_event


class SlotTaken(Exception):
    """A reservation would overlap a live one of the same therapist (the exclusion constraint's refusal)."""

    def __init__(self, start: datetime):
        super().__init__(start)
        self.start = start


class HoldKeyInUse(Exception):
    """Another request with this Idempotency-Key is writing its hold."""


class ScheduleChanged(Exception):
    """The therapist's schedule changed after the reservation was judged by it: judge it again."""


class Catalogue(Protocol):
    async def clinic(self, slug: str) -> Clinic | None: ...
    async def clinic_by_id(self, clinic_id: uuid.UUID) -> Clinic: ...
    async def treatment(self, clinic_id: uuid.UUID, treatment_id: uuid.UUID) -> Treatment | None: ...
    async def therapist(self, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> Therapist | None: ...
    async def offered_therapist(self, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> Therapist | None:
        """As `therapist`, for a new booking or move: None if the clinic no longer offers them (archived)."""

    async def course(self, clinic_id: uuid.UUID, course_id: uuid.UUID) -> Course | None: ...

    async def payment_policy(self, clinic_id: uuid.UUID, treatment_id: uuid.UUID) -> dict:
        """The policy a booking of the treatment is paid by (its own, else the clinic's: payment_policy.effective)."""

    async def hold_context(
        self, slug: str, treatment_id: uuid.UUID, therapist_id: uuid.UUID, start: datetime
    ) -> store.HoldContext | None:
        """None if there is no such clinic."""

    async def schedules(
        self, therapist_ids: list[uuid.UUID], window: Interval, *, with_busy: bool = True
    ) -> list[Schedule]: ...

    async def availability_context(
        self, slug: str, treatment_id: uuid.UUID, therapist_id: uuid.UUID | None, days: store.DaysAsked, now: datetime
    ) -> store.AvailabilityContext | None: ...


class Reservations(Protocol):
    """Reads hand out Reservations whose events the unit of work collects; writes are kept only on commit."""

    def add_holds(self, holds: list[Hold], hold_key: str | None) -> None:
        """Written on commit, which raises SlotTaken or HoldKeyInUse for them."""

    async def lock(self, hold_or_series_id: uuid.UUID) -> list[Reservation]:
        """The hold, or every session of the series, in order."""

    async def lock_booking(self, booking_id: uuid.UUID, clinic_id: uuid.UUID | None = None) -> Reservation | None: ...
    async def for_hold_key(self, clinic_id: uuid.UUID, hold_key: str) -> list[Reservation]: ...

    async def lock_therapist_time(self, therapist_id: uuid.UUID) -> None:
        """Until commit, nobody else changes this therapist's reservations."""

    # A reservation is judged by its therapist's schedule, which the clinic may change meanwhile
    # (services/booking/schedule_changes.py); one of these keeps the judgement true until commit.
    async def lock_schedule(self, therapist_id: uuid.UUID) -> None:
        """Before reading the schedule to judge by: until commit, it does not change."""

    async def check_schedule(self, therapist_id: uuid.UUID, schedule_version: int) -> None:
        """lock_schedule, for a schedule read already: ScheduleChanged if it is not that version any more."""

    def judged_by(self, therapist_id: uuid.UUID, schedule_version: int) -> None:
        """The holds added were judged by this version of the therapist's schedule: commit writes them only
        while it is still that one, else raises ScheduleChanged (and writes nothing)."""

    async def expire_overlapping(self, therapist_id: uuid.UUID, blocked: Interval) -> list[Lapsed]: ...
    async def release(self, hold_or_series_id: uuid.UUID) -> list[Lapsed]: ...
    async def claim_expired(self, limit: int) -> list[Lapsed]: ...
    async def save_awaiting_payment(self, reservations: list[Reservation]) -> None: ...
    async def save_payment(self, reservations: list[Reservation]) -> None: ...
    async def save_back_to_hold(self, reservations: list[Reservation]) -> None: ...

    async def save_confirmed(self, reservations: list[Reservation]) -> None:
        """SlotTaken if one revived in a time taken meanwhile; the unit of work stays usable."""

    async def save_cancelled(self, reservation: Reservation) -> None: ...
    async def save_outcome(self, reservation: Reservation) -> None: ...

    async def save_move(self, reservation: Reservation, blocked: Interval) -> None:
        """SlotTaken if the new time overlaps a live reservation."""


class Screenings(Protocol):
    async def on_file(self, clinic_id: uuid.UUID, email: str) -> bool:
        """Did this customer answer the screening at this clinic within the last year?"""

    async def add(
        self, booking_id: uuid.UUID, clinic_id: uuid.UUID, version: int, sealed: str, outcome: str
    ) -> None: ...
    async def remove(self, booking_id: uuid.UUID) -> None: ...


class UnitOfWork(Protocol):
    catalogue: Catalogue
    reservations: Reservations
    screenings: Screenings

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc) -> None:
        """What was not committed is undone."""

    def add_event(self, event: Event) -> None:
        """Written to the outbox on commit, before the events of the reservations handed out."""

    async def commit(self) -> None:
        """Keep the changes and their events, or (raising) none of them; the unit of work can go on after."""


@dataclass
class Pending:
    """What a unit of work keeps until commit: holds to write, events added, and the reservations it handed
    out, whose events follow those."""

    holds: list[tuple[list[Hold], str | None]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    schedule_versions: dict[uuid.UUID, int] = field(default_factory=dict)  # by therapist (judged_by)
    handed_out: list[Reservation] = field(default_factory=list)

    def outbox(self) -> list[Event]:
        return self.events + [event for reservation in self.handed_out for event in reservation.events]

    def announced(self) -> None:
        for reservation in self.handed_out:
            reservation.events.clear()


class Collecting:
    """Both adapters' collecting of what commit writes (Pending)."""

    pending: Pending

    def add_event(self, event: Event) -> None:
        self.pending.events.append(event)

    def seen(self, reservations: list[Reservation]) -> list[Reservation]:
        self.pending.handed_out.extend(reservations)
        return reservations


class PostgresUnitOfWork(Collecting):
    """A connection from `pool` while entered, and a transaction begun at the first write or locking read (so
    that a hold is read and written in as few round trips as without one). `on(conn)`: on a connection the
    caller has; inside the caller's transaction its own is a savepoint, kept if the caller's commits (a
    stream consumer's, with its inbox row)."""

    def __init__(self, pool: asyncpg.Pool | None):
        self._pool = pool
        self._given: asyncpg.Connection | None = None
        self.catalogue = _PostgresCatalogue(self)
        self.reservations = _PostgresReservations(self)
        self.screenings = _PostgresScreenings(self)

    @classmethod
    def on(cls, conn: asyncpg.Connection) -> PostgresUnitOfWork:
        uow = cls(None)
        uow._given = conn
        return uow

    async def __aenter__(self) -> PostgresUnitOfWork:
        self._acquired = None if self._given else self._pool.acquire()
        self.conn = self._given or await self._acquired.__aenter__()
        self._transaction: asyncpg.transaction.Transaction | None = None
        self._reset()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            await self._rollback(exc)
        finally:
            if self._acquired is not None:
                await self._acquired.__aexit__(exc_type, exc, tb)

    def _reset(self) -> None:
        self.pending = Pending()

    async def in_transaction(self) -> asyncpg.Connection:
        if self._transaction is None:
            transaction = self.conn.transaction()
            await transaction.start()  # kept only once started: one cancelled meanwhile is not ours to undo
            self._transaction = transaction
        return self.conn

    async def _rollback(self, under_way: BaseException | None = None) -> None:
        """Undo what is not committed. With an error `under_way`, that error is the one raised: if the rollback
        fails too (a cancelled statement can leave the connection unable to), what is left open is the pool's
        (or the caller's transaction's) to roll back. Raising the rollback's error instead would turn a
        cancellation into an error that a loop catching errors carries on after."""
        transaction, self._transaction = self._transaction, None
        self._reset()
        if transaction is None:
            return
        try:
            await transaction.rollback()
        except Exception:
            if under_way is None:
                raise

    async def commit(self) -> None:
        events = self.pending.outbox()
        try:
            if self._transaction is None and (fast := _one_hold_announced(self.pending, events)) is not None:
                hold, hold_key, version = fast
                if not await _written(store.insert_hold_announced(self.conn, hold, hold_key, events[0], version), hold):
                    raise ScheduleChanged()
            else:
                conn = await self.in_transaction()
                for therapist_id, version in self.pending.schedule_versions.items():
                    if not await store.schedule_unchanged(conn, therapist_id, version):
                        raise ScheduleChanged()
                for holds, hold_key in self.pending.holds:
                    for i, hold in enumerate(holds):
                        await _written(store.insert_hold(conn, hold, hold_key if i == 0 else None), hold)
                for event in events:
                    await add_event(conn, event)
                # Forgotten first: a COMMIT that fails has ended the transaction, with nothing to roll back.
                transaction, self._transaction = self._transaction, None
                await transaction.commit()
        except BaseException as error:
            await self._rollback(error)
            raise
        self.pending.announced()
        self._reset()


def _one_hold_announced(pending: Pending, events: list[Event]) -> tuple[Hold, str | None, int] | None:
    """If the commit is one hold and its event, judged by a known version of its therapist's schedule, which
    one statement writes in its own transaction: the hold, its key and that version."""
    staged = pending.holds
    if len(staged) == 1 and len(staged[0][0]) == 1 and len(events) == 1:
        [([hold], hold_key)] = staged
        version = pending.schedule_versions.get(hold.therapist_id)
        if version is not None:
            return hold, hold_key, version
    return None


async def _written(write, hold: Hold):
    try:
        return await write
    except asyncpg.ExclusionViolationError:
        raise SlotTaken(hold.start) from None
    except asyncpg.UniqueViolationError:
        raise HoldKeyInUse() from None


class _PostgresCatalogue:
    def __init__(self, uow: PostgresUnitOfWork):
        self._uow = uow

    async def clinic(self, slug):
        return await store.get_clinic(self._uow.conn, slug)

    async def clinic_by_id(self, clinic_id):
        return await store.get_clinic_by_id(self._uow.conn, clinic_id)

    async def treatment(self, clinic_id, treatment_id):
        return await store.get_treatment(self._uow.conn, clinic_id, treatment_id)

    async def therapist(self, clinic_id, therapist_id):
        return await store.get_therapist(self._uow.conn, clinic_id, therapist_id)

    async def offered_therapist(self, clinic_id, therapist_id):
        return await store.get_therapist(self._uow.conn, clinic_id, therapist_id, offered_only=True)

    async def course(self, clinic_id, course_id):
        return await store.get_course(self._uow.conn, clinic_id, course_id)

    async def payment_policy(self, clinic_id, treatment_id):
        return payment_policy.effective(*await store.payment_policies(self._uow.conn, clinic_id, treatment_id))

    async def hold_context(self, slug, treatment_id, therapist_id, start):
        return await store.hold_context(self._uow.conn, slug, treatment_id, therapist_id, start)

    async def schedules(self, therapist_ids, window, *, with_busy=True):
        return await store.load_schedules(self._uow.conn, therapist_ids, window, with_busy=with_busy)

    async def availability_context(self, slug, treatment_id, therapist_id, days, now):
        return await store.availability_context(self._uow.conn, slug, treatment_id, therapist_id, days, now)


class _PostgresReservations:
    def __init__(self, uow: PostgresUnitOfWork):
        self._uow = uow

    def add_holds(self, holds, hold_key):
        self._uow.pending.holds.append((holds, hold_key))

    async def lock(self, hold_or_series_id):
        conn = await self._uow.in_transaction()
        return self._uow.seen(await store.lock_reservations(conn, hold_or_series_id))

    async def lock_booking(self, booking_id, clinic_id=None):
        conn = await self._uow.in_transaction()
        if clinic_id is None:
            found = await store.lock_booking(conn, booking_id)
        else:
            found = await store.lock_clinic_booking(conn, clinic_id, booking_id)
        return self._uow.seen([found])[0] if found else None

    async def for_hold_key(self, clinic_id, hold_key):
        return self._uow.seen(await store.holds_for_key(self._uow.conn, clinic_id, hold_key))

    async def lock_therapist_time(self, therapist_id):
        await store.lock_therapist_time(await self._uow.in_transaction(), therapist_id)

    async def lock_schedule(self, therapist_id):
        await store.lock_schedule(await self._uow.in_transaction(), therapist_id)

    async def check_schedule(self, therapist_id, schedule_version):
        if not await store.schedule_unchanged(await self._uow.in_transaction(), therapist_id, schedule_version):
            raise ScheduleChanged()

    def judged_by(self, therapist_id, schedule_version):
        self._uow.pending.schedule_versions[therapist_id] = schedule_version

    async def expire_overlapping(self, therapist_id, blocked):
        return await store.expire_overlapping_holds(await self._uow.in_transaction(), therapist_id, blocked)

    async def release(self, hold_or_series_id):
        return await store.release_holds(await self._uow.in_transaction(), hold_or_series_id)

    async def claim_expired(self, limit):
        return await store.claim_expired_holds(await self._uow.in_transaction(), limit)

    async def save_awaiting_payment(self, reservations):
        first = reservations[0]
        await store.await_payment(
            await self._uow.in_transaction(), _ids(reservations), first.customer, first.confirm_key, first.expires_at
        )

    async def save_payment(self, reservations):
        conn, first = await self._uow.in_transaction(), reservations[0]
        if first.payment_id is not None:
            await store.attach_payment(conn, _ids(reservations), first.payment_id)
        if first.voucher is not None:
            await store.note_voucher(conn, _ids(reservations), first.voucher)
        if first.payment_policy_words is not None:
            await store.note_due_at_clinic(conn, _ids(reservations), first.due_at_clinic, first.payment_policy_words)
        if first.save_card or first.no_show_fee is not None or first.late_cancellation_fee is not None:
            await store.note_fees(
                conn, _ids(reservations), first.no_show_fee, first.late_cancellation_fee, first.save_card
            )

    async def save_back_to_hold(self, reservations):
        await store.back_to_hold(await self._uow.in_transaction(), _ids(reservations), reservations[0].expires_at)

    async def save_confirmed(self, reservations):
        conn = await self._uow.in_transaction()
        try:
            async with conn.transaction():  # a savepoint: the unit of work goes on if the time was taken
                await store.confirm_paid(conn, _ids(reservations))
        except asyncpg.ExclusionViolationError:
            raise SlotTaken(reservations[0].start) from None

    async def save_cancelled(self, reservation):
        await store.cancel_booking(await self._uow.in_transaction(), reservation.id)

    async def save_outcome(self, reservation):
        await store.set_outcome(await self._uow.in_transaction(), reservation.id, reservation.status)

    async def save_move(self, reservation, blocked):
        try:
            await store.move_booking(
                await self._uow.in_transaction(),
                reservation.id,
                reservation.therapist_id,
                reservation.start,
                reservation.end,
                blocked,
            )
        except asyncpg.ExclusionViolationError:
            raise SlotTaken(reservation.start) from None


class _PostgresScreenings:
    def __init__(self, uow: PostgresUnitOfWork):
        self._uow = uow

    async def on_file(self, clinic_id, email):
        return await store.has_screening_on_file(self._uow.conn, clinic_id, email)

    async def add(self, booking_id, clinic_id, version, sealed, outcome):
        await store.insert_screening(await self._uow.in_transaction(), booking_id, clinic_id, version, sealed, outcome)

    async def remove(self, booking_id):
        await store.delete_screening(await self._uow.in_transaction(), booking_id)


def _ids(reservations: list[Reservation]) -> list[uuid.UUID]:
    return [r.id for r in reservations]
