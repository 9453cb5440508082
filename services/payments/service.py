"""Use cases of the payments service. Each runs in the caller's transaction and writes its events to
the outbox with the change; Stripe is called through StripeGateway."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

import asyncpg

from services.payments import fees, store, voucher_service
from services.payments.domain import (
    ATTACH_FIRST_RETRY,
    FROM_STRIPE,
    FROM_STRIPE_SETUP,
    UNPAID_VOUCHER_EXPIRES_AFTER,
    PaymentError,
    card_and_clinic_parts,
    check_amount,
    next_attach_try,
    next_status,
)
from services.payments.stripe_gateway import (
    Intent,
    SetupIntent,
    StripeGateway,
    StripeRefused,
    StripeUnavailable,
    intent_from_data,
    setup_intent_from_data,
)
from services.payments.vouchers import Charge
from shared import contracts
from shared.outbox import add_event

log = logging.getLogger(__name__)
# Every clinic on this platform takes payments in pounds for now; a clinic setting when that changes.
CLINIC_CURRENCY = "GBP"

# Stripe event types that tell us about a PaymentIntent; every other type is acknowledged and ignored.
INTENT_EVENTS = {
    "payment_intent.created",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
}
# A card-saving booking with nothing to pay now (issue 20). The fake Stripe sends none of these: the pay page
# asks us to refresh the SetupIntent, and the reconciler asks about it too.
SETUP_EVENTS = {
    "setup_intent.created",
    "setup_intent.requires_action",
    "setup_intent.succeeded",
    "setup_intent.setup_failed",
    "setup_intent.canceled",
}


@dataclass(frozen=True)
class VoucherIssuer:
    """What issuing a voucher on payment needs: the code keys and the clock."""

    keys: voucher_service.CodeKeys
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))


def _unavailable() -> PaymentError:
    return PaymentError(
        503,
        "payment_provider_unavailable",
        "Card payments are unavailable for a moment; nothing was charged. Please retry shortly",
    )


def payment_json(row, applied: "voucher_service.Applied | None" = None, currency: str | None = None) -> dict:
    """The payment as the booking service (and the customer) see it: the card part, and the voucher part."""
    body = {
        "id": None,
        "status": "succeeded",
        "amount": 0,
        "currency": currency,
        "stripe_payment_intent": None,
        "stripe_setup_intent": None,
        "client_secret": None,
        "setup": False,
    }
    if row is not None:
        body.update(
            id=str(row["id"]),
            status=row["status"],
            amount=row["amount"],
            currency=row["currency"],
            stripe_payment_intent=row["stripe_payment_intent"],
            stripe_setup_intent=row["stripe_setup_intent"],
            client_secret=row["client_secret"],
            # Nothing to pay now, but the card is to be saved (Stripe.js confirms a SetupIntent, not a payment).
            setup=row["kind"] == "setup",
        )
    body["covered"] = row is None  # nothing left to pay by card
    body["voucher"] = (
        None
        if applied is None
        else {
            "code_hint": applied.code_hint,
            "unit": applied.unit,
            "units": applied.redemption.units,
            "value": {"amount": applied.redemption.value, "currency": body["currency"]},
            "remaining": (
                {"amount": applied.remaining, "currency": body["currency"]}
                if applied.unit == "money"
                else {"sessions": applied.remaining}
            ),
        }
    )
    return body


async def request_booking_payment(
    conn: asyncpg.Connection,
    stripe: StripeGateway,
    keys: "voucher_service.CodeKeys",
    *,
    booking_id: uuid.UUID,
    clinic_id: uuid.UUID,
    amount: int,
    currency: str,
    customer_email: str,
    treatment_id: uuid.UUID,
    sessions: int,
    voucher_code: str | None,
    pay_rest_by_card: bool,
    now,
    card_at_most: int | None = None,
    save_card: bool = False,
) -> dict:
    """How a booking is paid: a voucher first if given (all of it, or what is left on it), the rest by card, or
    under a deposit (`card_at_most`) the card at most that and the rest due at the clinic. Created once per
    booking; a retry gets the same answer (the parts are kept in booking_parts, written with the first).
    `save_card` (a policy with fees, or the card saved only): the card is kept on the customer's Stripe Customer
    for charges off session; with nothing to pay by card, a SetupIntent saves it (answered `setup: true`)."""
    if currency.upper() != CLINIC_CURRENCY:
        raise PaymentError(422, "currency_mismatch", f"This clinic takes payments in {CLINIC_CURRENCY}")
    applied = None
    rest = amount
    if voucher_code:
        applied = await voucher_service.redeem(
            conn,
            code=voucher_code,
            charge=Charge(clinic_id, amount, treatment_id, sessions),
            reference_id=booking_id,
            keys=keys,
            now=now,
        )
        rest = applied.redemption.card_amount
    card_amount, due = card_and_clinic_parts(rest, card_at_most)
    if applied is not None and card_amount > 0 and not pay_rest_by_card:
        raise PaymentError(
            402,
            "voucher_insufficient",
            "The voucher does not cover this booking; please pay the rest by card",
            {"voucher_pays": applied.redemption.value, "rest": card_amount},
        )
    parts = await store.insert_parts(
        conn,
        reference_id=booking_id,
        clinic_id=clinic_id,
        currency=currency,
        price=amount,
        voucher_part=amount - rest,
        card_part=card_amount,
        due_at_clinic=due,
    )
    if parts["card_part"] != card_amount:
        raise PaymentError(409, "payment_mismatch", "This booking already has a payment for another amount")
    if card_amount == 0 and not save_card:
        return _with_due(payment_json(None, applied, currency), parts)
    existing = await store.payment_for(conn, "booking", booking_id)
    if existing is not None:
        if existing["amount"] != card_amount or existing["currency"] != currency:
            raise PaymentError(409, "payment_mismatch", "This booking already has a payment for another amount")
        return _with_due(payment_json(existing, applied), parts)
    customer = await customer_for(conn, stripe, clinic_id, customer_email) if save_card else None
    if card_amount == 0:
        assert customer is not None
        row = await _setup_payment(
            conn,
            stripe,
            booking_id=booking_id,
            clinic_id=clinic_id,
            currency=currency,
            customer_email=customer_email,
            customer=customer,
        )
    else:
        row = await _card_payment(
            conn,
            stripe,
            booking_id=booking_id,
            clinic_id=clinic_id,
            amount=card_amount,
            currency=currency,
            customer_email=customer_email,
            customer=customer,
        )
    return _with_due(payment_json(row, applied), parts)


async def customer_for(conn: asyncpg.Connection, stripe: StripeGateway, clinic_id: uuid.UUID, email: str) -> str:
    """The clinic's customer's Stripe Customer (by email, any case), created once: of two created at once the
    first recorded is kept (the other stays unused at Stripe, with no card)."""
    found = await store.stripe_customer(conn, clinic_id, email)
    if found is not None:
        return found
    try:
        created = await stripe.create_customer(
            metadata={"clinic_id": str(clinic_id)}, idempotency_key=f"customer-{uuid.uuid4()}"
        )
    except StripeUnavailable:
        raise _unavailable() from None
    except StripeRefused as exc:
        raise PaymentError(422, "payment_refused", str(exc)) from None
    return await store.insert_stripe_customer(conn, clinic_id, email, created)


async def _setup_payment(
    conn,
    stripe: StripeGateway,
    *,
    booking_id: uuid.UUID,
    clinic_id: uuid.UUID,
    currency: str,
    customer_email: str,
    customer: str,
) -> asyncpg.Record:
    """The booking's card-saving SetupIntent (nothing to pay now), kept as its payment row of amount 0."""
    payment_id = uuid.uuid4()
    try:
        setup = await stripe.create_setup_intent(
            customer=customer,
            metadata={
                "purpose": "booking",
                "reference_id": str(booking_id),
                "clinic_id": str(clinic_id),
                "payment_id": str(payment_id),
            },
            idempotency_key=f"booking-setup-{booking_id}",
        )
    except StripeUnavailable:
        raise _unavailable() from None
    except StripeRefused as exc:
        raise PaymentError(422, "payment_refused", str(exc)) from None
    row = await store.insert_payment(
        conn,
        payment_id=payment_id,
        clinic_id=clinic_id,
        purpose="booking",
        reference_id=booking_id,
        amount=0,
        currency=currency,
        customer_email=customer_email,
        intent_id=None,
        client_secret=setup.client_secret,
        status=FROM_STRIPE_SETUP.get(setup.status, "requires_payment"),
        stripe_customer=customer,
        setup_intent_id=setup.id,
    )
    if row is None:  # a concurrent request won
        try:
            await stripe.cancel_setup_intent(setup.id)
        except (StripeUnavailable, StripeRefused):
            log.warning("could not cancel a duplicate SetupIntent", extra={"setup_intent": setup.id})
        return await store.payment_for(conn, "booking", booking_id)
    return row


