"""The waitlist's use cases (issue 20): joining, leaving, the clinic's list and removal, an offer as its link shows
it, and the matcher that offers free times to the people waiting. Its rules are waitlist_rules', its SQL
waitlist_store's; every change writes its events to the outbox in its own transaction.

The matcher (`offer_freed_times`) works one (clinic, treatment) pair at a time, each in a transaction of its own
under an advisory lock of that pair: of two matchers (two booking replicas' background tasks) one offers the pair's
times while the other waits, then finds them held. For a pair it reads the waiting entries (oldest first), the free
times of the treatment by the same availability computation customers see (the clinic's notice and horizon), and
gives each entry the earliest free time that suits it and that it was not offered before: a HOLD written by the
same statement customers' holds are (store.insert_hold, so the exclusion constraint makes each time held once),
lasting the clinic's waitlist_offer_minutes, with the offer, the entry `offered`, and `waitlist.offered` for the
email. When that hold lapses (the sweeper, a hold in the way, a release), store.py lapses the offer with it and the
entry waits again; the next run offers the time to the next person it suits.

Its cost is bounded per run: at most MAX_PAIRS_PER_RUN pairs (drawn at random when there are more), the
MAX_ENTRIES_PER_PAIR oldest waiting entries of each, and free times over at most MAX_SEARCH_DAYS days (or the
clinic's shorter horizon): one schedule read per pair, and the matching in memory."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.booking import store, waitlist_rules, waitlist_store
from services.booking.availability import Interval, Slot, free_slots
from services.booking.domain import BookingError, Clinic, Therapist, Treatment, new_hold
from services.booking.reservation import Particulars, held_event
from services.booking.tokens import TokenInvalid, check_link_token, make_link_token
from services.booking.waitlist_rules import Offering, Waiting, Wish
from services.booking.waitlist_schemas import WaitlistIn
from shared import contracts
from shared.events import Event
from shared.outbox import add_event

log = logging.getLogger(__name__)

MAX_PAIRS_PER_RUN = 50
MAX_ENTRIES_PER_PAIR = 100
MAX_SEARCH_DAYS = 60
# The clinic's list: at most this many entries at once (oldest first).
MAX_LISTED = 500
LEAVE_PURPOSE = "waitlist-leave"
OFFER_PURPOSE = "waitlist-offer"
# Availability is computed on a window padded by a day each side (buffers, time off across midnight).
WINDOW_PADDING = timedelta(days=1)


@dataclass(frozen=True)
class Links:
    """The waitlist's links, signed with the manage-link key for their own purposes (tokens.make_link_token)."""

    public_url: str
    key: str

    def leave_token(self, entry_id: uuid.UUID) -> str:
        return make_link_token(self.key, LEAVE_PURPOSE, entry_id)

    def leave_url(self, entry_id: uuid.UUID) -> str:
        return f"{self.public_url}/waitlist/{entry_id}/leave?token={self.leave_token(entry_id)}"

    def offer_token(self, offer_id: uuid.UUID) -> str:
        return make_link_token(self.key, OFFER_PURPOSE, offer_id)

    def offer_url(self, clinic_slug: str, offer_id: uuid.UUID) -> str:
        return f"{self.public_url}/c/{clinic_slug}/book/offer/{offer_id}?token={self.offer_token(offer_id)}"

    def check(self, purpose: str, token: str | None, thing_id: uuid.UUID, not_found: BookingError) -> None:
        """A link's token for `thing_id`, else `not_found` (a wrong token says no more than a wrong id)."""
        try:
            check_link_token(self.key, purpose, token or "", thing_id)
        except TokenInvalid:
            raise not_found from None


def _clinic_ref(clinic: Clinic) -> contracts.ClinicRef:
    return contracts.ClinicRef(id=str(clinic.id), slug=clinic.slug, name=clinic.name, timezone=clinic.timezone)


def joined_event(
    entry_id: uuid.UUID,
    clinic: Clinic,
    treatment: Treatment,
    therapist: Therapist | None,
    name: str,
    email: str,
    weekdays: list[int],
    times_of_day: list[str],
    leave_url: str,
) -> Event:
    return contracts.event(
        contracts.WaitlistJoined(
            entry_id=str(entry_id),
            clinic=_clinic_ref(clinic),
            treatment=contracts.Ref(str(treatment.id), treatment.name),
            therapist=contracts.Ref(str(therapist.id), therapist.name) if therapist else None,
            customer=contracts.Person(name, email),
            leave_url=leave_url,
            weekdays=tuple(weekdays),
            times_of_day=tuple(times_of_day),
        ),
        clinic_id=str(clinic.id),
    )


