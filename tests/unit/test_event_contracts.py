"""shared/contracts.py: every event's payload is one model, built by its producer and parsed by every consumer.
Each producer's event is built here with its real code and checked against the exact dict it wrote before the
models (so the wire is unchanged), then fed to every consumer that handles its type."""

import dataclasses
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from services.booking import accounts, waitlist
from services.booking import consumer as booking_consumer
from services.booking import service as booking_service
from services.booking.availability import Interval
from services.booking.domain import Hold, Therapist
from services.booking.reservation import Lapsed, Particulars, Reservation, awaiting_payment_event, held_event
from services.notifications.emails import handlers as email_handlers
from services.notifications.emails import reminders, rendering
from services.notifications.webhooks.rules import CLINIC_EVENTS, payload_for
from services.payments import consumer as payments_consumer
from services.payments import fees as payments_fees
from services.payments import service as payments_service
from services.payments import voucher_service
from services.payments.stripe_gateway import Intent, Refund
from shared import contracts
from shared.events import ENVELOPE_VERSION, Event

# The reservation tests' clinic, treatment, therapists, customer and clock.
from tests.unit.test_booking_reservation import ADA, AMARA, BEN, CLINIC, DESCRIBED, NOW, START, TREATMENT

END = START + timedelta(minutes=60)
SERIES = uuid.uuid4()
VOUCHER_PART = {
    "code_hint": "…K3Q9",
    "value": {"amount": 1000, "currency": "GBP"},
    "remaining": {"amount": 0, "currency": "GBP"},
}


def manage_url(booking_id: uuid.UUID, end: datetime) -> str:
    return f"https://clinic.example/manage/{booking_id}"


def reservation(status: str, **changes) -> Reservation:
    values = dict(
        id=uuid.uuid4(),
        clinic_id=CLINIC.id,
        treatment_id=TREATMENT.id,
        therapist_id=AMARA.id,
        start=START,
        end=END,
        status=status,
        expires_at=None,
        price_amount=6000,
        currency="GBP",
        customer=ADA,
        series_id=SERIES,
        series_index=2,
    )
    return Reservation(**{**values, **changes})


def booking_dict(
    r: Reservation,
    status: str,
    therapist: Therapist = AMARA,
    start: datetime = START,
    end: datetime = END,
    customer: bool = True,
) -> dict:
    """services/booking/domain.py booking_event_data as it was written before the models."""
    return {
        "booking_id": str(r.id),
        "status": status,
        "clinic": {
            "id": str(CLINIC.id),
            "slug": CLINIC.slug,
            "name": CLINIC.name,
            "timezone": CLINIC.timezone,
            "reminder_offsets_minutes": list(CLINIC.reminder_offsets_minutes),
        },
        "treatment": {"id": str(TREATMENT.id), "name": TREATMENT.name, "duration_minutes": TREATMENT.duration_minutes},
        "therapist": {"id": str(therapist.id), "name": therapist.name},
        "start": start.isoformat(),
        "end": end.isoformat(),
        "price": {"amount": 6000, "currency": "GBP"},
        "customer": {"name": "Ada", "email": "ada@example.com"} if customer else None,
        "series": {"id": str(SERIES), "index": 2},
    }


# --- the booking service's events, built by its code ----------------------------------------------


def _confirmed() -> tuple[Event, dict]:
    r = reservation("pending_payment")
    r.note_payment(uuid.uuid4(), VOUCHER_PART)
    r.confirm(DESCRIBED, manage_url)
    return r.events[-1], {**booking_dict(r, "confirmed"), "manage_url": manage_url(r.id, END), "voucher": VOUCHER_PART}


def _rescheduled() -> tuple[Event, dict]:
    r = reservation("confirmed")
    moved = START + timedelta(days=1)
    r.reschedule(Particulars(CLINIC, TREATMENT, BEN), AMARA, moved, NOW, manage_url)
    end = moved + timedelta(minutes=60)
    return r.events[-1], {
        **booking_dict(r, "confirmed", BEN, moved, end),
        "manage_url": manage_url(r.id, end),
        "previous": {
            "start": START.isoformat(),
            "end": END.isoformat(),
            "therapist": {"id": str(AMARA.id), "name": AMARA.name},
        },
    }