def _with_due(body: dict, parts) -> dict:
    """The answer with what is due at the clinic, as first recorded (zero when the card pays all the rest)."""
    return {**body, "due_at_clinic": {"amount": parts["due_at_clinic"], "currency": parts["currency"]}}


async def _card_payment(
    conn: asyncpg.Connection,
    stripe: StripeGateway,
    *,
    booking_id: uuid.UUID,
    clinic_id: uuid.UUID,
    amount: int,
    currency: str,
    customer_email: str,
    customer: str | None = None,
) -> asyncpg.Record:
    """The card payment for a booking: created once, found again on every retry."""
    check_amount(amount, currency, CLINIC_CURRENCY)
    existing = await store.payment_for(conn, "booking", booking_id)
    if existing is not None:
        if existing["amount"] != amount or existing["currency"] != currency:
            raise PaymentError(409, "payment_mismatch", "This booking already has a payment for another amount")
        return existing
    return await _new_payment(
        conn,
        stripe,
        purpose="booking",
        reference_id=booking_id,
        clinic_id=clinic_id,
        amount=amount,
        currency=currency,
        customer_email=customer_email,
        customer=customer,
    )


async def _new_payment(
    conn,
    stripe: StripeGateway,
    *,
    purpose: str,
    reference_id: uuid.UUID,
    clinic_id: uuid.UUID,
    amount: int,
    currency: str,
    customer_email: str,
    customer: str | None = None,
) -> asyncpg.Record:
    payment_id = uuid.uuid4()
    try:
        intent = await stripe.create_intent(
            amount=amount,
            currency=currency,
            metadata={
                "purpose": purpose,
                "reference_id": str(reference_id),
                "clinic_id": str(clinic_id),
                "payment_id": str(payment_id),
            },
            idempotency_key=f"{purpose}-payment-{reference_id}",
            customer=customer,
        )
    except StripeUnavailable:
        raise _unavailable() from None
    except StripeRefused as exc:
        raise PaymentError(422, "payment_refused", str(exc)) from None
    row = await store.insert_payment(
        conn,
        payment_id=payment_id,
        clinic_id=clinic_id,
        purpose=purpose,
        reference_id=reference_id,
        amount=amount,
        currency=currency,
        customer_email=customer_email,
        intent_id=intent.id,
        client_secret=intent.client_secret,
        status=FROM_STRIPE.get(intent.status, "requires_payment"),
        stripe_customer=customer,
    )
    if row is None:  # a concurrent request for the same reference won: keep theirs, drop ours
        await _cancel_quietly(stripe, intent.id)
        return await store.payment_for(conn, purpose, reference_id)
    return row


