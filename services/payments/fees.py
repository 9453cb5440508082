"""No-show and late-cancellation fees (issue 20): charged off session to the booking's saved card, once per
booking and kind; when that does not go through, paid by the customer from a pay link.

A fee is a `booking_fees` row (one per booking and kind: a repeated event or a second mark finds it and does
nothing). Its off-session charge is recorded on the row (`stripe_payment_intent`); a payment from the pay link is a
`payments` row of purpose 'fee' whose reference is the fee."""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

import asyncpg

from services.payments import store
from services.payments.domain import FROM_STRIPE, PaymentError, fee_failure
from services.payments.stripe_gateway import StripeGateway, StripeRefused, StripeUnavailable
from shared import contracts
from shared.outbox import add_event

log = logging.getLogger(__name__)
LINK_ROLE = "fee"  # the pay link's token: keys.link_token("fee", fee_id), as a voucher buyer's link


class LinkKeys(Protocol):
    def link_token(self, role: str, thing_id: uuid.UUID) -> str: ...

    def allows(self, role: str, thing_id: uuid.UUID, token: str) -> bool: ...


def _unavailable() -> PaymentError:
    return PaymentError(
        503,
        "payment_provider_unavailable",
        "Card payments are unavailable for a moment; nothing was charged. Please retry shortly",
    )


def fee_json(row) -> dict:
    """The fee as its pay page sees it."""
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "amount": {"amount": row["amount"], "currency": row["currency"]},
        "status": row["status"],
        "booking_id": str(row["booking_id"]),
        "clinic_id": str(row["clinic_id"]),
        "created_at": row["created_at"].isoformat(),
        "failure": row["failure"],
    }


async def attach(conn: asyncpg.Connection, stripe: StripeGateway, card) -> str:
    """The saved card attached to its Customer (offline nothing attaches it on confirm): the id to charge."""
    payment_method = await stripe.attach_card(card["payment_method"], card["stripe_customer"])
    await store.card_attached(conn, card["reference_id"], payment_method)
    return payment_method


async def _announce(conn: asyncpg.Connection, fee, event_type: str, **extra) -> None:
    await add_event(
        conn,
        contracts.event(
            contracts.FeeOutcome(
                fee_id=str(fee["id"]),
                booking_id=str(fee["booking_id"]),
                kind=fee["kind"],
                amount=contracts.Money(fee["amount"], fee["currency"]),
                customer_email=fee["customer_email"],
                **extra,
            ),
            event_type,
            clinic_id=str(fee["clinic_id"]),
        ),
    )


async def charge(conn: asyncpg.Connection, stripe: StripeGateway, keys: LinkKeys, booking: contracts.BookingChanged):
    """A booking's fee (its event's `fee`), recorded once and charged off session to its saved card (the
    series' card for a course's session): `fee.charged`, or `fee.failed` with the pay link's token. Stripe
    unavailable raises StripeUnavailable (nothing recorded: the consumer retries the event)."""
    due = booking.fee
    if due is None:
        return None
    fee = await store.insert_fee(
        conn,
        clinic_id=uuid.UUID(booking.clinic.id),
        booking_id=uuid.UUID(booking.booking_id),
        paid_for=uuid.UUID(booking.paid_for),
        kind=due.kind,
        amount=due.amount.amount,
        currency=due.amount.currency,
        customer_email=booking.customer.email if booking.customer else None,
    )
    if fee is None:
        log.info("fee already owed; nothing more to charge", extra={"booking_id": booking.booking_id})
        return None
    card = await store.saved_card(conn, fee["paid_for"])
    if card is None:
        return await _failed(conn, keys, fee, "No card was saved for this booking")
    try:
        payment_method = card["payment_method"] if card["attached_at"] else await attach(conn, stripe, card)
        intent = await stripe.charge_off_session(
            amount=fee["amount"],
            currency=fee["currency"],
            customer=card["stripe_customer"],
            payment_method=payment_method,
            metadata={
                "purpose": "fee",
                "fee_id": str(fee["id"]),
                "reference_id": str(fee["booking_id"]),
                "clinic_id": str(fee["clinic_id"]),
            },
            idempotency_key=f"fee-{fee['booking_id']}-{fee['kind']}",
        )
    except StripeRefused as exc:
        log.warning("fee charge refused", extra={"fee_id": str(fee["id"]), "code": exc.code})
        return await _failed(conn, keys, fee, fee_failure(exc.code))
    if intent.status != "succeeded":
        # The bank wants the customer (the fake's `requires_action`): nobody is there to confirm it. The pay link
        # makes a payment of its own, so this one is cancelled.
        try:
            await stripe.cancel_intent(intent.id)
        except (StripeRefused, StripeUnavailable):
            log.warning("could not cancel a fee charge left open", extra={"intent": intent.id})
        return await _failed(conn, keys, fee, fee_failure(None, intent.status))
    fee = await store.settle_fee(conn, fee["id"], "charged", intent_id=intent.id)
    await _announce(conn, fee, "fee.charged", via="off_session")
    log.info("fee charged", extra={"fee_id": str(fee["id"]), "kind": fee["kind"]})
    return fee


