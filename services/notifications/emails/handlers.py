"""Events that become emails: each handler renders the email and records it in the event's transaction;
the Celery task that sends it is enqueued after commit. Booking events also keep the booking projection and
its reminders; a purchased voucher plans the gift email for its delivery date. Reminders and gift emails are
sent later by beat-driven tasks (emails/tasks.py).

Each handler is a named function of (what it needs, the transaction, the event), listed in HANDLERS by the
event type it handles; email_handlers gives them what they need."""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable

from services.notifications.emails import projection, reminders, rendering, store
from shared import contracts, ics
from shared.events import Event
from shared.streams import Handler, HandlerContext

log = logging.getLogger(__name__)
EnqueueEmail = Callable[[uuid.UUID], Awaitable[None]]


@dataclass
class Mailer:
    """What the handlers need beyond the event: how to start a send, the sender, the site's address, and the
    clinics this consumer committed last (so an unchanged clinic is not written again at every event)."""

    enqueue_email: EnqueueEmail
    mail_from: str
    public_url: str
    known_clinics: dict[str, contracts.ClinicRef] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _record(
    mailer: Mailer, ctx: HandlerContext, event: Event, kind: str, render: Callable[[], rendering.RenderedEmail]
) -> None:
    try:
        email = render()
    except Exception as exc:
        # Rendering is pure, so this is a template or data error that a retry would repeat: record the
        # email as failed and let the event's other effects (other emails, webhooks, reminders) commit.
        error = f"render: {type(exc).__name__}: {exc}"
        log.error("email could not be rendered", extra={"event_id": str(event.id), "kind": kind, "error": error})
        await store.insert_unrenderable_email(ctx.conn, event.id, kind, error, clinic_id=event.clinic_id)
        return
    email_id = await store.insert_email(ctx.conn, event.id, email, clinic_id=event.clinic_id)
    if email_id is not None:
        ctx.after_commit(lambda: mailer.enqueue_email(email_id))


async def _keep_clinic(mailer: Mailer, ctx: HandlerContext, clinic: contracts.ClinicRef) -> None:
    """Upsert the clinic as the event describes it, unless this consumer committed it just so already."""
    if mailer.known_clinics.get(clinic.id) != clinic:
        await projection.upsert_clinic(ctx.conn, clinic)
        ctx.after_commit(lambda: mailer.known_clinics.__setitem__(clinic.id, clinic))


async def _project(
    mailer: Mailer, ctx: HandlerContext, event: Event, changed: contracts.BookingChanged
) -> tuple[reminders.BookingView | None, int, bool]:
    """Update the booking projection. Returns the booking if this event is the newest seen for it (else
    None), the SEQUENCE of the invite this event sends, and whether the booking is new here."""
    await _keep_clinic(mailer, ctx, changed.clinic)
    booking = reminders.booking_view(changed)
    at_least = ics.sequence_for(event.occurred_at)
    applied = await projection.apply_booking(ctx.conn, booking, event.occurred_at, at_least)
    # An older event handled late changes nothing; its invite's SEQUENCE is lower (or equal, with an
    # older DTSTAMP) than the newer one's, so calendars keep the newer.
    if applied is None:
        return None, at_least, False
    return booking, applied["ics_sequence"], applied["inserted"]


async def _replan_reminders(
    ctx: HandlerContext, booking: reminders.BookingView, clinic: contracts.ClinicRef, *, new: bool
) -> None:
    if not new:  # a booking new here has no reminders yet
        await store.cancel_live_reminders(ctx.conn, booking.booking_id)
    if booking.status == "confirmed" and booking.customer_email:
        offsets = reminders.offsets_of(clinic)
        await store.insert_reminders(
            ctx.conn, booking.booking_id, booking.start, reminders.plan_reminders(booking.start, _now(), offsets)
        )


async def _booked(
    mailer: Mailer, ctx: HandlerContext, event: Event, kind: str, render: Callable[..., rendering.RenderedEmail]
) -> None:
    """Confirmed or moved: project the booking, (re)plan its reminders, send the email with its invite."""
    changed = contracts.parse(contracts.BookingChanged, event)
    booking, sequence, new = await _project(mailer, ctx, event, changed)
    if booking:
        await _replan_reminders(ctx, booking, changed.clinic, new=new)
    await _record(
        mailer,
        ctx,
        event,
        kind,
        lambda: render(changed.to_data(), changed_at=event.occurred_at, sequence=sequence, mail_from=mailer.mail_from),
    )