def offered_event(
    offer_id: uuid.UUID,
    entry_id: uuid.UUID,
    clinic: Clinic,
    treatment: Treatment,
    therapist: Therapist,
    start: datetime,
    expires_at: datetime,
    name: str,
    email: str,
    links: Links,
) -> Event:
    return contracts.event(
        contracts.WaitlistOffered(
            offer_id=str(offer_id),
            entry_id=str(entry_id),
            clinic=_clinic_ref(clinic),
            treatment=contracts.Ref(str(treatment.id), treatment.name),
            therapist=contracts.Ref(str(therapist.id), therapist.name),
            start=start,
            end=treatment.timing.end(start),
            expires_at=expires_at,
            customer=contracts.Person(name, email),
            offer_url=links.offer_url(clinic.slug, offer_id),
            leave_url=links.leave_url(entry_id),
        ),
        clinic_id=str(clinic.id),
    )


# --- joining -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Joined:
    entry: asyncpg.Record
    created: bool  # False: an identical live entry of the same person, answered again


def _named_or_refused(named: store.Named | None, body: WaitlistIn) -> tuple[Clinic, Treatment, Therapist | None]:
    if named is None:
        raise BookingError(404, "clinic_not_found", f"No clinic called {body.clinic!r}")
    if named.treatment is None:
        raise BookingError(422, "treatment_not_found", "This clinic has no such treatment", [{"field": "treatment"}])
    if body.therapist is None:
        return named.clinic, named.treatment, None
    if named.therapist is None:
        raise BookingError(422, "therapist_not_found", "This clinic has no such therapist", [{"field": "therapist"}])
    if named.treatment.id not in named.therapist.treatment_ids:
        raise BookingError(
            422,
            "therapist_does_not_give_treatment",
            f"{named.therapist.name} does not give {named.treatment.name}; please choose another therapist or any",
            [{"field": "therapist"}],
        )
    return named.clinic, named.treatment, named.therapist


async def join(pool: asyncpg.Pool, links: Links, body: WaitlistIn) -> Joined:
    """Put the person on the clinic's waitlist for the treatment (announced: the email with the leave link). An
    identical live entry of theirs is answered again instead; more than waitlist_rules allows is refused."""
    email = body.customer.email
    async with pool.acquire() as conn, conn.transaction():
        clinic, treatment, therapist = _named_or_refused(
            await store.named(conn, body.clinic, body.treatment, body.therapist), body
        )
        await waitlist_store.lock_joining(conn, clinic.id, email)
        same = await waitlist_store.identical_live_entry(
            conn, clinic.id, treatment.id, body.therapist, body.weekdays, body.times_of_day, email
        )
        if same is not None:
            return Joined(same, created=False)
        if not waitlist_rules.may_join(await waitlist_store.count_live_entries(conn, clinic.id, email)):
            raise BookingError(
                422,
                "too_many_waitlist_entries",
                f"You are already waiting for {waitlist_rules.MAX_LIVE_ENTRIES_PER_EMAIL} times at this clinic; "
                "please leave one of those waitlists first",
            )
        entry = await waitlist_store.insert_entry(
            conn,
            clinic.id,
            treatment.id,
            body.therapist,
            body.weekdays,
            body.times_of_day,
            body.customer.name,
            email,
        )
        await add_event(
            conn,
            joined_event(
                entry["id"],
                clinic,
                treatment,
                therapist,
                body.customer.name,
                email,
                body.weekdays,
                body.times_of_day,
                links.leave_url(entry["id"]),
            ),
        )
    return Joined(entry, created=True)


# --- leaving, and the clinic's removal ------------------------------------------------------------------------


def _entry_not_found() -> BookingError:
    return BookingError(404, "waitlist_entry_not_found", "No such waitlist entry")