async def _failed(conn: asyncpg.Connection, keys: LinkKeys, fee, failure: str):
    fee = await store.settle_fee(conn, fee["id"], "failed", failure=failure)
    await _announce(conn, fee, "fee.failed", failure=failure, pay_token=keys.link_token(LINK_ROLE, fee["id"]))
    return fee


async def paid_by_link(conn: asyncpg.Connection, fee_id: uuid.UUID) -> None:
    """The customer paid the fee from its pay link (its payment succeeded): `fee.charged` via the pay link."""
    fee = await store.lock_fee(conn, fee_id)
    if fee is None or fee["status"] in {"charged", "paid"}:
        return
    fee = await store.settle_fee(conn, fee_id, "paid")
    await _announce(conn, fee, "fee.charged", via="pay_link")


async def pay_link_payment(conn: asyncpg.Connection, stripe: StripeGateway, fee_id: uuid.UUID) -> dict:
    """The on-session payment of a fee from its pay link: created once (a failed or canceled one is replaced);
    409 once the fee is charged or paid."""
    fee = await store.lock_fee(conn, fee_id)
    if fee is None:
        raise PaymentError(404, "fee_not_found", "This fee link is not valid")
    if fee["status"] in {"charged", "paid"}:
        raise PaymentError(409, "fee_already_paid", "This fee has already been paid")
    existing = await store.lock_payment(conn, "fee", fee_id)
    if existing is not None and existing["status"] == "succeeded":
        raise PaymentError(409, "fee_already_paid", "This fee has already been paid")
    if existing is not None and existing["status"] in {"requires_payment", "processing"}:
        return _pay_json(existing)
    payment_id = existing["id"] if existing is not None else uuid.uuid4()
    try:
        intent = await stripe.create_intent(
            amount=fee["amount"],
            currency=fee["currency"],
            metadata={
                "purpose": "fee",
                "fee_id": str(fee_id),
                "reference_id": str(fee_id),
                "clinic_id": str(fee["clinic_id"]),
                "payment_id": str(payment_id),
            },
            idempotency_key=f"fee-payment-{fee_id}-{uuid.uuid4()}",
        )
    except StripeUnavailable:
        raise _unavailable() from None
    except StripeRefused as exc:
        raise PaymentError(422, "payment_refused", str(exc)) from None
    status = FROM_STRIPE.get(intent.status, "requires_payment")
    if existing is not None:
        row = await store.replace_intent(conn, payment_id, intent.id, intent.client_secret, status)
    else:
        row = await store.insert_payment(
            conn,
            payment_id=payment_id,
            clinic_id=fee["clinic_id"],
            purpose="fee",
            reference_id=fee_id,
            amount=fee["amount"],
            currency=fee["currency"],
            customer_email=fee["customer_email"],
            intent_id=intent.id,
            client_secret=intent.client_secret,
            status=status,
        )
    return _pay_json(row)


def _pay_json(row) -> dict:
    return {
        "client_secret": row["client_secret"],
        "stripe_payment_intent": row["stripe_payment_intent"],
        "amount": {"amount": row["amount"], "currency": row["currency"]},
        "status": row["status"],
    }
