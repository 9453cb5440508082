"""A reservation of a therapist's time, from hold to visit: the aggregate whose methods are the only way its
status changes (by domain.TRANSITIONS), each recording the events it raises for the outbox. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from services.booking.domain import (
    PAYMENT_MODES,
    BookingError,
    Clinic,
    Customer,
    Hold,
    Therapist,
    Treatment,
    booking_changed,
    can_become,
    check_change_allowed,
    check_clinic_change,
    check_hold_usable,
    inside_change_window,
    outcome_change,
)
from shared import contracts
from shared.events import Event

# A booking's manage link, from its id and end (service.Links.manage_url).
ManageUrl = Callable[[uuid.UUID, datetime], str]


@dataclass(frozen=True)
class Particulars:
    """What booking events name besides the reservation itself."""

    clinic: Clinic
    treatment: Treatment
    therapist: Therapist


def _words(status: str) -> str:
    return status.replace("_", " ")


@dataclass(eq=False)
class Reservation:
    """One reservation (a course books one per session, sharing their series id). `events`: raised by its
    changes since it was loaded, for the outbox."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    treatment_id: uuid.UUID
    therapist_id: uuid.UUID
    start: datetime
    end: datetime
    status: str
    expires_at: datetime | None
    price_amount: int
    currency: str
    customer: Customer | None = None
    course_id: uuid.UUID | None = None
    series_id: uuid.UUID | None = None
    series_index: int | None = None
    confirm_key: str | None = None
    payment_id: uuid.UUID | None = None
    voucher: dict[str, Any] | None = None  # what a voucher put towards it: code hint, value, remaining
    created_at: datetime | None = None
    booked_by: str = "customer"  # or "clinic": a booking the clinic made on the customer's behalf (by phone)
    payment_mode: str = "online"  # or "at_clinic" (domain.PAYMENT_MODES)
    # Booked under a deposit policy (issue 20): what payments left to pay at the clinic (of the whole booking: a
    # course's, on each session, as `voucher`), and the policy in words; None: paid in full, as always.
    due_at_clinic: int = 0
    payment_policy_words: str | None = None
    # Its fees (issue 20), fixed when it was booked (minor units; a course's session: of its share; None: no such
    # fee), and whether booking it saved the customer's card (payments holds the card).
    no_show_fee: int | None = None
    late_cancellation_fee: int | None = None
    save_card: bool = False
    events: list[Event] = field(default_factory=list, repr=False)

    @property
    def booking_id(self) -> uuid.UUID:
        """What the customer's booking is called: its series for a course, else itself."""
        return self.series_id or self.id

    def can_become(self, status: str) -> bool:
        return can_become(self.status, status)

    def _become(self, status: str) -> None:
        if not self.can_become(status):
            raise BookingError(
                409,
                "invalid_transition",
                f"This booking is {_words(self.status)} and cannot become {_words(status)}",
                {"status": self.status},
            )
        self.status = status

    def was_submitted_with(self, confirm_key: str) -> bool:
        """Whether a request with this key already made the hold a booking (a retry asks again)."""
        return self.confirm_key == confirm_key and self.status in ("pending_payment", "confirmed")

    def check_usable(self, now: datetime) -> None:
        check_hold_usable(self.status, self.expires_at, now)

    def await_payment(self, customer: Customer, confirm_key: str | None, pay_by: datetime, now: datetime) -> None:
        """The hold becomes the customer's booking, keeping its time until `pay_by` while they pay."""
        self.check_usable(now)
        self._become("pending_payment")
        self.customer, self.confirm_key, self.expires_at = customer, confirm_key, pay_by

    def back_to_hold(self, expires_at: datetime) -> None:
        """Undo await_payment (its payment was never asked for): the hold as it was, until `expires_at`."""
        self._become("held")
        self.customer, self.confirm_key, self.expires_at = None, None, expires_at

    @property
    def paid_for(self) -> bool:
        """Whether how it is paid has been recorded (a card payment attached, or a voucher paid it all)."""
        return self.payment_id is not None or self.status == "confirmed"

    def note_payment(
        self,
        payment_id: uuid.UUID | None,
        voucher: dict[str, Any] | None,
        due_at_clinic: int = 0,
        payment_policy_words: str | None = None,
        fees: tuple[int | None, int | None] = (None, None),
        save_card: bool = False,
    ) -> None:
        """How it is paid (payments' answer), and what the policy it was booked under fixed: its `fees` (no-show,
        late cancellation) and whether the card was saved."""
        if payment_id is not None:
            self.payment_id = payment_id
        if voucher is not None:
            self.voucher = voucher
        self.due_at_clinic, self.payment_policy_words = due_at_clinic, payment_policy_words
        self.no_show_fee, self.late_cancellation_fee = fees
        self.save_card = save_card

    def _fee(self, kind: str, amount: int | None) -> dict[str, Any]:
        """The fee an event carries (issue 20), if the booking has one of this kind."""
        return {} if amount is None else {"fee": contracts.FeeDue(kind, contracts.Money(amount, self.currency))}

    def late_cancellation_fee_due(self, clinic: Clinic, now: datetime) -> int | None:
        """What cancelling now would cost: its late-cancellation fee, if it has one, is confirmed and its change
        window has closed but the visit has not started; else None."""
        if self.late_cancellation_fee is None or self.status != "confirmed":
            return None
        return self.late_cancellation_fee if inside_change_window(clinic, self.start, now) else None

    def confirm(self, described: Particulars, manage_url: ManageUrl) -> None:
        """Paid for: confirmed, and announced with its manage link (and the voucher, if one paid)."""
        self._become("confirmed")
        self.expires_at = None
        self.events.append(
            self._event(
                "confirmed",
                described,
                manage_url=manage_url(self.id, self.end),
                voucher=self.voucher or None,
                **self._deposit(),
            )
        )

    def _deposit(self) -> dict[str, Any]:
        """What a confirmation adds for a booking made under a deposit policy (nothing for one paid in full)."""
        if self.payment_policy_words is None:
            return {}
        return {"due_at_clinic": self.due_at_clinic, "payment_policy_words": self.payment_policy_words}

    def check_changeable(self, clinic: Clinic, now: datetime) -> None:
        check_change_allowed(clinic, self.status, self.start, now)

    def cancel(self, described: Particulars, now: datetime) -> int | None:
        """The customer cancels: before the change window closes; inside it only if the booking has a
        late-cancellation fee, then announced with that fee (payments charges it to the saved card; what was paid
        is refunded as for any customer's cancellation). Returns the fee, if one is due."""
        fee = self.late_cancellation_fee_due(described.clinic, now)
        if fee is None:
            self.check_changeable(described.clinic, now)
        self._become("cancelled")
        self.events.append(
            self._event("cancelled", described, cancelled_by="customer", **self._fee("late_cancellation", fee))
        )
        return fee

    def reschedule(
        self,
        moved_to: Particulars,
        previous_therapist: Therapist,
        start: datetime,
        now: datetime,
        manage_url: ManageUrl,
    ) -> None:
        """Moved to `start` with `moved_to`'s therapist: the same booking (and id), so calendars update it."""
        self.check_changeable(moved_to.clinic, now)
        previous = contracts.PreviousSlot(
            self.start, self.end, contracts.Ref(str(previous_therapist.id), previous_therapist.name)
        )
        self.therapist_id, self.start, self.end = moved_to.therapist.id, start, moved_to.treatment.timing.end(start)
        self.events.append(
            self._event(
                "confirmed", moved_to, kind="rescheduled", manage_url=manage_url(self.id, self.end), previous=previous
            )
        )

    def record_outcome(self, outcome: str, described: Particulars, now: datetime) -> bool:
        """The visit's time has come: completed or no-show (`outcome`). False if already recorded."""
        if not outcome_change(self.status, outcome, self.start, now):
            return False
        self._become(outcome)
        fee = self._fee("no_show", self.no_show_fee) if outcome == "no_show" else {}
        self.events.append(self._event(outcome, described, **fee))
        return True

    # --- the clinic's actions on the customer's behalf: whatever the change window says ------------------

    def book_on_behalf(self, payment_mode: str) -> None:
        """The clinic makes this booking for the customer (a phone booking), paid online or at the clinic."""
        if payment_mode not in PAYMENT_MODES:
            raise ValueError(f"unknown payment mode {payment_mode!r}")
        self.booked_by, self.payment_mode = "clinic", payment_mode

    def request_payment(self, described: Particulars, manage_url: ManageUrl) -> None:
        """A phone booking awaiting the customer's online payment: announced (the email with the pay link, its
        manage link, which offers the payment) with the time by which it must be paid, and under a payment policy
        what is left to pay at the clinic and the policy in words (the email says what is paid now)."""
        if self.status != "pending_payment" or self.payment_mode != "online":
            raise BookingError(409, "nothing_to_pay", f"This booking is {_words(self.status)}; there is nothing to pay")
        self.events.append(
            self._event(
                "pending_payment",
                described,
                kind="payment_requested",
                manage_url=manage_url(self.id, self.end),
                expires_at=self.expires_at,
                **self._deposit(),
            )
        )

    def cancel_on_behalf(self, described: Particulars) -> None:
        """The clinic cancels: at any time, with a full refund of what was paid (the event says so); one awaiting
        its payment too (its payment is then cancelled), unless it is a course's session (the customer is paying
        for the whole course in these minutes)."""
        check_clinic_change(self.status, "cancelled")
        if self.status == "pending_payment" and self.series_id is not None:
            raise BookingError(
                409,
                "invalid_transition",
                "This course is awaiting its payment: it can be cancelled once paid",
                {"status": self.status},
            )
        self._become("cancelled")
        self.events.append(self._event("cancelled", described, cancelled_by="clinic", refund="full"))

    def check_movable_on_behalf(self) -> None:
        check_clinic_change(self.status, "moved")

    def move_on_behalf(
        self,
        moved_to: Particulars,
        previous_therapist: Therapist,
        start: datetime,
        manage_url: ManageUrl,
    ) -> None:
        """The clinic moves it to `start` with `moved_to`'s therapist, whatever the window: as reschedule does."""
        self.check_movable_on_behalf()
        previous = contracts.PreviousSlot(
            self.start, self.end, contracts.Ref(str(previous_therapist.id), previous_therapist.name)
        )
        self.therapist_id, self.start, self.end = moved_to.therapist.id, start, moved_to.treatment.timing.end(start)
        self.events.append(
            self._event(
                "confirmed",
                moved_to,
                kind="rescheduled",
                manage_url=manage_url(self.id, self.end),
                previous=previous,
                rescheduled_by="clinic",
            )
        )

    def _event(self, status: str, described: Particulars, *, kind: str | None = None, **extra: Any) -> Event:
        """`booking.<kind>` (by default the status): the booking as it now stands, for emails and webhooks."""
        if self.booked_by == "clinic":  # a customer's own booking's events are as they always were
            extra.update(booked_by=self.booked_by, payment=self.payment_mode)
        return contracts.event(
            booking_changed(
                booking_id=self.id,
                status=status,
                clinic=described.clinic,
                treatment=described.treatment,
                therapist=described.therapist,
                start=self.start,
                end=self.end,
                customer=self.customer,
                price_amount=self.price_amount,
                currency=self.currency,
                series_id=self.series_id,
                series_index=self.series_index,
                **extra,
            ),
            f"booking.{kind or status}",
            clinic_id=str(described.clinic.id),
        )