async def _end(conn: asyncpg.Connection, entry_id: uuid.UUID, status: str, clinic_id: uuid.UUID | None) -> str:
    """In the caller's transaction: the entry's open offer withdrawn and its hold released (announced as any
    release is), and the entry `status` (left, removed) unless it had ended already; its status after. Locks in
    waitlist_store's order: the hold, the offer, the entry."""
    if await waitlist_store.entry(conn, entry_id, clinic_id) is None:
        raise _entry_not_found()
    for _ in range(3):  # an offer made or lapsing between the read and the lock: read again
        hold_id = await waitlist_store.open_offer_hold(conn, entry_id)
        if hold_id is None:
            break
        await waitlist_store.lock_hold(conn, hold_id)
        if await waitlist_store.withdraw_offer(conn, entry_id, hold_id):
            for lapsed in await store.release_holds(conn, hold_id):
                await add_event(conn, lapsed.event)
            break
    ended = await waitlist_store.end_entry(conn, entry_id, status, clinic_id)
    if ended is None:
        raise _entry_not_found()
    return ended


async def leave(pool: asyncpg.Pool, links: Links, entry_id: uuid.UUID, token: str) -> str:
    """The person leaves (their link's token checked): an open offer is withdrawn and its time freed. Idempotent;
    an entry already booked or removed stays so. Its status after."""
    links.check(LEAVE_PURPOSE, token, entry_id, _entry_not_found())
    async with pool.acquire() as conn, conn.transaction():
        return await _end(conn, entry_id, "left", None)


async def remove(pool: asyncpg.Pool, clinic_id: uuid.UUID, entry_id: uuid.UUID) -> tuple[Clinic, asyncpg.Record]:
    """The clinic takes the entry off its waitlist (404 for another clinic's): as leaving, `removed`."""
    async with pool.acquire() as conn, conn.transaction():
        await _end(conn, entry_id, "removed", clinic_id)
        return await store.get_clinic_by_id(conn, clinic_id), await waitlist_store.entry(conn, entry_id, clinic_id)


async def clinic_entries(
    pool: asyncpg.Pool, clinic_id: uuid.UUID, status: str | None
) -> tuple[Clinic, list[asyncpg.Record]]:
    """The clinic (its zone shows the times) and its entries, oldest first (at most MAX_LISTED)."""
    async with pool.acquire() as conn:
        clinic = await store.get_clinic_by_id(conn, clinic_id)
        return clinic, await waitlist_store.clinic_entries(conn, clinic_id, status, MAX_LISTED)


# --- an offer, as its link shows it --------------------------------------------------------------------------


def _offer_not_found() -> BookingError:
    return BookingError(404, "waitlist_offer_not_found", "No such offer")


GONE = {
    "lapsed": "This offer has run out: the time was held for you for a while and has now gone to the next person "
    "waiting. You are still on the waitlist.",
    "withdrawn": "This offer was withdrawn: you left the waitlist, or the clinic took you off it.",
    "taken": "This offer has been used: the time it held is being booked or is booked.",
}


async def offer(
    pool: asyncpg.Pool, links: Links, offer_id: uuid.UUID, token: str | None, now: datetime
) -> asyncpg.Record:
    """The offer (its link's token checked), while it is open: else 410 `offer_expired`, saying why in words."""
    links.check(OFFER_PURPOSE, token, offer_id, _offer_not_found())
    async with pool.acquire() as conn:
        found = await waitlist_store.offer(conn, offer_id)
    if found is None:
        raise _offer_not_found()
    status = found["status"]
    if status == "open" and min(found["expires_at"], found["hold_expires_at"] or found["expires_at"]) <= now:
        status = "lapsed"  # run out; the sweeper has not marked it yet
    if status != "open":
        raise BookingError(410, "offer_expired", GONE[status], {"status": status})
    return found


# --- the matcher ---------------------------------------------------------------------------------------------


async def offer_freed_times(
    pool: asyncpg.Pool,
    now: datetime,
    links: Links,
    *,
    max_pairs: int = MAX_PAIRS_PER_RUN,
    max_entries: int = MAX_ENTRIES_PER_PAIR,
) -> int:
    """One run of the matcher: each (clinic, treatment) pair with people waiting, in a transaction of its own under
    the pair's lock; how many offers it made."""
    async with pool.acquire() as conn:
        pairs = await waitlist_store.pairs_waiting(conn, max_pairs)
        made = 0
        for clinic_id, treatment_id in pairs:
            async with conn.transaction():
                made += await _offer_pair(conn, clinic_id, treatment_id, now, links, max_entries)
    if made:
        log.info("waitlist offers made", extra={"count": made})
    return made