async def voucher_payment(conn: asyncpg.Connection, stripe: StripeGateway, voucher) -> asyncpg.Record:
    """The card payment for buying a voucher (once per voucher)."""
    existing = await store.payment_for(conn, "voucher", voucher["id"])
    if existing is not None:
        return existing
    return await _new_payment(
        conn,
        stripe,
        purpose="voucher",
        reference_id=voucher["id"],
        clinic_id=voucher["clinic_id"],
        amount=voucher["price_amount"],
        currency=voucher["currency"],
        customer_email=voucher["buyer_email"],
    )


async def _cancel_quietly(stripe: StripeGateway, intent_id: str) -> None:
    try:
        await stripe.cancel_intent(intent_id)
    except (StripeUnavailable, StripeRefused):
        log.warning("could not cancel a duplicate PaymentIntent", extra={"intent": intent_id})


async def apply_intent(
    conn: asyncpg.Connection, intent: Intent, *, failed: bool = False, vouchers: "VoucherIssuer | None" = None
) -> str | None:
    """Move our payment to what Stripe says of its PaymentIntent; announce what changed. Returns the new
    status, or None when nothing changed (a duplicate or out-of-order event)."""
    row = await store.lock_payment_by_intent(conn, intent.id)
    incoming = "failed" if failed else FROM_STRIPE.get(intent.status)
    if incoming is None:
        return None
    if row is None:
        row = await _adopt_unknown_intent(conn, intent)
        if row is None:
            return None
    new = next_status(row["status"], incoming)
    if new is None:
        return None
    await store.set_status(conn, row["id"], new)
    if row["purpose"] == "fee":  # a fee paid from its pay link: the fee's own event, no payment event
        if new == "succeeded":
            await fees.paid_by_link(conn, row["reference_id"])
        log.info("fee payment status changed", extra={"payment_id": str(row["id"]), "status": new})
        return new
    if new == "succeeded" and row["stripe_customer"] and intent.payment_method:
        await _save_card(conn, row, intent.payment_method)
    if new in {"succeeded", "failed", "canceled"}:
        await _announce(conn, row, new, intent.id)
    if new == "succeeded" and row["purpose"] == "voucher" and vouchers is not None:
        await voucher_service.issue(conn, row["reference_id"], vouchers.keys, vouchers.now())
    log.info("payment status changed", extra={"payment_id": str(row["id"]), "status": new})
    return new


