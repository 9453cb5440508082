"""The unit of work in memory, for the use cases' unit tests: dicts instead of tables, with PostgreSQL's
promises that the use cases rely on (unit_of_work.UnitOfWork): nothing kept until commit, two live
reservations of one therapist never overlap (the exclusion constraint), one hold per Idempotency-Key."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from services.booking import payment_policy, store
from services.booking.availability import Interval, Schedule
from services.booking.domain import LIVE_STATUSES, Clinic, Course, Hold, Therapist, Treatment, statuses_before
from services.booking.reservation import Lapsed, Reservation
from services.booking.unit_of_work import Collecting, HoldKeyInUse, Pending, SlotTaken
from shared.events import Event

SCREENING_KEPT = timedelta(days=365)  # store.has_screening_on_file's year


@dataclass
class Row:
    """A bookings row: the reservation, the time it blocks (with buffers), and its hold's Idempotency-Key."""

    reservation: Reservation
    blocked: Interval
    hold_key: str | None = None


@dataclass
class Tables:
    """What is committed. The catalogue's dicts are keyed by id, each entry with its clinic's id."""

    clinics: dict[uuid.UUID, Clinic] = dataclasses.field(default_factory=dict)
    treatments: dict[uuid.UUID, tuple[uuid.UUID, Treatment]] = dataclasses.field(default_factory=dict)
    therapists: dict[uuid.UUID, tuple[uuid.UUID, Therapist]] = dataclasses.field(default_factory=dict)
    courses: dict[uuid.UUID, tuple[uuid.UUID, Course]] = dataclasses.field(default_factory=dict)
    schedules: dict[uuid.UUID, Schedule] = dataclasses.field(default_factory=dict)  # without busy
    bookings: dict[uuid.UUID, Row] = dataclasses.field(default_factory=dict)
    # booking id -> clinic id, when, questionnaire version, sealed answers, outcome
    screenings: dict[uuid.UUID, tuple[uuid.UUID, datetime, int, str, str]] = dataclasses.field(default_factory=dict)
    outbox: list[Event] = dataclasses.field(default_factory=list)
    # clinic or treatment id -> its payment policy (issue 20); none: full (a treatment: the clinic's)
    payment_policies: dict[uuid.UUID, dict] = dataclasses.field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _handed_out(reservation: Reservation) -> Reservation:
    return dataclasses.replace(reservation, voucher=copy.copy(reservation.voucher), events=[])


def _lapsed(reservation: Reservation) -> Lapsed:
    return Lapsed(
        reservation.id, reservation.clinic_id, reservation.series_id, reservation.payment_id, reservation.status
    )


def _live(row: Row) -> bool:
    """Whether the exclusion constraint counts it (an expired hold not yet marked still does)."""
    return row.reservation.status in LIVE_STATUSES


def _blocking(row: Row, now: datetime) -> bool:
    """store.LIVE: what availability counts as busy."""
    r = row.reservation
    return _live(row) and (r.status == "confirmed" or r.expires_at > now)


class InMemoryUnitOfWork(Collecting):
    def __init__(self, tables: Tables | None = None):
        self.tables = tables or Tables()
        self.catalogue = _Catalogue(self)
        self.reservations = _Reservations(self)
        self.screenings = _Screenings(self)

    async def __aenter__(self) -> InMemoryUnitOfWork:
        self._begin()
        return self

    async def __aexit__(self, *exc) -> None:
        self._begin()

    def _begin(self) -> None:
        self.bookings = copy.deepcopy(self.tables.bookings)
        self.screening_rows = dict(self.tables.screenings)
        self.pending = Pending()

    async def commit(self) -> None:
        try:
            for holds, hold_key in self.pending.holds:
                for i, hold in enumerate(holds):
                    self._insert_hold(hold, hold_key if i == 0 else None)
        except (SlotTaken, HoldKeyInUse):
            self._begin()
            raise
        self.tables.bookings = self.bookings
        self.tables.screenings = self.screening_rows
        self.tables.outbox += self.pending.outbox()
        self.pending.announced()
        self._begin()

    def _insert_hold(self, hold: Hold, hold_key: str | None) -> None:
        if hold_key is not None and any(
            row.hold_key == hold_key and row.reservation.clinic_id == hold.clinic_id for row in self.bookings.values()
        ):
            raise HoldKeyInUse()
        self.check_free(hold.therapist_id, hold.blocked, hold.start)
        reservation = Reservation(
            id=hold.id,
            clinic_id=hold.clinic_id,
            treatment_id=hold.treatment_id,
            therapist_id=hold.therapist_id,
            start=hold.start,
            end=hold.end,
            status="held",
            expires_at=hold.expires_at,
            price_amount=hold.price_amount,
            currency=hold.currency,
            course_id=hold.course_id,
            series_id=hold.series_id,
            series_index=hold.series_index,
            created_at=_now(),
        )
        self.bookings[hold.id] = Row(reservation, hold.blocked, hold_key)

    def check_free(
        self, therapist_id: uuid.UUID, blocked: Interval, start: datetime, moving: uuid.UUID | None = None
    ) -> None:
        """The exclusion constraint: SlotTaken if a live reservation of the therapist (but `moving`) overlaps."""
        if any(
            _live(row)
            and row.reservation.therapist_id == therapist_id
            and row.blocked.overlaps(blocked)
            and row.reservation.id != moving
            for row in self.bookings.values()
        ):
            raise SlotTaken(start)