def _waiting(row: asyncpg.Record) -> Waiting:
    return Waiting(
        id=row["id"],
        created_at=row["created_at"],
        wish=Wish(row["therapist_id"], frozenset(row["weekdays"]), frozenset(row["times_of_day"])),
        offered_before=frozenset((therapist_id, start) for therapist_id, start in row["offered"]),
    )


async def _offer_pair(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    treatment_id: uuid.UUID,
    now: datetime,
    links: Links,
    max_entries: int,
) -> int:
    await waitlist_store.lock_pair(conn, clinic_id, treatment_id)
    rows = await waitlist_store.waiting_entries(conn, clinic_id, treatment_id, max_entries)
    if not rows:
        return 0  # another matcher offered to them meanwhile (or they left)
    clinic = await store.get_clinic_by_id(conn, clinic_id)
    treatment = await store.get_treatment(conn, clinic_id, treatment_id)
    therapists = {
        r["id"]: Therapist(r["id"], r["name"], frozenset({treatment_id}))
        for r in await waitlist_store.considered_therapists(conn, clinic_id, treatment_id)
    }
    if treatment is None or not therapists:
        return 0
    zone = clinic.rules.zone
    today = now.astimezone(zone).date()
    last = today + timedelta(days=min(clinic.booking_horizon_days, MAX_SEARCH_DAYS))
    window = Interval(
        datetime.combine(today, datetime.min.time(), tzinfo=zone) - WINDOW_PADDING,
        datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone) + WINDOW_PADDING,
    )
    schedules = await store.load_schedules(conn, list(therapists), window)
    offering = Offering(free_slots(schedules, treatment.timing, clinic.rules, today, last, now), treatment.timing, zone)
    by_id = {row["id"]: row for row in rows}
    made, locked = 0, False
    for entry in waitlist_rules.in_queue_order(_waiting(row) for row in rows):
        for slot in offering.candidates(entry):
            if not locked:
                # As a customer's hold takes its therapist's lock (store.THERAPIST_LOCK) before writing, the
                # matcher takes those of all the pair's therapists, once and in one order: two matchers working
                # on two treatments of the same therapists never wait for each other in a circle.
                for therapist_id in sorted(therapists):
                    await store.lock_therapist_time(conn, therapist_id)
                locked = True
            offering.take(slot)  # offered now, or found taken: free no more either way
            described = Particulars(clinic, treatment, therapists[slot.therapist_id])
            if await _offer(conn, by_id[entry.id], slot, described, now, links):
                made += 1
                break
    return made


async def _offer(
    conn: asyncpg.Connection,
    entry: asyncpg.Record,
    slot: Slot,
    described: Particulars,
    now: datetime,
    links: Links,
) -> bool:
    """Hold `slot` for the entry and offer it; False (nothing written) if the time was taken meanwhile."""
    clinic, treatment, therapist = described.clinic, described.treatment, described.therapist
    expires_at = now + timedelta(minutes=clinic.waitlist_offer_minutes)
    hold = dataclasses.replace(new_hold(clinic, treatment, therapist.id, slot.start, now), expires_at=expires_at)
    try:
        async with conn.transaction():  # a savepoint: a time taken meanwhile leaves the rest of the run as it was
            # As a customer's hold (the therapist's lock is the run's): expired holds in the way marked (announced),
            # then the hold, which the exclusion constraint refuses if the time is taken.
            for lapsed in await store.expire_overlapping_holds(conn, therapist.id, hold.blocked):
                await add_event(conn, lapsed.event)
            await store.insert_hold(conn, hold, None)
    except asyncpg.ExclusionViolationError:
        return False
    offer_id = uuid.uuid4()
    await add_event(conn, held_event(hold, described))
    await waitlist_store.insert_offer(conn, offer_id, entry["id"], hold.id, therapist.id, slot.start, expires_at)
    await add_event(
        conn,
        offered_event(
            offer_id,
            entry["id"],
            clinic,
            treatment,
            therapist,
            slot.start,
            expires_at,
            entry["customer_name"],
            entry["customer_email"],
            links,
        ),
    )
    return True
