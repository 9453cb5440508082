"""The booking use cases against the in-memory unit of work (tests/integration/test_booking_use_cases_postgres.py
runs the same cases against PostgreSQL): hold, book, confirm on payment, cancel, reschedule, expire."""

import asyncio
import uuid
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.booking import service
from services.booking.domain import BookingError, Customer
from services.booking.seed import stable_id
from services.booking.tokens import check_token
from shared.sealing import Sealer
from tests.support.booking import ALL_CLEAR, CLINIC, COURSE_DAYS, next_weekday
from tests.support.booking_world import InMemoryWorld, reservations

TREATMENT = stable_id(CLINIC, "treatment", "deep-tissue-60")
AMARA = stable_id(CLINIC, "therapist", "amara-okafor")
TOM = stable_id(CLINIC, "therapist", "tom-hughes")
COURSE = stable_id(CLINIC, "course", "sciatica-course")
ADA = Customer("Ada Lovelace", "ada@example.com")
LINKS = service.Links("https://clinic.example", "manage-link-key")
HEALTH = Sealer("health-data-key", "health-screening")
# Long enough ago that a hold made then (10 minutes) or a booking left unpaid then (15) has run out.
LONG_AGO = timedelta(minutes=20)
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def world():
    return InMemoryWorld()


def at(hour: int, minute: int = 0, weeks_ahead: int = 1, open_days: int = 1) -> datetime:
    """A time on a Tuesday ahead (before `open_days` days the clinic is open), in the clinic's zone: Amara
    works 9:00 to 18:00 with a break at 13:00, Tom 10:00 to 19:00 with a break at 14:00."""
    return datetime.combine(next_weekday(1, weeks_ahead, open_days), time(hour, minute), tzinfo=LONDON)


def now() -> datetime:
    return datetime.now(timezone.utc)


class FakePayments:
    """Payments' answer for a booking: by card, or (covered) all by a voucher; the same on every call.
    `fails`: raised instead of answering; `meanwhile`: run while the answer is awaited."""

    def __init__(self, covered: bool = False, fails: Exception | None = None, meanwhile=None):
        self.covered, self.fails, self.meanwhile = covered, fails, meanwhile
        self.asked: dict[uuid.UUID, dict] = {}

    async def booking_payment(self, *, booking_id, amount, currency, voucher_code=None, **_) -> dict:
        if self.meanwhile is not None:
            await self.meanwhile()
        if self.fails is not None:
            raise self.fails
        if booking_id not in self.asked:
            voucher = (
                {
                    "code_hint": "…K3Q9",
                    "value": {"amount": amount, "currency": currency},
                    "remaining": {"amount": 0, "currency": currency},
                }
                if self.covered
                else None
            )
            self.asked[booking_id] = {
                "id": None if self.covered else str(uuid.uuid4()),
                "status": "requires_payment",
                "amount": 0 if self.covered else amount,
                "currency": currency,
                "covered": self.covered,
                "voucher": voucher,
            }
        return self.asked[booking_id]


async def hold(
    world, start: datetime, therapist: uuid.UUID = AMARA, *, made: datetime | None = None, key: str | None = None
) -> service.Held:
    return await service.hold_slot(world.uow, CLINIC, TREATMENT, therapist, start, made or now(), key)


async def book(
    world, hold_id: uuid.UUID, payments=None, *, made: datetime | None = None, key: str | None = "book-1"
) -> service.Submitted:
    return await service.submit(
        world.uow, hold_id, ADA, ALL_CLEAR, key, made or now(), LINKS, payments or FakePayments(), health=HEALTH
    )


async def paid_booking(world, start: datetime) -> uuid.UUID:
    booking_id = (await hold(world, start)).holds[0].id
    submitted = await book(world, booking_id)
    await service.on_payment_succeeded(world.uow, booking_id, submitted.payment["id"], LINKS)
    return booking_id


async def status(world, booking_id: uuid.UUID) -> str:
    [reservation] = await reservations(world.uow, booking_id)
    return reservation.status


# --- hold ------------------------------------------------------------------------------------------