def _cancelled() -> tuple[Event, dict]:
    r = reservation("confirmed")
    r.cancel(DESCRIBED, NOW)
    return r.events[-1], {**booking_dict(r, "cancelled"), "cancelled_by": "customer"}


def _completed() -> tuple[Event, dict]:
    r = reservation("confirmed", start=NOW - timedelta(minutes=5), end=NOW + timedelta(minutes=55))
    r.record_outcome("completed", DESCRIBED, NOW)
    return r.events[-1], booking_dict(r, "completed", start=NOW - timedelta(minutes=5), end=NOW + timedelta(minutes=55))


def _held() -> tuple[Event, dict]:
    hold = Hold(
        uuid.uuid4(),
        CLINIC.id,
        TREATMENT,
        AMARA.id,
        START,
        END,
        Interval(START, END),
        NOW + timedelta(minutes=10),
        6000,
        "GBP",
        series_id=SERIES,
        series_index=2,
    )
    event = held_event(hold, DESCRIBED)
    r = reservation("held", id=hold.id)
    return event, {**booking_dict(r, "held", customer=False), "expires_at": hold.expires_at.isoformat()}


def _expired() -> tuple[Event, dict]:
    hold_id, payment_id = uuid.uuid4(), uuid.uuid4()
    return (
        Lapsed(hold_id, CLINIC.id, SERIES, payment_id, "expired").event,
        {"booking_id": str(hold_id), "series_id": str(SERIES), "payment_id": str(payment_id)},
    )


def _released() -> tuple[Event, dict]:
    hold_id = uuid.uuid4()
    return (
        Lapsed(hold_id, CLINIC.id, None, None, "released").event,
        {"booking_id": str(hold_id), "series_id": None, "payment_id": None},
    )


def _pending_payment() -> tuple[Event, dict]:
    booking_id, payment_id = uuid.uuid4(), str(uuid.uuid4())
    event = awaiting_payment_event(
        booking_id, CLINIC.id, {"id": payment_id, "amount": 5000, "currency": "GBP"}, NOW + timedelta(minutes=15)
    )
    return event, {
        "booking_id": str(booking_id),
        "payment_id": payment_id,
        "pay_by": (NOW + timedelta(minutes=15)).isoformat(),
        "amount": {"amount": 5000, "currency": "GBP"},
    }


def _payment_requested() -> tuple[Event, dict]:
    # A phone booking the clinic made, to be paid online from the customer's email (issue 18).
    pay_by = NOW + timedelta(hours=24)
    r = reservation("pending_payment", expires_at=pay_by)
    r.book_on_behalf("online")
    r.request_payment(DESCRIBED, manage_url)
    return r.events[-1], {
        **booking_dict(r, "pending_payment"),
        "manage_url": manage_url(r.id, END),
        "expires_at": pay_by.isoformat(),
        "booked_by": "clinic",
        "payment": "online",
    }


class Outbox:
    def __init__(self):
        self.events: list[Event] = []

    def add_event(self, event: Event) -> None:
        self.events.append(event)


def _payment_orphaned() -> tuple[Event, dict]:
    uow, r = Outbox(), reservation("expired")
    booking_service._orphan_payment(uow, r.id, "pay-1", [r], "booking_gone")
    return uow.events[-1], {
        "booking_id": str(r.id),
        "payment_id": "pay-1",
        "reason": "booking_gone",
        "customer": {"name": "Ada", "email": "ada@example.com"},
    }


# --- the payments service's events, built by its code against stand-ins for its store ------------

