"""What every event's `data` carries: one frozen dataclass per payload shape, built by the producer and parsed by
every consumer, so a field renamed in one place breaks the others' tests instead of a consumer at run time.

`to_data()` gives exactly the dict producers wrote before these models (the same keys, in the same order, the
same optional keys left out), so events on the wire are unchanged and events already in streams and outboxes
still parse. `from_data()` ignores keys it does not know (a newer producer may add fields) and names the key a
payload lacks. Each model has a VERSION, carried in the envelope's `version` (shared/events.py); bump it, and
teach `from_data` the old shape, when a change is not backward compatible. REGISTRY maps each event type to its
model. Ids stay strings (as on the wire: some older events carry ids that are not UUIDs); times are datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Mapping, Protocol, TypeVar

from shared.events import Event


class ContractError(ValueError):
    """An event's data does not have the shape its type promises."""


def _req(data: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ContractError(f"{where}: expected an object, got {type(data).__name__}")
    try:
        return data[key]
    except KeyError:
        raise ContractError(f"{where}: missing required key {key!r}") from None


def _dt(value: Any, where: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ContractError(f"{where}: not an ISO 8601 time: {value!r}") from None


def _opt_dt(value: Any, where: str) -> datetime | None:
    return None if value is None else _dt(value, where)


# --- parts several payloads share ----------------------------------------------------------------


@dataclass(frozen=True)
class ClinicRef:
    """The clinic as events name it (emails are sent in its name, in its zone). Booking events also carry its
    reminder offsets; voucher events (and booking events written before the offsets were added) do not."""

    id: str
    slug: str
    name: str
    timezone: str
    reminder_offsets_minutes: tuple[int, ...] | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "slug": self.slug, "name": self.name, "timezone": self.timezone}
        if self.reminder_offsets_minutes is not None:
            data["reminder_offsets_minutes"] = list(self.reminder_offsets_minutes)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str = "clinic") -> ClinicRef:
        offsets = data.get("reminder_offsets_minutes") if isinstance(data, Mapping) else None
        return cls(
            id=_req(data, "id", where),
            slug=_req(data, "slug", where),
            name=_req(data, "name", where),
            timezone=_req(data, "timezone", where),
            reminder_offsets_minutes=None if offsets is None else tuple(offsets),
        )


@dataclass(frozen=True)
class Ref:
    id: str
    name: str

    def to_data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str) -> Ref:
        return cls(id=_req(data, "id", where), name=_req(data, "name", where))


@dataclass(frozen=True)
class TreatmentRef:
    id: str
    name: str
    duration_minutes: int

    def to_data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "duration_minutes": self.duration_minutes}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str = "treatment") -> TreatmentRef:
        return cls(
            id=_req(data, "id", where),
            name=_req(data, "name", where),
            duration_minutes=_req(data, "duration_minutes", where),
        )


@dataclass(frozen=True)
class Money:
    """Integer minor units and an ISO currency code."""

    amount: int
    currency: str

    def to_data(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str) -> Money:
        return cls(amount=_req(data, "amount", where), currency=_req(data, "currency", where))


def _opt_money(data: Mapping[str, Any] | None, where: str) -> Money | None:
    return Money.from_data(data, where) if data is not None else None


@dataclass(frozen=True)
class Person:
    name: str | None
    email: str | None

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str) -> Person:
        return cls(name=_req(data, "name", where), email=_req(data, "email", where))


@dataclass(frozen=True)
class SeriesRef:
    """A session of a course: the series and the session's 0-based index in it."""

    id: str
    index: int | None

    def to_data(self) -> dict[str, Any]:
        return {"id": self.id, "index": self.index}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str = "series") -> SeriesRef:
        return cls(id=_req(data, "id", where), index=data.get("index"))


@dataclass(frozen=True)
class PreviousSlot:
    """Where a rescheduled booking was before."""

    start: datetime
    end: datetime
    therapist: Ref

    def to_data(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "therapist": self.therapist.to_data()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str = "previous") -> PreviousSlot:
        return cls(
            start=_dt(_req(data, "start", where), f"{where}.start"),
            end=_dt(_req(data, "end", where), f"{where}.end"),
            therapist=Ref.from_data(_req(data, "therapist", where), f"{where}.therapist"),
        )