async def test_a_hold_keeps_the_time_and_is_announced(world):
    held = await hold(world, at(10))
    [one] = held.holds
    assert (held.clinic.slug, held.replayed) == (CLINIC, False)
    assert await status(world, one.id) == "held"
    assert await world.event_types() == ["booking.held"]
    with pytest.raises(BookingError) as refused:
        await hold(world, at(10, 30))
    assert refused.value.code == "slot_taken"
    assert (await hold(world, at(10, 30), TOM)).holds, "another therapist's time is another matter"


async def test_a_retried_hold_gets_what_the_first_made(world):
    first = await hold(world, at(11), key="hold-1")
    again = await hold(world, at(11), key="hold-1")
    assert again.replayed and [r.id for r in again.holds] == [first.holds[0].id]
    assert await world.event_types() == ["booking.held"]


async def test_a_hold_refuses_a_time_the_clinic_does_not_offer(world):
    with pytest.raises(BookingError) as refused:
        await hold(world, at(7))
    assert refused.value.code == "outside_hours"
    assert await world.event_types() == []


async def test_an_expired_hold_in_the_way_is_marked_and_the_time_held_again(world):
    stale = (await hold(world, at(12), made=now() - LONG_AGO)).holds[0]
    fresh = (await hold(world, at(12))).holds[0]
    assert (await status(world, stale.id), await status(world, fresh.id)) == ("expired", "held")
    assert await world.event_types() == ["booking.held", "booking.expired", "booking.held"]


async def test_a_course_holds_every_session_or_none(world):
    held = await service.hold_course(world.uow, CLINIC, COURSE, AMARA, at(9, open_days=COURSE_DAYS), None, now(), None)
    assert len(held.holds) == 6 and len({h.series_id for h in held.holds}) == 1
    assert [r.status for r in await reservations(world.uow, held.holds[0].series_id)] == ["held"] * 6
    later = [h.start + timedelta(hours=3) for h in held.holds[:5]] + [held.holds[5].start]
    with pytest.raises(BookingError) as refused:
        await service.hold_course(world.uow, CLINIC, COURSE, AMARA, None, later, now(), None)
    assert (refused.value.code, refused.value.details) == ("slot_taken", {"start": held.holds[5].start.isoformat()})
    assert await world.event_types() == ["booking.held"] * 6


async def test_a_released_hold_frees_its_time_at_once(world):
    held = (await hold(world, at(16))).holds[0]
    assert await service.release_hold(world.uow, held.id) == 1
    assert await service.release_hold(world.uow, held.id) == 0
    assert (await hold(world, at(16))).holds
    assert await world.event_types() == ["booking.held", "booking.released", "booking.held"]


# --- book and pay ----------------------------------------------------------------------------------


async def test_a_booking_awaits_its_card_payment_and_a_retry_gets_the_same(world):
    held = (await hold(world, at(14))).holds[0]
    payments = FakePayments()
    submitted = await book(world, held.id, payments)
    [booking] = submitted.reservations
    assert (booking.status, booking.customer, await status(world, held.id)) == (
        "pending_payment",
        ADA,
        "pending_payment",
    )
    again = await book(world, held.id, payments)
    assert again.payment == submitted.payment
    with pytest.raises(BookingError) as refused:
        await book(world, held.id, payments, key="another")
    assert refused.value.code == "hold_used"
    assert await world.event_types() == ["booking.held", "booking.pending_payment"]


async def test_a_booking_a_voucher_pays_for_is_confirmed_at_once(world):
    held = (await hold(world, at(15))).holds[0]
    await book(world, held.id, FakePayments(covered=True))
    assert await status(world, held.id) == "confirmed"
    [confirmed] = await world.events("booking.confirmed")
    assert confirmed["voucher"]["code_hint"] == "…K3Q9"
    token = confirmed["manage_url"].split("token=")[1]
    check_token(LINKS.key, token, held.id, now())


async def test_a_booking_stops_at_a_red_flag_and_keeps_nothing(world):
    held = (await hold(world, at(16))).holds[0]
    with pytest.raises(BookingError) as refused:
        await service.submit(
            world.uow,
            held.id,
            ADA,
            {**ALL_CLEAR, "saddle_numbness": True},
            None,
            now(),
            LINKS,
            FakePayments(),
            health=HEALTH,
        )
    assert refused.value.code == "screening_red_flag"
    assert await status(world, held.id) == "held"