PAYMENT_ROW = {
    "id": uuid.uuid4(),
    "status": "processing",
    "purpose": "booking",
    "reference_id": uuid.uuid4(),
    "amount": 6000,
    "amount_refunded": 0,
    "currency": "GBP",
    "clinic_id": CLINIC.id,
    "customer_email": "ada@example.com",
    "stripe_payment_intent": "pi_123",
    "stripe_customer": None,
    "kind": "payment",
}
FEE_ROW = {
    "id": uuid.uuid4(),
    "clinic_id": CLINIC.id,
    "booking_id": uuid.uuid4(),
    "kind": "no_show",
    "amount": 3250,
    "currency": "GBP",
    "customer_email": "ada@example.com",
    "status": "pending",
}
VOUCHER_ROW = {
    "id": uuid.uuid4(),
    "status": "awaiting_payment",
    "clinic_id": CLINIC.id,
    "clinic_slug": CLINIC.slug,
    "clinic_name": CLINIC.name,
    "clinic_timezone": CLINIC.timezone,
    "kind": "amount",
    "title": "£60 gift voucher",
    "vat_class": "multi_purpose",
    "price_amount": 6000,
    "currency": "GBP",
    "face_value": 6000,
    "validity_months": 24,
    "buyer_name": "Ada",
    "buyer_email": "ada@example.com",
    "recipient_name": "Grace",
    "recipient_email": "grace@example.com",
    "deliver_on": date(2026, 12, 24),
    "expires_at": datetime(2028, 11, 25, 12, 0, tzinfo=timezone.utc),
    "unit": "money",
    "balance": 2500,
    "code_last4": "WXYZ",
}


class Keys:
    def digest(self, normalised: str) -> bytes:
        return b"digest"

    def encrypt(self, code: str) -> str:
        return "sealed"

    def link_token(self, role: str, voucher_id: uuid.UUID) -> str:
        return f"{role}-token"


class Stripe:
    async def refund(self, **_):
        return Refund("re_1", "succeeded", 6000)


@pytest.fixture
def written(monkeypatch):
    """The events payments' code adds to its outbox, its store answering from the rows above."""
    events: list[Event] = []

    async def add_event(conn, event):
        events.append(event)

    async def answer(*args, **kwargs):
        return None

    def returning(value):
        async def fake(*args, **kwargs):
            return value

        return fake

    for module in (payments_service, voucher_service, payments_fees):
        monkeypatch.setattr(module, "add_event", add_event)
    store = payments_service.store
    for name in ("set_status", "complete_refund", "activate_voucher", "append_entry", "mark_expired"):
        monkeypatch.setattr(store, name, answer)
    monkeypatch.setattr(store, "lock_payment_by_intent", returning(PAYMENT_ROW))
    monkeypatch.setattr(store, "lock_payment", returning({**PAYMENT_ROW, "status": "succeeded"}))
    monkeypatch.setattr(store, "insert_refund", returning(uuid.UUID(int=7)))
    monkeypatch.setattr(store, "lock_voucher", returning(VOUCHER_ROW))
    monkeypatch.setattr(store, "claim_expired_vouchers", returning([VOUCHER_ROW]))
    monkeypatch.setattr(store, "claim_expiry_notices", returning([VOUCHER_ROW]))
    monkeypatch.setattr(store, "lock_fee", returning(FEE_ROW))
    monkeypatch.setattr(store, "settle_fee", returning({**FEE_ROW, "status": "settled"}))
    return events


async def _payment_succeeded(written) -> tuple[Event, dict]:
    await payments_service.apply_intent(None, Intent("pi_123", "succeeded", 6000, "gbp", None, {}))
    row = PAYMENT_ROW
    return written[-1], {
        "payment_id": str(row["id"]),
        "purpose": "booking",
        "reference_id": str(row["reference_id"]),
        "amount": {"amount": 6000, "currency": "GBP"},
        "stripe_payment_intent": "pi_123",
    }