class _Catalogue:
    def __init__(self, uow: InMemoryUnitOfWork):
        self._uow = uow

    @property
    def _tables(self) -> Tables:
        return self._uow.tables

    async def clinic(self, slug):
        return next((c for c in self._tables.clinics.values() if c.slug == slug), None)

    async def clinic_by_id(self, clinic_id):
        return self._tables.clinics[clinic_id]

    def _clinics(self, entries: dict, clinic_id: uuid.UUID, entity_id: uuid.UUID | None):
        owner, entity = entries.get(entity_id, (None, None))
        return entity if owner == clinic_id else None

    async def treatment(self, clinic_id, treatment_id):
        return self._clinics(self._tables.treatments, clinic_id, treatment_id)

    async def payment_policy(self, clinic_id, treatment_id):
        return payment_policy.effective(
            self._tables.payment_policies.get(clinic_id), self._tables.payment_policies.get(treatment_id)
        )

    async def therapist(self, clinic_id, therapist_id):
        return self._clinics(self._tables.therapists, clinic_id, therapist_id)

    async def offered_therapist(self, clinic_id, therapist_id):  # the fake archives nobody
        return self._clinics(self._tables.therapists, clinic_id, therapist_id)

    async def course(self, clinic_id, course_id):
        return self._clinics(self._tables.courses, clinic_id, course_id)

    async def _named(self, slug, treatment_id, therapist_id) -> store.Named | None:
        clinic = await self.clinic(slug)
        if clinic is None:
            return None
        return store.Named(
            clinic, await self.treatment(clinic.id, treatment_id), await self.therapist(clinic.id, therapist_id)
        )

    async def hold_context(self, slug, treatment_id, therapist_id, start):
        named = await self._named(slug, treatment_id, therapist_id)
        if named is None:
            return None
        return store.HoldContext(named, self._tables.schedules.get(therapist_id, Schedule(therapist_id, ())))

    async def schedules(self, therapist_ids, window, *, with_busy=True):
        now, found = _now(), []
        for therapist_id in therapist_ids:
            schedule = self._tables.schedules.get(therapist_id, Schedule(therapist_id, ()))
            busy = tuple(
                row.blocked
                for row in self._uow.bookings.values()
                if with_busy
                and row.reservation.therapist_id == therapist_id
                and _blocking(row, now)
                and row.blocked.overlaps(window)
            )
            found.append(
                dataclasses.replace(
                    schedule, time_off=tuple(o for o in schedule.time_off if o.overlaps(window)), busy=busy
                )
            )
        return found

    async def availability_context(self, slug, treatment_id, therapist_id, days, now):
        named = await self._named(slug, treatment_id, therapist_id)
        if named is None:
            return None
        clinic = named.clinic
        first = days.first or now.astimezone(clinic.rules.zone).date()
        last = days.last or first + timedelta(days=days.default_days - 1)
        if therapist_id is not None:
            considered = [named.therapist] if named.therapist else []
        else:
            considered = sorted(
                (
                    Therapist(t.id, t.name, frozenset({treatment_id}))
                    for owner, t in self._tables.therapists.values()
                    if owner == clinic.id and treatment_id in t.treatment_ids
                ),
                key=lambda t: t.name,
            )
        ids = [t.id for t in considered]
        if first <= last and (last - first).days < days.max_days:
            zone = clinic.rules.zone
            window = Interval(
                datetime.combine(first, datetime.min.time(), tzinfo=zone) - days.padding,
                datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone) + days.padding,
            )
            schedules = await self.schedules(ids, window)
        else:  # the caller refuses such days, having read nothing
            schedules = [Schedule(tid, ()) for tid in ids]
        return store.AvailabilityContext(named, first, last, considered, schedules)