async def test_payments_is_asked_with_no_row_locked(world):
    held = (await hold(world, at(10, weeks_ahead=5))).holds[0]

    async def look_at_the_booking():  # another request, e.g. the payment's own event
        [seen] = await asyncio.wait_for(reservations(world.uow, held.id), timeout=5)
        assert (seen.status, seen.customer) == ("pending_payment", ADA), "payments is asked for a booking that exists"

    await book(world, held.id, FakePayments(meanwhile=look_at_the_booking))
    assert await status(world, held.id) == "pending_payment"


async def test_a_booking_payments_refuses_is_undone_and_can_be_tried_again(world):
    held = (await hold(world, at(11, weeks_ahead=5))).holds[0]
    refusal = BookingError(402, "voucher_insufficient", "The voucher does not cover this booking")
    with pytest.raises(BookingError) as refused:
        await book(world, held.id, FakePayments(fails=refusal))
    assert refused.value is refusal
    [kept] = await reservations(world.uow, held.id)
    assert (kept.status, kept.customer, kept.expires_at) == ("held", None, held.expires_at)
    with pytest.raises(BookingError) as asked_again:
        await service.submit(world.uow, held.id, ADA, None, None, now(), LINKS, FakePayments(), health=HEALTH)
    assert asked_again.value.code == "screening_required", "no screening kept of the undone booking"
    await book(world, held.id, key="book-2")
    assert await status(world, held.id) == "pending_payment"
    assert await world.event_types() == ["booking.held", "booking.pending_payment"]


async def test_a_booking_interrupted_after_payments_answered_is_finished_by_its_retry(world):
    held = (await hold(world, at(12, weeks_ahead=5))).holds[0]
    payments = FakePayments()
    with pytest.raises(ConnectionResetError):  # e.g. the process stopped before the second transaction
        await book(world, held.id, FakePayments(fails=ConnectionResetError()))
    [waiting] = await reservations(world.uow, held.id)
    assert (waiting.status, waiting.payment_id) == ("pending_payment", None)
    submitted = await book(world, held.id, payments)
    [booking] = await reservations(world.uow, held.id)
    assert str(booking.payment_id) == submitted.payment["id"]
    assert await world.event_types() == ["booking.held", "booking.pending_payment"]


async def test_a_booking_never_finished_runs_out_without_a_payment(world):
    held = (await hold(world, at(14, weeks_ahead=5), made=now() - LONG_AGO)).holds[0]
    with pytest.raises(ConnectionResetError):
        await book(world, held.id, FakePayments(fails=ConnectionResetError()), made=now() - LONG_AGO)
    assert await service.expire_lapsed(world.uow) == 1
    [expired] = await world.events("booking.expired")
    assert expired["payment_id"] is None, "so payments cancels whatever it made for it"


async def test_a_paid_booking_is_confirmed_once(world):
    held = (await hold(world, at(10, weeks_ahead=2))).holds[0]
    submitted = await book(world, held.id)
    assert await service.on_payment_succeeded(world.uow, held.id, submitted.payment["id"], LINKS) == "confirmed"
    assert await service.on_payment_succeeded(world.uow, held.id, submitted.payment["id"], LINKS) == "already_confirmed"
    assert await status(world, held.id) == "confirmed"
    assert await world.event_types() == ["booking.held", "booking.pending_payment", "booking.confirmed"]


async def test_a_payment_after_expiry_books_the_time_again_if_still_free(world):
    held = (await hold(world, at(11, weeks_ahead=2), made=now() - LONG_AGO)).holds[0]
    submitted = await book(world, held.id, made=now() - LONG_AGO)
    assert await service.expire_lapsed(world.uow) == 1
    assert await status(world, held.id) == "expired"
    assert (
        await service.on_payment_succeeded(world.uow, held.id, submitted.payment["id"], LINKS)
        == "rebooked_after_expiry"
    )
    assert await status(world, held.id) == "confirmed"