async def _payment_refunded(written) -> tuple[Event, dict]:
    booking_id = uuid.uuid4()
    await payments_service.refund_booking_payment(
        None, Stripe(), booking_id=booking_id, reason="booking_gone", cause_event_id=uuid.uuid4()
    )
    return written[-1], {
        "payment_id": str(PAYMENT_ROW["id"]),
        "refund_id": str(uuid.UUID(int=7)),
        "purpose": "booking",
        "reference_id": str(booking_id),
        "reason": "booking_gone",
        "customer_email": "ada@example.com",
        "amount": {"amount": 6000, "currency": "GBP"},
    }


def _fee(**extra) -> dict:
    return {
        "fee_id": str(FEE_ROW["id"]),
        "booking_id": str(FEE_ROW["booking_id"]),
        "kind": "no_show",
        "amount": {"amount": 3250, "currency": "GBP"},
        "customer_email": "ada@example.com",
        **extra,
    }


async def _fee_charged(written) -> tuple[Event, dict]:
    await payments_fees.paid_by_link(None, FEE_ROW["id"])
    return written[-1], _fee(via="pay_link")


async def _fee_failed(written) -> tuple[Event, dict]:
    await payments_fees._failed(None, Keys(), FEE_ROW, "Your card was declined")
    return written[-1], _fee(failure="Your card was declined", pay_token="fee-token")


def _voucher_clinic() -> dict:
    return {"id": str(CLINIC.id), "slug": CLINIC.slug, "name": CLINIC.name, "timezone": CLINIC.timezone}


async def _voucher_purchased(written) -> tuple[Event, dict]:
    await voucher_service.issue(None, VOUCHER_ROW["id"], Keys(), NOW)
    data = written[-1].data
    return written[-1], {
        "voucher_id": str(VOUCHER_ROW["id"]),
        "clinic": _voucher_clinic(),
        "kind": "amount",
        "title": "£60 gift voucher",
        "vat_class": "multi_purpose",
        "price": {"amount": 6000, "currency": "GBP"},
        "buyer": {"name": "Ada", "email": "ada@example.com"},
        "recipient": {"name": "Grace", "email": "grace@example.com"},
        "deliver_on": "2026-12-24",
        "expires_at": "2028-11-25T12:00:00+00:00",
        "code_hint": data["code_hint"],
        "buyer_token": "buyer-token",
    }


async def _voucher_expired(written) -> tuple[Event, dict]:
    await voucher_service.expire_due(None)
    return written[-1], {"voucher_id": str(VOUCHER_ROW["id"]), "title": "£60 gift voucher"}


async def _voucher_expiring(written) -> tuple[Event, dict]:
    await voucher_service.announce_expiring(None)
    return written[-1], {
        "voucher_id": str(VOUCHER_ROW["id"]),
        "clinic": _voucher_clinic(),
        "title": "£60 gift voucher",
        "expires_at": "2028-11-25T12:00:00+00:00",
        "recipient": {"name": "Grace", "email": "grace@example.com"},
        "remaining": {"amount": 2500, "currency": "GBP"},
        "code_hint": "…WXYZ",
    }


def _voucher_delivery_changed() -> tuple[Event, dict]:
    # change_delivery needs a clock and the gift's whole row; the model is built as it builds it.
    event = contracts.event(
        contracts.VoucherDeliveryChanged(
            voucher_id=str(VOUCHER_ROW["id"]),
            clinic=voucher_service.clinic_of(VOUCHER_ROW),
            deliver_on=VOUCHER_ROW["deliver_on"],
            changed=("deliver_on", "recipient_email"),
        ),
        clinic_id=str(CLINIC.id),
    )
    return event, {
        "voucher_id": str(VOUCHER_ROW["id"]),
        "clinic": _voucher_clinic(),
        "deliver_on": "2026-12-24",
        "changed": ["deliver_on", "recipient_email"],
    }