class _Reservations:
    def __init__(self, uow: InMemoryUnitOfWork):
        self._uow = uow

    def _rows(self, predicate) -> list[Row]:
        rows = [row for row in self._uow.bookings.values() if predicate(row.reservation)]
        return sorted(
            rows, key=lambda row: (row.reservation.series_index is not None, row.reservation.series_index or 0)
        )

    def _hand_out(self, rows: list[Row]) -> list[Reservation]:
        return self._uow.seen([_handed_out(row.reservation) for row in rows])

    def _update(self, reservations: list[Reservation], **changes) -> None:
        for reservation in reservations:
            row = self._uow.bookings[reservation.id]
            row.reservation = dataclasses.replace(row.reservation, **changes)

    def add_holds(self, holds, hold_key):
        self._uow.pending.holds.append((holds, hold_key))

    async def lock(self, hold_or_series_id):
        return self._hand_out(self._rows(lambda r: hold_or_series_id in (r.id, r.series_id)))

    async def lock_booking(self, booking_id, clinic_id=None):
        found = self._rows(lambda r: r.id == booking_id and clinic_id in (None, r.clinic_id))
        return self._hand_out(found)[0] if found else None

    async def for_hold_key(self, clinic_id, hold_key):
        keyed = [
            row.reservation
            for row in self._uow.bookings.values()
            if row.hold_key == hold_key and row.reservation.clinic_id == clinic_id
        ]
        if not keyed:
            return []
        first = keyed[0]
        return self._hand_out(
            self._rows(lambda r: r.id == first.id or (first.series_id is not None and r.series_id == first.series_id))
        )

    async def lock_therapist_time(self, therapist_id):
        """Nothing to wait for: the fake has one writer at a time."""

    async def lock_schedule(self, therapist_id):
        """Nothing to wait for: the fake's schedules change only between use cases."""

    async def check_schedule(self, therapist_id, schedule_version):
        """Nothing to compare: the fake's schedules have no versions (its hold_context names none)."""

    def judged_by(self, therapist_id, schedule_version):
        """As check_schedule."""

    def _mark(self, status: str, predicate) -> list[Lapsed]:
        rows = self._rows(lambda r: r.status in statuses_before(status) and predicate(r))
        self._update([row.reservation for row in rows], status=status)
        return [_lapsed(self._uow.bookings[row.reservation.id].reservation) for row in rows]

    async def expire_overlapping(self, therapist_id, blocked):
        now = _now()
        return self._mark(
            "expired",
            lambda r: (
                r.therapist_id == therapist_id
                and r.expires_at <= now
                and self._uow.bookings[r.id].blocked.overlaps(blocked)
            ),
        )

    async def release(self, hold_or_series_id):
        return self._mark("released", lambda r: hold_or_series_id in (r.id, r.series_id))

    async def claim_expired(self, limit):
        now = _now()
        due = sorted(
            (
                row.reservation
                for row in self._uow.bookings.values()
                if row.reservation.status in statuses_before("expired") and row.reservation.expires_at <= now
            ),
            key=lambda r: r.expires_at,
        )[:limit]
        ids = {r.id for r in due}
        return self._mark("expired", lambda r: r.id in ids)

    async def save_awaiting_payment(self, reservations):
        first = reservations[0]
        self._update(
            reservations,
            status="pending_payment",
            expires_at=first.expires_at,
            customer=first.customer,
            confirm_key=first.confirm_key,
        )

    async def save_payment(self, reservations):
        first = reservations[0]
        if first.payment_id is not None:
            self._update(reservations, payment_id=first.payment_id)
        if first.voucher is not None:
            self._update(reservations, voucher=copy.copy(first.voucher))
        if first.payment_policy_words is not None:
            self._update(
                reservations, due_at_clinic=first.due_at_clinic, payment_policy_words=first.payment_policy_words
            )
        if first.save_card or first.no_show_fee is not None or first.late_cancellation_fee is not None:
            self._update(
                reservations,
                no_show_fee=first.no_show_fee,
                late_cancellation_fee=first.late_cancellation_fee,
                save_card=first.save_card,
            )

    async def save_back_to_hold(self, reservations):
        self._update(
            reservations, status="held", expires_at=reservations[0].expires_at, customer=None, confirm_key=None
        )

    async def save_confirmed(self, reservations):
        for reservation in reservations:
            row = self._uow.bookings[reservation.id]
            if not _live(row):  # revived: its time must still be free (checked before any is changed)
                self._uow.check_free(
                    row.reservation.therapist_id, row.blocked, row.reservation.start, moving=row.reservation.id
                )
        self._update(reservations, status="confirmed", expires_at=None)

    async def save_cancelled(self, reservation):
        self._update([reservation], status="cancelled")

    async def save_outcome(self, reservation):
        self._update([reservation], status=reservation.status)

    async def save_move(self, reservation, blocked):
        self._uow.check_free(reservation.therapist_id, blocked, reservation.start, moving=reservation.id)
        self._update([reservation], therapist_id=reservation.therapist_id, start=reservation.start, end=reservation.end)
        self._uow.bookings[reservation.id].blocked = blocked


class _Screenings:
    def __init__(self, uow: InMemoryUnitOfWork):
        self._uow = uow

    async def on_file(self, clinic_id, email):
        since = _now() - SCREENING_KEPT
        bookings = self._uow.bookings
        return any(
            owner == clinic_id
            and created_at > since
            and booking_id in bookings
            and (customer := bookings[booking_id].reservation.customer) is not None
            and customer.email.lower() == email.lower()
            for booking_id, (owner, created_at, *_) in self._uow.screening_rows.items()
        )

    async def add(self, booking_id, clinic_id, version, sealed, outcome):
        self._uow.screening_rows[booking_id] = (clinic_id, _now(), version, sealed, outcome)

    async def remove(self, booking_id):
        self._uow.screening_rows.pop(booking_id, None)