@dataclass(frozen=True)
class Lapsed:
    """A hold or unpaid booking the store marked expired or released, many in one statement (the sweep, a
    hold in the way, a hold let go)."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    series_id: uuid.UUID | None
    payment_id: uuid.UUID | None
    status: str

    @property
    def event(self) -> Event:
        # payment_id None: the customer's booking was never written, so payments has no card payment to cancel.
        return contracts.event(
            contracts.BookingLapsed(
                booking_id=str(self.id),
                series_id=str(self.series_id) if self.series_id else None,
                payment_id=str(self.payment_id) if self.payment_id else None,
            ),
            f"booking.{self.status}",
            clinic_id=str(self.clinic_id),
        )


def held_event(hold: Hold, described: Particulars) -> Event:
    """What a new hold raises."""
    return contracts.event(
        booking_changed(
            booking_id=hold.id,
            status="held",
            clinic=described.clinic,
            treatment=described.treatment,
            therapist=described.therapist,
            start=hold.start,
            end=hold.end,
            customer=None,
            price_amount=hold.price_amount,
            currency=hold.currency,
            series_id=hold.series_id,
            series_index=hold.series_index,
            expires_at=hold.expires_at,
        ),
        "booking.held",
        clinic_id=str(described.clinic.id),
    )


def awaiting_payment_event(
    booking_id: uuid.UUID, clinic_id: uuid.UUID, payment: dict[str, Any], pay_by: datetime
) -> Event:
    """What a booking left for its card to pay raises, once for all its sessions (payments' answer in `payment`)."""
    return contracts.event(
        contracts.BookingAwaitingPayment(
            booking_id=str(booking_id),
            payment_id=payment["id"],
            pay_by=pay_by,
            amount=contracts.Money(payment["amount"], payment["currency"]),
        ),
        clinic_id=str(clinic_id),
    )