def _staff_invited() -> tuple[Event, dict]:
    # An invitation, as services/booking/accounts_service.send_invitation builds it (issue 18).
    staff_id = uuid.uuid4()
    clinic = contracts.ClinicRef(id=str(CLINIC.id), slug=CLINIC.slug, name=CLINIC.name, timezone=CLINIC.timezone)
    expires_at = NOW + accounts.LINK_LIFETIME
    url = accounts.set_password_url("https://clinic.example", "t0ken")
    event = accounts.invited_event(
        staff_id=staff_id,
        clinic=clinic,
        name="Nina",
        email="nina@x.example",
        role="staff",
        url=url,
        expires_at=expires_at,
    )
    return event, {
        "staff_id": str(staff_id),
        "clinic": {"id": str(CLINIC.id), "slug": CLINIC.slug, "name": CLINIC.name, "timezone": CLINIC.timezone},
        "name": "Nina",
        "email": "nina@x.example",
        "role": "staff",
        "set_password_url": "https://clinic.example/clinic/set-password?token=t0ken",
        "expires_at": expires_at.isoformat(),
        "new_clinic": False,
    }


WAITLIST_LINKS = waitlist.Links("https://clinic.example", "k")
WAITLIST_CLINIC = {"id": str(CLINIC.id), "slug": CLINIC.slug, "name": CLINIC.name, "timezone": CLINIC.timezone}


def _waitlist_joined() -> tuple[Event, dict]:
    # Joining, as services/booking/waitlist.join builds it (issue 20).
    entry_id = uuid.uuid4()
    leave_url = WAITLIST_LINKS.leave_url(entry_id)
    event = waitlist.joined_event(
        entry_id, CLINIC, TREATMENT, AMARA, "Ada Lovelace", "ada@example.com", [0, 4], ["morning"], leave_url
    )
    return event, {
        "entry_id": str(entry_id),
        "clinic": WAITLIST_CLINIC,
        "treatment": {"id": str(TREATMENT.id), "name": TREATMENT.name},
        "therapist": {"id": str(AMARA.id), "name": "Amara Okafor"},
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "leave_url": leave_url,
        "weekdays": [0, 4],
        "times_of_day": ["morning"],
    }


def _waitlist_offered() -> tuple[Event, dict]:
    # An offer, as services/booking/waitlist's matcher builds it (issue 20).
    offer_id, entry_id = uuid.uuid4(), uuid.uuid4()
    expires_at = NOW + timedelta(minutes=30)
    event = waitlist.offered_event(
        offer_id,
        entry_id,
        CLINIC,
        TREATMENT,
        AMARA,
        START,
        expires_at,
        "Ada Lovelace",
        "ada@example.com",
        WAITLIST_LINKS,
    )
    return event, {
        "offer_id": str(offer_id),
        "entry_id": str(entry_id),
        "clinic": WAITLIST_CLINIC,
        "treatment": {"id": str(TREATMENT.id), "name": TREATMENT.name},
        "therapist": {"id": str(AMARA.id), "name": "Amara Okafor"},
        "start": START.isoformat(),
        "end": END.isoformat(),
        "expires_at": expires_at.isoformat(),
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "offer_url": WAITLIST_LINKS.offer_url(CLINIC.slug, offer_id),
        "leave_url": WAITLIST_LINKS.leave_url(entry_id),
    }


SYNC_PRODUCERS = {
    "booking.confirmed": _confirmed,
    "booking.rescheduled": _rescheduled,
    "booking.cancelled": _cancelled,
    "booking.completed": _completed,
    "booking.held": _held,
    "booking.expired": _expired,
    "booking.released": _released,
    "booking.pending_payment": _pending_payment,
    "booking.payment_requested": _payment_requested,
    "booking.payment_orphaned": _payment_orphaned,
    "voucher.delivery_changed": _voucher_delivery_changed,
    "staff.invited": _staff_invited,
    "waitlist.joined": _waitlist_joined,
    "waitlist.offered": _waitlist_offered,
}
ASYNC_PRODUCERS = {
    "payment.succeeded": _payment_succeeded,
    "payment.refunded": _payment_refunded,
    "voucher.purchased": _voucher_purchased,
    "voucher.expired": _voucher_expired,
    "voucher.expiring": _voucher_expiring,
    "fee.charged": _fee_charged,
    "fee.failed": _fee_failed,
}