async def _save_card(conn: asyncpg.Connection, row, payment_method: str) -> None:
    """The card that paid (or was set up for) the booking `row` is its saved card, for fees charged later."""
    await store.save_card(
        conn,
        reference_id=row["reference_id"],
        clinic_id=row["clinic_id"],
        customer=row["stripe_customer"],
        payment_method=payment_method,
    )


async def _announce(conn: asyncpg.Connection, row, new: str, stripe_id: str) -> None:
    await add_event(
        conn,
        contracts.event(
            contracts.PaymentStatusChanged(
                payment_id=str(row["id"]),
                purpose=row["purpose"],
                reference_id=str(row["reference_id"]),
                amount=contracts.Money(row["amount"], row["currency"]),
                stripe_payment_intent=stripe_id,  # a SetupIntent's id for a card saved with nothing to pay
            ),
            f"payment.{new}",
            clinic_id=str(row["clinic_id"]),
        ),
    )


async def apply_setup_intent(conn: asyncpg.Connection, setup: SetupIntent, *, failed: bool = False) -> str | None:
    """Move a card-saving booking's payment (amount 0) to what Stripe says of its SetupIntent: on success the
    card is the booking's saved card and `payment.succeeded` confirms the booking as a payment would."""
    row = await store.lock_payment_by_setup_intent(conn, setup.id)
    incoming = "failed" if failed else FROM_STRIPE_SETUP.get(setup.status)
    if row is None or incoming is None:
        return None
    new = next_status(row["status"], incoming)
    if new is None:
        return None
    await store.set_status(conn, row["id"], new)
    if new == "succeeded" and setup.payment_method:
        await _save_card(conn, row, setup.payment_method)
    if new in {"succeeded", "failed", "canceled"}:
        await _announce(conn, row, new, setup.id)
    log.info("card setup status changed", extra={"payment_id": str(row["id"]), "status": new})
    return new