@dataclass(frozen=True)
class Remaining:
    """What a voucher has left: money, or sessions of a treatment or course."""

    amount: int | None = None
    currency: str | None = None
    sessions: int | None = None

    def to_data(self) -> dict[str, Any]:
        if self.sessions is not None:
            return {"sessions": self.sessions}
        return {"amount": self.amount, "currency": self.currency}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str = "remaining") -> Remaining:
        if isinstance(data, Mapping) and "sessions" in data:
            return cls(sessions=data["sessions"])
        return cls(amount=_req(data, "amount", where), currency=_req(data, "currency", where))


# --- the payloads --------------------------------------------------------------------------------


# The kinds of fee a booking's payment policy may charge (services/booking/payment_policy.py).
FEE_KINDS = ("no_show", "late_cancellation")


@dataclass(frozen=True)
class FeeDue:
    """A fee a booking owes: `kind` one of FEE_KINDS, `amount` as fixed when it was booked."""

    kind: str
    amount: Money

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "amount": self.amount.to_data()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str) -> FeeDue:
        return cls(
            kind=_req(data, "kind", where), amount=Money.from_data(_req(data, "amount", where), f"{where}.amount")
        )


class Contract(Protocol):
    TYPES: ClassVar[tuple[str, ...]]
    VERSION: ClassVar[int]

    def to_data(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class BookingChanged:
    """A booking as it now stands, for emails and webhooks (never health data). `voucher` is what a voucher put
    towards a confirmed booking, as payments described it (passed through as is)."""

    TYPES: ClassVar[tuple[str, ...]] = (
        "booking.held",
        "booking.confirmed",
        "booking.rescheduled",
        "booking.cancelled",
        "booking.completed",
        "booking.no_show",
        # A booking the clinic made by phone, awaiting the customer's online payment (the email with the pay link).
        "booking.payment_requested",
    )
    VERSION: ClassVar[int] = 1
    booking_id: str
    status: str
    clinic: ClinicRef
    treatment: TreatmentRef
    therapist: Ref
    start: datetime
    end: datetime
    price: Money
    customer: Person | None
    series: SeriesRef | None = None
    manage_url: str | None = None
    voucher: dict[str, Any] | None = None
    cancelled_by: str | None = None
    previous: PreviousSlot | None = None
    expires_at: datetime | None = None
    # Added for the clinic's actions on behalf of customers (issue 18); left out when None, so the customer's
    # own events are as before. `booked_by`/`rescheduled_by`: "clinic"; `payment`: how a booking the clinic
    # made is paid ("online" | "at_clinic"); `refund`: what a cancellation refunds ("full").
    booked_by: str | None = None
    payment: str | None = None
    rescheduled_by: str | None = None
    refund: str | None = None
    # Added for deposits (issue 20), on booking.confirmed of a booking made under a deposit policy only (left out
    # otherwise): what is left to pay at the clinic (of the whole booking; a course's, on each session), and the
    # policy in words ("Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic.").
    due_at_clinic: Money | None = None
    payment_policy_words: str | None = None
    # Added for no-show and late-cancellation fees (issue 20), on booking.no_show and booking.cancelled only when
    # the booking's policy charges one (left out otherwise): the fee payments is to charge to the saved card.
    fee: FeeDue | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "booking_id": self.booking_id,
            "status": self.status,
            "clinic": self.clinic.to_data(),
            "treatment": self.treatment.to_data(),
            "therapist": self.therapist.to_data(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "price": self.price.to_data(),
            "customer": self.customer.to_data() if self.customer else None,
        }
        if self.series is not None:
            data["series"] = self.series.to_data()
        if self.manage_url is not None:
            data["manage_url"] = self.manage_url
        if self.voucher is not None:
            data["voucher"] = self.voucher
        if self.cancelled_by is not None:
            data["cancelled_by"] = self.cancelled_by
        if self.previous is not None:
            data["previous"] = self.previous.to_data()
        if self.expires_at is not None:
            data["expires_at"] = self.expires_at.isoformat()
        for key in ("booked_by", "payment", "rescheduled_by", "refund"):
            if (value := getattr(self, key)) is not None:
                data[key] = value
        if self.due_at_clinic is not None:
            data["due_at_clinic"] = self.due_at_clinic.to_data()
        if self.payment_policy_words is not None:
            data["payment_policy_words"] = self.payment_policy_words
        if self.fee is not None:
            data["fee"] = self.fee.to_data()
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> BookingChanged:
        w = cls.__name__
        customer, series, previous = _req(data, "customer", w), data.get("series"), data.get("previous")
        return cls(
            booking_id=_req(data, "booking_id", w),
            status=_req(data, "status", w),
            clinic=ClinicRef.from_data(_req(data, "clinic", w), f"{w}.clinic"),
            treatment=TreatmentRef.from_data(_req(data, "treatment", w), f"{w}.treatment"),
            therapist=Ref.from_data(_req(data, "therapist", w), f"{w}.therapist"),
            start=_dt(_req(data, "start", w), f"{w}.start"),
            end=_dt(_req(data, "end", w), f"{w}.end"),
            price=Money.from_data(_req(data, "price", w), f"{w}.price"),
            customer=Person.from_data(customer, f"{w}.customer") if customer is not None else None,
            series=SeriesRef.from_data(series, f"{w}.series") if series is not None else None,
            manage_url=data.get("manage_url"),
            voucher=data.get("voucher"),
            cancelled_by=data.get("cancelled_by"),
            previous=PreviousSlot.from_data(previous, f"{w}.previous") if previous is not None else None,
            expires_at=_opt_dt(data.get("expires_at"), f"{w}.expires_at"),
            booked_by=data.get("booked_by"),
            payment=data.get("payment"),
            rescheduled_by=data.get("rescheduled_by"),
            refund=data.get("refund"),
            due_at_clinic=_opt_money(data.get("due_at_clinic"), f"{w}.due_at_clinic"),
            payment_policy_words=data.get("payment_policy_words"),
            fee=FeeDue.from_data(data["fee"], f"{w}.fee") if data.get("fee") is not None else None,
        )

    @property
    def paid_for(self) -> str:
        """What was paid: the series for a session of a course, else the booking."""
        return self.series.id if self.series else self.booking_id


@dataclass(frozen=True)
class BookingLapsed:
    """A hold or unpaid booking marked expired or released. `payment_id` None: the customer's booking was never
    written, so there is no card payment to claim it. Older events had no `payment_id` key (`payment_known`)."""

    TYPES: ClassVar[tuple[str, ...]] = ("booking.expired", "booking.released")
    VERSION: ClassVar[int] = 1
    booking_id: str
    series_id: str | None = None
    payment_id: str | None = None
    payment_known: bool = True

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"booking_id": self.booking_id, "series_id": self.series_id}
        if self.payment_known:
            data["payment_id"] = self.payment_id
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> BookingLapsed:
        return cls(
            booking_id=_req(data, "booking_id", cls.__name__),
            series_id=data.get("series_id"),
            payment_id=data.get("payment_id"),
            payment_known="payment_id" in data,
        )

    @property
    def paid_for(self) -> str:
        return self.series_id or self.booking_id