@pytest.fixture
async def produced(written) -> dict[str, tuple[Event, dict]]:
    """Every event type a producer writes: (the event its code builds, the dict it wrote before the models)."""
    out = {event_type: make() for event_type, make in SYNC_PRODUCERS.items()}
    for event_type, make in ASYNC_PRODUCERS.items():
        out[event_type] = await make(written)
    return out


# --- the tests -----------------------------------------------------------------------------------


async def test_each_producer_writes_exactly_what_it_wrote_before(produced):
    for event_type, (event, before) in produced.items():
        assert event.type == event_type
        assert json.dumps(event.data) == json.dumps(before), event_type  # same keys, same order, same values
        assert event.version == contracts.REGISTRY[event_type].VERSION == ENVELOPE_VERSION
        assert event.clinic_id == str(CLINIC.id)


async def test_every_produced_event_round_trips_through_its_model(produced):
    for event_type, (event, _) in produced.items():
        model = contracts.parse(contracts.REGISTRY[event_type], event)
        assert json.dumps(model.to_data()) == json.dumps(event.data), event_type
        wire = Event.from_json(event.to_json())
        assert contracts.parse_any(wire) == model


def test_every_registered_type_has_a_producer_here_or_is_named():
    # booking.no_show shares booking.completed's shape and producer (Reservation.record_outcome);
    # payment.failed / payment.canceled share payment.succeeded's (apply_intent).
    covered = set(SYNC_PRODUCERS) | set(ASYNC_PRODUCERS) | {"booking.no_show", "payment.failed", "payment.canceled"}
    assert set(contracts.REGISTRY) == covered


def consumed_types() -> dict[str, set[str]]:
    """Every event type some consumer handles, by consumer."""
    return {
        "booking": set(
            booking_consumer.build_handlers(type("S", (), {"public_url": "http://x", "manage_link_key": "k"})())
        ),
        "payments": set(payments_consumer.build_handlers(None)),
        "notifications-emails": set(email_handlers.HANDLERS),
        "notifications-webhooks": set(CLINIC_EVENTS),
    }


def test_every_consumed_type_has_a_contract():
    for consumer, types in consumed_types().items():
        assert types <= set(contracts.REGISTRY), consumer


