"""Payment rules with no I/O: how Stripe's PaymentIntent states map onto ours, and which moves are allowed."""

from __future__ import annotations

from datetime import timedelta

from shared.domain_errors import DomainError

# Stripe PaymentIntent status → ours. Everything before a charge is "requires_payment" to us.
FROM_STRIPE = {
    "requires_payment_method": "requires_payment",
    "requires_confirmation": "requires_payment",
    "requires_action": "requires_payment",
    "requires_capture": "processing",
    "processing": "processing",
    "succeeded": "succeeded",
    "canceled": "canceled",
}
# Stripe SetupIntent status → ours (a card saved with nothing to pay: the booking's payment of amount 0).
FROM_STRIPE_SETUP = {
    "requires_payment_method": "requires_payment",
    "requires_confirmation": "requires_payment",
    "requires_action": "requires_payment",
    "processing": "processing",
    "succeeded": "succeeded",
    "canceled": "canceled",
}
FINAL = frozenset({"succeeded", "canceled"})

# A gift-voucher purchase not paid this long after it started is cancelled by the reconciler: Stripe never expires
# a PaymentIntent by itself, so an abandoned pay page would leave the voucher awaiting payment (and its buyer
# impossible to erase) for ever. Paying takes minutes (a bank's 3-D Secure check included); a day lets a buyer come
# back to a tab left open overnight, and still frees an abandoned purchase the next day.
UNPAID_VOUCHER_EXPIRES_AFTER = timedelta(hours=24)

# Attaching a saved card to its Customer (the reconciler's round): a card Stripe refuses is tried again after
# ATTACH_FIRST_RETRY, each wait twice the last, ATTACH_TRIES times in all (10 min to 2 h 40: about 5 hours), then
# given up. A refusal is usually final (a declined or removed card), so more tries would only spend Stripe calls;
# a fee still attaches the card when it charges it.
ATTACH_TRIES = 6
ATTACH_FIRST_RETRY = timedelta(minutes=10)

# Booking amounts we accept for one card payment, in minor units.
MIN_AMOUNT = 50
MAX_AMOUNT = 500_000


class PaymentError(DomainError):
    """A payment request the rules refuse, or a card processor outage (503)."""


def next_status(current: str, incoming: str) -> str | None:
    """The status to move to, or None to stay. Final states never change, so an old or repeated
    Stripe event (e.g. `created` arriving after `succeeded`) cannot undo a payment."""
    if current in FINAL or incoming == current:
        return None
    return incoming


def next_attach_try(refusals: int) -> timedelta | None:
    """How long after its `refusals`-th refusal a saved card is tried again, or None: given up."""
    if refusals >= ATTACH_TRIES:
        return None
    # The first wait after the first refusal, then twice the last wait after each next one.
    return ATTACH_FIRST_RETRY * (1 << max(refusals - 1, 0))


def check_amount(amount: int, currency: str, clinic_currency: str) -> None:
    if currency.upper() != clinic_currency.upper():
        raise PaymentError(422, "currency_mismatch", f"This clinic takes payments in {clinic_currency.upper()}")
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise PaymentError(
            422, "amount_out_of_range", f"Card payments must be between {MIN_AMOUNT} and {MAX_AMOUNT} minor units"
        )


def card_and_clinic_parts(rest: int, card_at_most: int | None) -> tuple[int, int]:
    """What is left after the voucher part, split: (the card part, now; what is due at the clinic). The card pays
    it all unless the booking service caps it (a deposit), then at most the cap; the clinic is owed the rest."""
    card = rest if card_at_most is None else min(card_at_most, rest)
    if card_at_most is not None and 0 < card < MIN_AMOUNT:
        card = 0  # what a voucher left of a deposit is too little to charge by card: paid at the clinic
    return card, rest - card


FEE_FAILURES = {
    "card_declined": "Your card was declined",
    "authentication_required": "Your bank asked you to confirm this payment yourself",
    "expired_card": "Your card has expired",
    "insufficient_funds": "Your card was declined for insufficient funds",
}


def fee_failure(code: str | None, status: str | None = None) -> str:
    """Why an off-session charge of a fee did not go through, in words for the customer's email."""
    if status == "requires_action":  # what the fake answers where real Stripe says authentication_required
        code = "authentication_required"
    return FEE_FAILURES.get(code or "", "Your card could not be charged")