async def test_a_payment_after_the_time_was_taken_is_refunded_not_booked(world):
    held = (await hold(world, at(12, weeks_ahead=2), made=now() - LONG_AGO)).holds[0]
    submitted = await book(world, held.id, made=now() - LONG_AGO)
    await hold(world, at(12, weeks_ahead=2))  # the unpaid booking ran out: its time is free to hold
    outcome = await service.on_payment_succeeded(world.uow, held.id, submitted.payment["id"], LINKS)
    assert outcome == "slot_taken_after_hold_expired"
    assert await status(world, held.id) == "expired"
    [orphaned] = await world.events("booking.payment_orphaned")
    assert (orphaned["reason"], orphaned["customer"]["email"]) == (outcome, ADA.email)
    assert "booking.confirmed" not in await world.event_types()


async def test_a_payment_for_a_hold_never_booked_is_refunded(world):
    held = (await hold(world, at(16, weeks_ahead=2))).holds[0]
    assert await service.on_payment_succeeded(world.uow, held.id, str(uuid.uuid4()), LINKS) == "booking_never_written"
    assert await status(world, held.id) == "held"


# --- change ----------------------------------------------------------------------------------------


async def test_a_confirmed_booking_is_cancelled_and_announced(world):
    booking_id = await paid_booking(world, at(10, weeks_ahead=3))
    changed = await service.cancel(world.uow, booking_id, now())
    assert (changed.reservation.status, changed.clinic.slug) == ("cancelled", CLINIC)
    assert await status(world, booking_id) == "cancelled"
    [cancelled] = await world.events("booking.cancelled")
    assert cancelled["cancelled_by"] == "customer"
    with pytest.raises(BookingError) as refused:
        await service.cancel(world.uow, booking_id, now())
    assert refused.value.code == "not_changeable"


async def test_a_booking_too_close_to_its_time_is_not_changed(world):
    booking_id = await paid_booking(world, at(11, weeks_ahead=3))
    with pytest.raises(BookingError) as refused:
        await service.cancel(world.uow, booking_id, at(11, weeks_ahead=3) - timedelta(hours=2))
    assert refused.value.code == "outside_change_window"
    assert await status(world, booking_id) == "confirmed"


async def test_a_booking_moves_to_a_free_time_and_not_to_a_taken_one(world):
    booking_id = await paid_booking(world, at(12, weeks_ahead=3))
    changed = await service.reschedule(world.uow, booking_id, at(15, weeks_ahead=3), TOM, now(), LINKS)
    assert (changed.reservation.start, changed.reservation.therapist_id) == (at(15, weeks_ahead=3), TOM)
    [moved] = await world.events("booking.rescheduled")
    assert moved["previous"]["therapist"]["id"] == str(AMARA)
    await hold(world, at(16, 30, weeks_ahead=3), TOM)
    with pytest.raises(BookingError) as refused:
        await service.reschedule(world.uow, booking_id, at(16, 30, weeks_ahead=3), None, now(), LINKS)
    assert refused.value.code == "slot_taken"
    [kept] = await reservations(world.uow, booking_id)
    assert (kept.start, kept.therapist_id) == (at(15, weeks_ahead=3), TOM)
    assert (await world.event_types()).count("booking.rescheduled") == 1


# --- expire ----------------------------------------------------------------------------------------


async def test_the_sweep_expires_what_ran_out_and_only_that(world):
    stale = (await hold(world, at(10, weeks_ahead=4), made=now() - LONG_AGO)).holds[0]
    unpaid = (await hold(world, at(12, weeks_ahead=4), made=now() - LONG_AGO)).holds[0]
    await book(world, unpaid.id, made=now() - LONG_AGO)
    live = (await hold(world, at(15, weeks_ahead=4))).holds[0]
    assert await service.expire_lapsed(world.uow) == 2
    assert await service.expire_lapsed(world.uow) == 0
    assert [await status(world, h.id) for h in (stale, unpaid, live)] == ["expired", "expired", "held"]
    expired = await world.events("booking.expired")
    assert sorted(e["booking_id"] for e in expired) == sorted([str(stale.id), str(unpaid.id)])
    assert {e["booking_id"]: e["payment_id"] is None for e in expired}[str(stale.id)], (
        "a hold never booked has no card payment"
    )