async def test_the_consumers_read_what_the_producers_write(produced):
    """Each consumer's reading of each producer's event: a key renamed on one side fails here."""
    # booking consumer: payment.succeeded
    payment = contracts.parse(contracts.PaymentStatusChanged, produced["payment.succeeded"][0])
    assert (payment.purpose, uuid.UUID(payment.reference_id)) == ("booking", PAYMENT_ROW["reference_id"])
    # payments consumer: booking.cancelled (the series is what was paid), expired/released, payment_orphaned
    cancelled = contracts.parse(contracts.BookingChanged, produced["booking.cancelled"][0])
    assert (cancelled.paid_for, cancelled.price.amount) == (str(SERIES), 6000)
    expired = contracts.parse(contracts.BookingLapsed, produced["booking.expired"][0])
    released = contracts.parse(contracts.BookingLapsed, produced["booking.released"][0])
    assert expired.paid_for == str(SERIES) and released.paid_for == released.booking_id
    assert released.payment_known and released.payment_id is None
    orphaned = contracts.parse(contracts.BookingPaymentOrphaned, produced["booking.payment_orphaned"][0])
    assert orphaned.reason == "booking_gone"
    # notifications: the projection, the reminders, every email, every clinic webhook
    for event_type in ("booking.confirmed", "booking.rescheduled", "booking.cancelled"):
        event = produced[event_type][0]
        changed = contracts.parse(contracts.BookingChanged, event)
        view = reminders.booking_view(changed)
        assert (view.customer_email, view.clinic_timezone, view.series_index) == ("ada@example.com", "Europe/London", 2)
        assert reminders.offsets_of(changed.clinic) == reminders.offsets_of(event.data["clinic"])
    confirmed = rendering.booking_confirmed(produced["booking.confirmed"][0].data, mail_from="Clinic <c@x.example>")
    assert confirmed.to_address == "ada@example.com" and "course session 3" in confirmed.text_body
    moved = rendering.booking_rescheduled(produced["booking.rescheduled"][0].data, mail_from="Clinic <c@x.example>")
    assert "Ben Hale" in moved.text_body
    rendering.booking_cancelled(produced["booking.cancelled"][0].data, mail_from="Clinic <c@x.example>")
    brand = rendering.Brand(CLINIC.name, CLINIC.timezone, CLINIC.slug)
    refunded = rendering.payment_refunded(produced["payment.refunded"][0].data, brand)
    assert refunded.to_address == "ada@example.com"
    purchased = produced["voucher.purchased"][0]
    receipt = rendering.voucher_receipt(
        purchased.data, brand, NOW, change_url=rendering.gift_change_url("http://x", purchased.data)
    )
    assert receipt.to_address == "ada@example.com"
    expiring = rendering.voucher_expiring(produced["voucher.expiring"][0].data, brand, book_url="http://x/book")
    assert expiring.to_address == "grace@example.com"
    invited = rendering.staff_invited(produced["staff.invited"][0].data, public_url="http://x")
    assert invited.to_address == "nina@x.example" and "clinic/set-password?token=t0ken" in invited.text_body
    for event_type in CLINIC_EVENTS:
        event = produced[event_type][0]
        body = payload_for(CLINIC_EVENTS[event_type], event.occurred_at, contracts.parse_any(event).to_data())
        assert body == payload_for(CLINIC_EVENTS[event_type], event.occurred_at, event.data)


def test_unknown_keys_are_ignored_and_dropped():
    event, before = _confirmed()
    newer = Event(event.type, {**event.data, "added_in_a_later_version": {"x": 1}}, clinic_id=event.clinic_id)
    model = contracts.parse(contracts.BookingChanged, newer)
    assert model.to_data() == before


def required_keys(model) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(model)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


async def test_a_missing_required_key_is_an_error_naming_it(produced):
    for event_type, (event, _) in produced.items():
        model = contracts.REGISTRY[event_type]
        for key in required_keys(model):
            data = {k: v for k, v in event.data.items() if k != key}
            with pytest.raises(contracts.ContractError, match=repr(key)):
                model.from_data(data)
    with pytest.raises(contracts.ContractError, match=r"BookingChanged\.clinic: missing required key 'timezone'"):
        contracts.BookingChanged.from_data(
            {**produced["booking.confirmed"][1], "clinic": {"id": "c", "slug": "s", "name": "n"}}
        )


def test_older_events_still_parse_as_they_were():
    """Shapes written before fields were added: no reminder offsets, a voucher event naming no clinic, an expiry
    with no payment_id (payments then leaves the card payment alone)."""
    from tests.support.events import booking_confirmed
    from tests.support.notifications import voucher_purchased

    for event in (
        booking_confirmed(),
        voucher_purchased(deliver_on="2026-12-24"),
        Event("booking.expired", {"booking_id": "b", "series_id": None}),
    ):
        model = contracts.parse_any(event)
        assert model.to_data() == event.data
    assert not contracts.BookingLapsed.from_data({"booking_id": "b"}).payment_known


def test_an_event_is_built_only_of_its_own_type():
    lapsed = contracts.BookingLapsed("b", None, None)
    with pytest.raises(contracts.ContractError):
        contracts.event(lapsed, "booking.cancelled", clinic_id=None)
    with pytest.raises(contracts.ContractError):
        contracts.event(lapsed, clinic_id=None)  # two types share the model: which one must be said
    with pytest.raises(contracts.ContractError):
        contracts.parse(contracts.BookingChanged, Event("booking.expired", {"booking_id": "b"}))