async def refresh_setup_intent(conn: asyncpg.Connection, stripe: StripeGateway, setup_intent_id: str) -> str | None:
    """Ask Stripe about a booking's SetupIntent and apply what it says (the fake sends no events): our status
    after, or None if it is not one of ours."""
    row = await store.payment_for_setup_intent(conn, setup_intent_id)
    if row is None:
        return None
    try:
        setup = await stripe.retrieve_setup_intent(setup_intent_id)
    except StripeUnavailable:
        raise _unavailable() from None
    except StripeRefused:
        return row["status"]
    await apply_setup_intent(conn, setup)
    return (await store.payment_for_setup_intent(conn, setup_intent_id))["status"]


async def attach_saved_cards(conn: asyncpg.Connection, stripe: StripeGateway, limit: int = 20) -> int:
    """Attach saved cards not yet seen on their Customer (offline nothing attaches a card on confirm; real
    Stripe does it itself, and this only checks). Best-effort: a card Stripe refuses waits longer each time and is
    given up after domain.ATTACH_TRIES, so it never holds up the others; a card left unattached is attached when a
    fee needs it. Stripe unreachable ends the round (that card waits a while; nothing is counted against it). How
    many were attached."""
    done = 0
    for card in await store.unattached_cards(conn, limit):
        try:
            await fees.attach(conn, stripe, card)
            done += 1
        except StripeRefused as exc:
            await _attach_refused(conn, card, str(exc))
        except StripeUnavailable:
            await store.attach_failed(
                conn,
                card["reference_id"],
                attempts=card["attach_attempts"],
                error="stripe unavailable",
                retry_in=ATTACH_FIRST_RETRY.total_seconds(),
            )
            log.warning("stripe unavailable: saved cards wait for the next round")
            break
    return done


async def _attach_refused(conn: asyncpg.Connection, card, error: str) -> None:
    refusals = card["attach_attempts"] + 1
    retry_in = next_attach_try(refusals)
    await store.attach_failed(
        conn,
        card["reference_id"],
        attempts=refusals,
        error=error,
        retry_in=None if retry_in is None else retry_in.total_seconds(),
    )
    about = {"reference_id": str(card["reference_id"]), "attempts": refusals, "error": error}
    if retry_in is None:
        log.error("gave up attaching a saved card; a fee will try it when it charges it", extra=about)
    else:
        log.warning("could not attach a saved card; will try again", extra={**about, "retry_in": str(retry_in)})


async def _adopt_unknown_intent(conn: asyncpg.Connection, intent: Intent):
    """A PaymentIntent of ours with no row (its request failed after Stripe answered). If money moved,
    record it, so the booking side confirms it or it gets refunded: never a charge without a booking."""
    meta = intent.metadata
    if meta.get("purpose") not in {"booking", "voucher"} or "reference_id" not in meta:
        log.info("ignoring a PaymentIntent that is not ours", extra={"intent": intent.id})
        return None
    await store.insert_payment(
        conn,
        payment_id=uuid.UUID(meta.get("payment_id") or str(uuid.uuid4())),
        clinic_id=uuid.UUID(meta["clinic_id"]),
        purpose=meta["purpose"],
        reference_id=uuid.UUID(meta["reference_id"]),
        amount=intent.amount,
        currency=intent.currency.upper(),
        customer_email=None,
        intent_id=intent.id,
        client_secret=None,
        status="requires_payment",
    )
    return await store.lock_payment_by_intent(conn, intent.id)


async def handle_stripe_event(conn: asyncpg.Connection, event: dict, vouchers: "VoucherIssuer") -> bool:
    """Apply one verified Stripe event, once: False if we had seen its id before."""
    if not await store.record_stripe_event(conn, event):
        return False
    if event["type"] in INTENT_EVENTS:
        intent = intent_from_data(event["data"]["object"])
        await apply_intent(conn, intent, failed=event["type"] == "payment_intent.payment_failed", vouchers=vouchers)
    elif event["type"] in SETUP_EVENTS:
        setup = setup_intent_from_data(event["data"]["object"])
        await apply_setup_intent(conn, setup, failed=event["type"] == "setup_intent.setup_failed")
    return True