@dataclass(frozen=True)
class BookingAwaitingPayment:
    TYPES: ClassVar[tuple[str, ...]] = ("booking.pending_payment",)
    VERSION: ClassVar[int] = 1
    booking_id: str
    payment_id: str
    pay_by: datetime
    amount: Money

    def to_data(self) -> dict[str, Any]:
        return {
            "booking_id": self.booking_id,
            "payment_id": self.payment_id,
            "pay_by": self.pay_by.isoformat(),
            "amount": self.amount.to_data(),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> BookingAwaitingPayment:
        w = cls.__name__
        return cls(
            booking_id=_req(data, "booking_id", w),
            payment_id=_req(data, "payment_id", w),
            pay_by=_dt(_req(data, "pay_by", w), f"{w}.pay_by"),
            amount=Money.from_data(_req(data, "amount", w), f"{w}.amount"),
        )


@dataclass(frozen=True)
class BookingPaymentOrphaned:
    """A paid booking that could not be confirmed: payments refunds it. `customer` when the booking was found."""

    TYPES: ClassVar[tuple[str, ...]] = ("booking.payment_orphaned",)
    VERSION: ClassVar[int] = 1
    booking_id: str
    payment_id: str
    reason: str
    customer: Person | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"booking_id": self.booking_id, "payment_id": self.payment_id, "reason": self.reason}
        if self.customer is not None:
            data["customer"] = self.customer.to_data()
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> BookingPaymentOrphaned:
        w = cls.__name__
        customer = data.get("customer")
        return cls(
            booking_id=_req(data, "booking_id", w),
            payment_id=_req(data, "payment_id", w),
            reason=_req(data, "reason", w),
            customer=Person.from_data(customer, f"{w}.customer") if customer is not None else None,
        )