async def _brand_of(
    mailer: Mailer, ctx: HandlerContext, event: Event, named: contracts.ClinicRef | None = None
) -> rendering.Brand:
    # Voucher events name their clinic; older ones carried only its id (then: what booking events told us).
    if named is not None:
        await _keep_clinic(mailer, ctx, named)
    clinic = await projection.get_clinic(ctx.conn, event.clinic_id)
    if clinic is None:
        return rendering.Brand(rendering.sender_name(mailer.mail_from))
    return rendering.Brand(clinic["name"], clinic["timezone"], clinic["slug"])


# --- the handlers --------------------------------------------------------------------------------


async def on_booking_confirmed(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    await _booked(mailer, ctx, event, "booking_confirmed", rendering.booking_confirmed)


async def on_booking_rescheduled(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    await _booked(mailer, ctx, event, "booking_rescheduled", rendering.booking_rescheduled)


async def on_booking_cancelled(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    changed = contracts.parse(contracts.BookingChanged, event)
    booking, sequence, _new = await _project(mailer, ctx, event, changed)
    if booking:
        await store.cancel_live_reminders(ctx.conn, booking.booking_id)
    await _record(
        mailer,
        ctx,
        event,
        "booking_cancelled",
        lambda: rendering.booking_cancelled(
            changed.to_data(), changed_at=event.occurred_at, sequence=sequence, mail_from=mailer.mail_from
        ),
    )


async def on_booking_payment_requested(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    """A phone booking to be paid online: the email with the pay link. Not projected: it is not booked until
    paid (then booking.confirmed projects it, plans its reminders and sends the confirmation)."""
    changed = contracts.parse(contracts.BookingChanged, event)
    await _keep_clinic(mailer, ctx, changed.clinic)
    await _record(
        mailer, ctx, event, "booking_payment_requested", lambda: rendering.booking_payment_requested(changed.to_data())
    )


async def on_payment_refunded(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    refunded = contracts.parse(contracts.PaymentRefunded, event)
    if not refunded.customer_email:
        log.warning("refund without a customer email; nobody to tell", extra={"event_id": str(event.id)})
        return
    brand = await _brand_of(mailer, ctx, event)
    visit = await projection.projected_booking(ctx.conn, uuid.UUID(refunded.reference_id))
    await _record(
        mailer, ctx, event, "payment_refunded", lambda: rendering.payment_refunded(refunded.to_data(), brand, visit)
    )


async def _fee_parts(
    mailer: Mailer, ctx: HandlerContext, event: Event
) -> tuple[contracts.FeeOutcome, rendering.Brand, reminders.BookingView | None, str | None]:
    """The fee, whose name it goes out in, which visit it was for (the booking projection) and to whom: the
    event's customer email, else the booking's."""
    outcome = contracts.parse(contracts.FeeOutcome, event)
    brand = await _brand_of(mailer, ctx, event)
    visit = await projection.projected_booking(ctx.conn, uuid.UUID(outcome.booking_id))
    to_address = outcome.customer_email or (visit.customer_email if visit else None)
    if not to_address:
        log.warning("fee without a customer email; nobody to tell", extra={"event_id": str(event.id)})
    return outcome, brand, visit, to_address


async def on_fee_charged(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    """A booking's fee taken (from the saved card, or paid from the pay link): the customer's receipt."""
    outcome, brand, visit, to_address = await _fee_parts(mailer, ctx, event)
    if to_address:
        data = outcome.to_data()
        await _record(
            mailer,
            ctx,
            event,
            "fee_charged",
            lambda: rendering.fee_charged(data, brand, visit, to_address=to_address),
        )


async def on_fee_failed(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    """A booking's fee the saved card did not pay: why, and the link to pay it (its token: in this email only,
    never logged)."""
    outcome, brand, visit, to_address = await _fee_parts(mailer, ctx, event)
    if to_address:
        data = outcome.to_data()
        pay_url = rendering.fee_pay_url(mailer.public_url, data)
        await _record(
            mailer,
            ctx,
            event,
            "fee_failed",
            lambda: rendering.fee_failed(data, brand, visit, to_address=to_address, pay_url=pay_url),
        )


async def on_voucher_purchased(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    purchased = contracts.parse(contracts.VoucherPurchased, event)
    brand = await _brand_of(mailer, ctx, event, purchased.clinic)
    deliver_on = purchased.deliver_on
    await store.plan_voucher_delivery(
        ctx.conn,
        voucher_id=uuid.UUID(purchased.voucher_id),
        event_id=event.id,
        clinic_id=event.clinic_id,
        deliver_on=deliver_on,
        due_at=reminders.gift_due_at(deliver_on, brand.timezone),
    )
    data = purchased.to_data()
    await _record(
        mailer,
        ctx,
        event,
        "voucher_receipt",
        lambda: rendering.voucher_receipt(
            data, brand, event.occurred_at, change_url=rendering.gift_change_url(mailer.public_url, data)
        ),
    )


async def on_voucher_delivery_changed(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    """The buyer moved the day: the planned delivery follows (a new email address is read at send time)."""
    changed = contracts.parse(contracts.VoucherDeliveryChanged, event)
    brand = await _brand_of(mailer, ctx, event, changed.clinic)
    await store.replan_voucher_delivery(
        ctx.conn,
        uuid.UUID(changed.voucher_id),
        changed.deliver_on,
        reminders.gift_due_at(changed.deliver_on, brand.timezone),
    )


async def on_voucher_expiring(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    expiring = contracts.parse(contracts.VoucherExpiring, event)
    brand = await _brand_of(mailer, ctx, event, expiring.clinic)
    await _record(
        mailer,
        ctx,
        event,
        "voucher_expiring",
        lambda: rendering.voucher_expiring(
            expiring.to_data(), brand, book_url=rendering.book_url(mailer.public_url, brand)
        ),
    )


async def on_staff_invited(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    """An invitation, or a new clinic's owner: the email with the one-time set-password link (never logged)."""
    invited = contracts.parse(contracts.StaffInvited, event)
    await _keep_clinic(mailer, ctx, invited.clinic)
    data = invited.to_data()
    await _record(
        mailer, ctx, event, "staff_invited", lambda: rendering.staff_invited(data, public_url=mailer.public_url)
    )


async def on_waitlist_joined(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    """A customer joined a clinic's waitlist: what they asked for, and the link to leave (no webhook)."""
    joined = contracts.parse(contracts.WaitlistJoined, event)
    await _keep_clinic(mailer, ctx, joined.clinic)
    data = joined.to_data()
    await _record(mailer, ctx, event, "waitlist_joined", lambda: rendering.waitlist_joined(data))


async def on_waitlist_offered(mailer: Mailer, ctx: HandlerContext, event: Event) -> None:
    """A freed time held for the first customer waiting whose wishes it matches: the offer, with its links (the
    customer's tokens: in this email only, never logged)."""
    offered = contracts.parse(contracts.WaitlistOffered, event)
    await _keep_clinic(mailer, ctx, offered.clinic)
    data = offered.to_data()
    await _record(mailer, ctx, event, "waitlist_offered", lambda: rendering.waitlist_offered(data))


HANDLERS: dict[str, Callable[[Mailer, HandlerContext, Event], Awaitable[None]]] = {
    "booking.confirmed": on_booking_confirmed,
    "booking.rescheduled": on_booking_rescheduled,
    "booking.cancelled": on_booking_cancelled,
    "booking.payment_requested": on_booking_payment_requested,
    "payment.refunded": on_payment_refunded,
    "fee.charged": on_fee_charged,
    "fee.failed": on_fee_failed,
    "voucher.purchased": on_voucher_purchased,
    "voucher.delivery_changed": on_voucher_delivery_changed,
    "voucher.expiring": on_voucher_expiring,
    "staff.invited": on_staff_invited,
    "waitlist.joined": on_waitlist_joined,
    "waitlist.offered": on_waitlist_offered,
}


def email_handlers(enqueue_email: EnqueueEmail, *, mail_from: str, public_url: str) -> dict[str, Handler]:
    """HANDLERS, each given one Mailer (shared, so the clinics it knows are known to all of them)."""
    mailer = Mailer(enqueue_email, mail_from, public_url)
    return {event_type: functools.partial(handler, mailer) for event_type, handler in HANDLERS.items()}