async def reconcile(
    conn: asyncpg.Connection,
    stripe: StripeGateway,
    older_than_seconds: float,
    vouchers: "VoucherIssuer",
    limit: int = 50,
) -> int:
    """Ask Stripe about payments still open after a while, so a lost webhook never leaves a paid customer
    unconfirmed. Re-fetches the PaymentIntent rather than trusting event order."""
    changed = 0
    for row in await store.stale_open_payments(conn, older_than_seconds, limit):
        if row["kind"] == "setup":
            setup = await stripe.retrieve_setup_intent(row["stripe_setup_intent"])
            if await apply_setup_intent(conn, setup) is not None:
                changed += 1
            continue
        intent = await stripe.retrieve_intent(row["stripe_payment_intent"])
        if await apply_intent(conn, intent, vouchers=vouchers) is not None:
            changed += 1
    await expire_unpaid_vouchers(conn, stripe, vouchers)
    await release_lapsed_voucher_parts(conn, stripe)
    await attach_saved_cards(conn, stripe)  # the cards those payments saved, and any a webhook left unattached
    return changed


async def expire_unpaid_vouchers(
    conn: asyncpg.Connection,
    stripe: StripeGateway,
    vouchers: "VoucherIssuer",
    older_than: timedelta = UNPAID_VOUCHER_EXPIRES_AFTER,
    limit: int = 50,
) -> int:
    """Gift-voucher purchases left unpaid longer than `older_than`: their PaymentIntent cancelled at Stripe and the
    payment recorded canceled as a `payment_intent.canceled` event would (the voucher is never issued, and no
    longer holds up its buyer's erasure). One Stripe says succeeded meanwhile is issued instead: never a charge
    without its voucher. How many were cancelled."""
    expired = 0
    for payment in await store.stale_unpaid_voucher_purchases(conn, older_than.total_seconds(), limit):
        intent = await _cancel_intent(stripe, payment["stripe_payment_intent"])
        new = await apply_intent(conn, intent, vouchers=vouchers)
        if new == "canceled":
            expired += 1
        log.info(
            "unpaid voucher purchase expired" if new == "canceled" else "unpaid voucher purchase went on meanwhile",
            extra={"payment_id": str(payment["id"]), "voucher_id": str(payment["reference_id"]), "status": new},
        )
    return expired


async def _cancel_intent(stripe: StripeGateway, intent_id: str) -> Intent:
    """The PaymentIntent cancelled at Stripe, or as Stripe has it if it may not be cancelled any more (it succeeded,
    or is processing). StripeUnavailable if Stripe cannot say."""
    try:
        return await stripe.cancel_intent(intent_id)
    except StripeRefused:
        return await stripe.retrieve_intent(intent_id)


async def cancel_open_payment(
    conn: asyncpg.Connection, stripe: StripeGateway, booking_id: uuid.UUID, why: str
) -> str | None:
    """A booking's card payment nobody must pay any more, cancelled at Stripe: the booking was never written
    (its hold has expired), or was called off before it was paid. If it was paid meanwhile, that is recorded
    instead (and the booking side refunds it). Returns the payment's new status, or None if nothing was open."""
    payment = await store.lock_payment(conn, "booking", booking_id)
    # A declined card ("failed") leaves its PaymentIntent open at Stripe: another card could still pay it.
    if payment is None or payment["status"] not in {"requires_payment", "processing", "failed"}:
        return None
    if payment["kind"] == "setup":
        return await _cancel_setup(conn, stripe, payment, why)
    try:
        intent = await stripe.cancel_intent(payment["stripe_payment_intent"])
    except StripeRefused:  # not cancellable any more (e.g. it succeeded): take what Stripe says it is
        intent = await stripe.retrieve_intent(payment["stripe_payment_intent"])
    except StripeUnavailable:
        raise _unavailable() from None
    log.warning("cancelled an open card payment", extra={"payment_id": str(payment["id"]), "why": why})
    return await apply_intent(conn, intent)