@dataclass(frozen=True)
class PaymentStatusChanged:
    """A payment succeeded, failed or was canceled. `purpose` is "booking" or "voucher"; `reference_id` what was
    paid for (a booking, a course's series, a voucher)."""

    TYPES: ClassVar[tuple[str, ...]] = ("payment.succeeded", "payment.failed", "payment.canceled")
    VERSION: ClassVar[int] = 1
    payment_id: str
    purpose: str
    reference_id: str
    amount: Money
    stripe_payment_intent: str

    def to_data(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "purpose": self.purpose,
            "reference_id": self.reference_id,
            "amount": self.amount.to_data(),
            "stripe_payment_intent": self.stripe_payment_intent,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PaymentStatusChanged:
        w = cls.__name__
        return cls(
            payment_id=_req(data, "payment_id", w),
            purpose=_req(data, "purpose", w),
            reference_id=_req(data, "reference_id", w),
            amount=Money.from_data(_req(data, "amount", w), f"{w}.amount"),
            stripe_payment_intent=_req(data, "stripe_payment_intent", w),
        )


@dataclass(frozen=True)
class PaymentRefunded:
    TYPES: ClassVar[tuple[str, ...]] = ("payment.refunded",)
    VERSION: ClassVar[int] = 1
    payment_id: str
    refund_id: str
    purpose: str
    reference_id: str
    reason: str
    customer_email: str | None
    amount: Money

    def to_data(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "refund_id": self.refund_id,
            "purpose": self.purpose,
            "reference_id": self.reference_id,
            "reason": self.reason,
            "customer_email": self.customer_email,
            "amount": self.amount.to_data(),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PaymentRefunded:
        w = cls.__name__
        return cls(
            payment_id=_req(data, "payment_id", w),
            refund_id=_req(data, "refund_id", w),
            purpose=_req(data, "purpose", w),
            reference_id=_req(data, "reference_id", w),
            reason=_req(data, "reason", w),
            customer_email=_req(data, "customer_email", w),
            amount=Money.from_data(_req(data, "amount", w), f"{w}.amount"),
        )


@dataclass(frozen=True)
class VoucherPurchased:
    """A paid voucher, issued (never its code: `code_hint` only). Older events named the clinic only by the
    envelope's clinic_id (no `clinic`) and had no `buyer_token`."""

    TYPES: ClassVar[tuple[str, ...]] = ("voucher.purchased",)
    VERSION: ClassVar[int] = 1
    voucher_id: str
    kind: str
    title: str
    vat_class: str
    price: Money
    buyer: Person
    recipient: Person
    deliver_on: date
    expires_at: datetime
    code_hint: str
    clinic: ClinicRef | None = None
    buyer_token: str | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"voucher_id": self.voucher_id}
        if self.clinic is not None:
            data["clinic"] = self.clinic.to_data()
        data.update(
            {
                "kind": self.kind,
                "title": self.title,
                "vat_class": self.vat_class,
                "price": self.price.to_data(),
                "buyer": self.buyer.to_data(),
                "recipient": self.recipient.to_data(),
                "deliver_on": self.deliver_on.isoformat(),
                "expires_at": self.expires_at.isoformat(),
                "code_hint": self.code_hint,
            }
        )
        if self.buyer_token is not None:
            data["buyer_token"] = self.buyer_token
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> VoucherPurchased:
        w = cls.__name__
        clinic = data.get("clinic")
        return cls(
            voucher_id=_req(data, "voucher_id", w),
            kind=_req(data, "kind", w),
            title=_req(data, "title", w),
            vat_class=_req(data, "vat_class", w),
            price=Money.from_data(_req(data, "price", w), f"{w}.price"),
            buyer=Person.from_data(_req(data, "buyer", w), f"{w}.buyer"),
            recipient=Person.from_data(_req(data, "recipient", w), f"{w}.recipient"),
            deliver_on=_date(_req(data, "deliver_on", w), f"{w}.deliver_on"),
            expires_at=_dt(_req(data, "expires_at", w), f"{w}.expires_at"),
            code_hint=_req(data, "code_hint", w),
            clinic=ClinicRef.from_data(clinic, f"{w}.clinic") if clinic is not None else None,
            buyer_token=data.get("buyer_token"),
        )


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ContractError(f"{where}: not an ISO 8601 date: {value!r}") from None


@dataclass(frozen=True)
class VoucherDeliveryChanged:
    """The buyer changed where (`recipient_email`) or when (`deliver_on`) the gift goes: `changed` names which."""

    TYPES: ClassVar[tuple[str, ...]] = ("voucher.delivery_changed",)
    VERSION: ClassVar[int] = 1
    voucher_id: str
    clinic: ClinicRef
    deliver_on: date
    changed: tuple[str, ...]

    def to_data(self) -> dict[str, Any]:
        return {
            "voucher_id": self.voucher_id,
            "clinic": self.clinic.to_data(),
            "deliver_on": self.deliver_on.isoformat(),
            "changed": list(self.changed),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> VoucherDeliveryChanged:
        w = cls.__name__
        return cls(
            voucher_id=_req(data, "voucher_id", w),
            clinic=ClinicRef.from_data(_req(data, "clinic", w), f"{w}.clinic"),
            deliver_on=_date(_req(data, "deliver_on", w), f"{w}.deliver_on"),
            changed=tuple(_req(data, "changed", w)),
        )


@dataclass(frozen=True)
class VoucherExpired:
    TYPES: ClassVar[tuple[str, ...]] = ("voucher.expired",)
    VERSION: ClassVar[int] = 1
    voucher_id: str
    title: str

    def to_data(self) -> dict[str, Any]:
        return {"voucher_id": self.voucher_id, "title": self.title}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> VoucherExpired:
        return cls(voucher_id=_req(data, "voucher_id", cls.__name__), title=_req(data, "title", cls.__name__))


@dataclass(frozen=True)
class VoucherExpiring:
    """30 days before a voucher expires: its recipient is told what is left (`code_hint`, never the code)."""

    TYPES: ClassVar[tuple[str, ...]] = ("voucher.expiring",)
    VERSION: ClassVar[int] = 1
    voucher_id: str
    clinic: ClinicRef
    title: str
    expires_at: datetime
    recipient: Person
    remaining: Remaining
    code_hint: str

    def to_data(self) -> dict[str, Any]:
        return {
            "voucher_id": self.voucher_id,
            "clinic": self.clinic.to_data(),
            "title": self.title,
            "expires_at": self.expires_at.isoformat(),
            "recipient": self.recipient.to_data(),
            "remaining": self.remaining.to_data(),
            "code_hint": self.code_hint,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> VoucherExpiring:
        w = cls.__name__
        return cls(
            voucher_id=_req(data, "voucher_id", w),
            clinic=ClinicRef.from_data(_req(data, "clinic", w), f"{w}.clinic"),
            title=_req(data, "title", w),
            expires_at=_dt(_req(data, "expires_at", w), f"{w}.expires_at"),
            recipient=Person.from_data(_req(data, "recipient", w), f"{w}.recipient"),
            remaining=Remaining.from_data(_req(data, "remaining", w), f"{w}.remaining"),
            code_hint=_req(data, "code_hint", w),
        )


@dataclass(frozen=True)
class StaffInvited:
    """A clinic account made without a password (an owner's invitation, or a new clinic's owner): its person is
    emailed a one-time link to set one. `set_password_url` carries the link's secret token: it is emailed, and
    never logged or sent anywhere else."""

    TYPES: ClassVar[tuple[str, ...]] = ("staff.invited",)
    VERSION: ClassVar[int] = 1
    staff_id: str
    clinic: ClinicRef
    name: str
    email: str
    role: str
    set_password_url: str
    expires_at: datetime
    new_clinic: bool = False

    def to_data(self) -> dict[str, Any]:
        return {
            "staff_id": self.staff_id,
            "clinic": self.clinic.to_data(),
            "name": self.name,
            "email": self.email,
            "role": self.role,
            "set_password_url": self.set_password_url,
            "expires_at": self.expires_at.isoformat(),
            "new_clinic": self.new_clinic,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> StaffInvited:
        w = cls.__name__
        return cls(
            staff_id=_req(data, "staff_id", w),
            clinic=ClinicRef.from_data(_req(data, "clinic", w), f"{w}.clinic"),
            name=_req(data, "name", w),
            email=_req(data, "email", w),
            role=_req(data, "role", w),
            set_password_url=_req(data, "set_password_url", w),
            expires_at=_dt(_req(data, "expires_at", w), f"{w}.expires_at"),
            new_clinic=bool(data.get("new_clinic", False)),
        )


@dataclass(frozen=True)
class WaitlistJoined:
    """A customer joined a clinic's waitlist for a treatment (services/booking/waitlist.py): the email saying so,
    with the link to leave. `therapist` None: any therapist giving the treatment. `weekdays` (0 = Monday) and
    `times_of_day` ("morning" < 12:00, "afternoon" 12:00-17:00, "evening" >= 17:00, clinic wall time) are what
    they asked for; empty: any. `leave_url` carries a secret token: emailed, never logged."""

    TYPES: ClassVar[tuple[str, ...]] = ("waitlist.joined",)
    VERSION: ClassVar[int] = 1
    entry_id: str
    clinic: ClinicRef
    treatment: Ref
    therapist: Ref | None
    customer: Person
    leave_url: str
    weekdays: tuple[int, ...] = ()
    times_of_day: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "clinic": self.clinic.to_data(),
            "treatment": self.treatment.to_data(),
            "therapist": self.therapist.to_data() if self.therapist else None,
            "customer": self.customer.to_data(),
            "leave_url": self.leave_url,
            "weekdays": list(self.weekdays),
            "times_of_day": list(self.times_of_day),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> WaitlistJoined:
        w = cls.__name__
        therapist = _req(data, "therapist", w)
        return cls(
            entry_id=_req(data, "entry_id", w),
            clinic=ClinicRef.from_data(_req(data, "clinic", w), f"{w}.clinic"),
            treatment=Ref.from_data(_req(data, "treatment", w), f"{w}.treatment"),
            therapist=Ref.from_data(therapist, f"{w}.therapist") if therapist is not None else None,
            customer=Person.from_data(_req(data, "customer", w), f"{w}.customer"),
            leave_url=_req(data, "leave_url", w),
            weekdays=tuple(data.get("weekdays") or ()),
            times_of_day=tuple(data.get("times_of_day") or ()),
        )


@dataclass(frozen=True)
class WaitlistOffered:
    """A freed time offered to the first matching person on a waitlist: held for them until `expires_at`
    (services/booking/waitlist.py). `offer_url` leads straight into the booking flow for the held time; both
    links carry secret tokens: emailed, never logged. Times are UTC instants (shown in the clinic's zone)."""

    TYPES: ClassVar[tuple[str, ...]] = ("waitlist.offered",)
    VERSION: ClassVar[int] = 1
    offer_id: str
    entry_id: str
    clinic: ClinicRef
    treatment: Ref
    therapist: Ref
    start: datetime
    end: datetime
    expires_at: datetime
    customer: Person
    offer_url: str
    leave_url: str

    def to_data(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "entry_id": self.entry_id,
            "clinic": self.clinic.to_data(),
            "treatment": self.treatment.to_data(),
            "therapist": self.therapist.to_data(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "customer": self.customer.to_data(),
            "offer_url": self.offer_url,
            "leave_url": self.leave_url,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> WaitlistOffered:
        w = cls.__name__
        return cls(
            offer_id=_req(data, "offer_id", w),
            entry_id=_req(data, "entry_id", w),
            clinic=ClinicRef.from_data(_req(data, "clinic", w), f"{w}.clinic"),
            treatment=Ref.from_data(_req(data, "treatment", w), f"{w}.treatment"),
            therapist=Ref.from_data(_req(data, "therapist", w), f"{w}.therapist"),
            start=_dt(_req(data, "start", w), f"{w}.start"),
            end=_dt(_req(data, "end", w), f"{w}.end"),
            expires_at=_dt(_req(data, "expires_at", w), f"{w}.expires_at"),
            customer=Person.from_data(_req(data, "customer", w), f"{w}.customer"),
            offer_url=_req(data, "offer_url", w),
            leave_url=_req(data, "leave_url", w),
        )


@dataclass(frozen=True)
class FeeOutcome:
    """What became of a booking's fee (issue 20), from payments: `fee.charged` when the money is taken (off
    session from the saved card, `via` "off_session", or paid by the customer from the pay link, "pay_link");
    `fee.failed` when the off-session charge did not go through (declined, the bank asks for authentication, no
    card saved): `failure` says why in words, and `pay_token` opens the pay page `/fees/{fee_id}?token=…` (never
    sent to a clinic). `booking_id` is the booking marked (a course's session, not its series)."""

    TYPES: ClassVar[tuple[str, ...]] = ("fee.charged", "fee.failed")
    VERSION: ClassVar[int] = 1
    fee_id: str
    booking_id: str
    kind: str
    amount: Money
    customer_email: str | None
    via: str | None = None
    failure: str | None = None
    pay_token: str | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "fee_id": self.fee_id,
            "booking_id": self.booking_id,
            "kind": self.kind,
            "amount": self.amount.to_data(),
            "customer_email": self.customer_email,
        }
        for key in ("via", "failure", "pay_token"):
            if (value := getattr(self, key)) is not None:
                data[key] = value
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> FeeOutcome:
        w = cls.__name__
        return cls(
            fee_id=_req(data, "fee_id", w),
            booking_id=_req(data, "booking_id", w),
            kind=_req(data, "kind", w),
            amount=Money.from_data(_req(data, "amount", w), f"{w}.amount"),
            customer_email=_req(data, "customer_email", w),
            via=data.get("via"),
            failure=data.get("failure"),
            pay_token=data.get("pay_token"),
        )


# --- the registry, building and parsing events ---------------------------------------------------

MODELS: tuple[Any, ...] = (
    BookingChanged,
    BookingLapsed,
    BookingAwaitingPayment,
    BookingPaymentOrphaned,
    PaymentStatusChanged,
    PaymentRefunded,
    FeeOutcome,
    VoucherPurchased,
    VoucherDeliveryChanged,
    VoucherExpired,
    VoucherExpiring,
    StaffInvited,
    WaitlistJoined,
    WaitlistOffered,
)
REGISTRY: dict[str, Any] = {event_type: model for model in MODELS for event_type in model.TYPES}

M = TypeVar("M")


def event(model: Contract, event_type: str | None = None, *, clinic_id: str | None) -> Event:
    """The envelope for `model`'s payload: of `event_type` (which must be one of the model's), versioned by it."""
    chosen = event_type or (model.TYPES[0] if len(model.TYPES) == 1 else None)
    if chosen is None or REGISTRY.get(chosen) is not type(model):
        raise ContractError(f"{type(model).__name__} is not the payload of event type {chosen!r}")
    return Event(chosen, model.to_data(), clinic_id=clinic_id, version=model.VERSION)


def parse(model: type[M], event: Event) -> M:
    """`event`'s data as `model` (which must be its type's): ContractError if the data does not fit."""
    if REGISTRY.get(event.type) is not model:
        raise ContractError(f"event type {event.type!r} does not carry {getattr(model, '__name__', model)}")
    parsed: M = getattr(model, "from_data")(event.data)
    return parsed


def parse_any(event: Event) -> Any:
    """`event`'s data as its type's model (ContractError for a type with no contract)."""
    model = REGISTRY.get(event.type)
    if model is None:
        raise ContractError(f"no contract for event type {event.type!r}")
    return model.from_data(event.data)