async def card_may_still_pay(conn: asyncpg.Connection, booking_id: uuid.UUID) -> bool:
    """Whether a booking's card payment succeeded, or is processing and may yet: then its booking is settled by
    that payment (re-booked, or refunded in full: the voucher part too), not by its lapse."""
    payment = await store.lock_payment(conn, "booking", booking_id)
    return payment is not None and payment["status"] in {"succeeded", "processing"}


async def release_lapsed_voucher_part(conn: asyncpg.Connection, stripe: StripeGateway, booking_id: uuid.UUID) -> int:
    """A booking ran out unpaid: its voucher part goes back, once (the value given back). Its card may not pay any
    more first: a card paying the rest late would re-book the time with the voucher part given back (a £65 visit
    for £5). A card payment Stripe cannot cancel (processing) decides instead: if it succeeds the booking side
    re-books or refunds both parts; the booking is marked lapsed so that the part goes back if it does not
    (release_lapsed_voucher_parts)."""
    if not await voucher_service.holds_redemption(conn, booking_id):
        return 0
    await cancel_open_payment(conn, stripe, booking_id, "booking lapsed with a voucher part")
    if await card_may_still_pay(conn, booking_id):
        await store.mark_booking_lapsed(conn, booking_id)
        return 0
    return await voucher_service.give_back(conn, booking_id, entry="release")


async def release_lapsed_voucher_parts(conn: asyncpg.Connection, stripe: StripeGateway, limit: int = 50) -> int:
    """The voucher parts of bookings that lapsed while their card payment was processing, given back now that the
    payment has failed or been cancelled (a failed one is cancelled at Stripe first). How many went back."""
    released = 0
    for booking_id in await store.lapsed_bookings_left_unpaid(conn, limit):
        if await release_lapsed_voucher_part(conn, stripe, booking_id) > 0:
            released += 1
    return released


async def _cancel_setup(conn: asyncpg.Connection, stripe: StripeGateway, payment, why: str) -> str | None:
    try:
        setup = await stripe.cancel_setup_intent(payment["stripe_setup_intent"])
    except StripeRefused:  # not cancellable any more (e.g. it succeeded): take what Stripe says it is
        setup = await stripe.retrieve_setup_intent(payment["stripe_setup_intent"])
    except StripeUnavailable:
        raise _unavailable() from None
    log.warning("cancelled an open card setup", extra={"payment_id": str(payment["id"]), "why": why})
    return await apply_setup_intent(conn, setup)


async def refund_booking_payment(
    conn: asyncpg.Connection,
    stripe: StripeGateway,
    *,
    booking_id: uuid.UUID,
    reason: str,
    cause_event_id: uuid.UUID,
    amount: int | None = None,
) -> int:
    """Refund a booking's card payment (all that is left, or at most `amount`), once per cause; the amount
    refunded (0 if nothing was paid)."""
    payment = await store.lock_payment(conn, "booking", booking_id)
    if payment is None or payment["status"] != "succeeded":
        return 0
    left = payment["amount"] - payment["amount_refunded"]
    amount = left if amount is None else min(amount, left)
    if amount <= 0:
        return 0
    refund_id = await store.insert_refund(
        conn, payment_id=payment["id"], amount=amount, reason=reason, cause_event_id=cause_event_id
    )
    if refund_id is None:
        return 0
    # The fake Stripe sends no refund events: the outcome is taken from the API's answer.
    refund = await stripe.refund(
        intent_id=payment["stripe_payment_intent"], amount=amount, idempotency_key=f"refund-{cause_event_id}"
    )
    await store.complete_refund(conn, refund_id, payment["id"], refund.id, refund.status, refund.amount)
    await add_event(
        conn,
        contracts.event(
            contracts.PaymentRefunded(
                payment_id=str(payment["id"]),
                refund_id=str(refund_id),
                purpose="booking",
                reference_id=str(booking_id),
                reason=reason,
                customer_email=payment["customer_email"],
                amount=contracts.Money(refund.amount, payment["currency"]),
            ),
            clinic_id=str(payment["clinic_id"]),
        ),
    )
    return refund.amount
