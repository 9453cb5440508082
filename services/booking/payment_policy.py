"""How a booking is paid for (issue 20): in full when booked, or a deposit then and the rest at the clinic.
Pure: no I/O.

A clinic has one policy (clinics.payment_policy); a treatment may have its own (treatments.payment_policy, null =
the clinic's); a course is paid by its treatment's. A policy is one of:

    {"mode": "full"}                                                          the whole price now (the default)
    {"mode": "deposit", "deposit": {"percent": 1..99}}                        that share of the price now
    {"mode": "deposit", "deposit": {"amount": {"amount": n, "currency": c}}}  that much now (at most the price)

Nothing else is accepted (no other key, no other mode): later kinds (a card saved only, no-show fees) will be new
modes or new keys, added here.

With a gift voucher, the voucher pays first from the price; the card then pays the deposit, or less if less is
left; what neither pays is due at the clinic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from shared.money import money

FULL: dict[str, Any] = {"mode": "full"}
MODES = ("full", "deposit")
PERCENT_BOUNDS = (1, 99)
# A deposit amount, in minor units: at least 1, at most what one card payment may be
# (services/payments/domain.py MAX_AMOUNT).
AMOUNT_BOUNDS = (1, 500_000)
ERROR_TYPE = "invalid_payment_policy"


# The policy as the OpenAPI spec describes it (request bodies and answers alike).
SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["mode"],
            "properties": {"mode": {"const": "full"}},
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["mode", "deposit"],
            "properties": {
                "mode": {"const": "deposit"},
                "deposit": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["percent"],
                            "properties": {"percent": {"type": "integer", "minimum": 1, "maximum": 99}},
                            "additionalProperties": False,
                        },
                        {
                            "type": "object",
                            "required": ["amount"],
                            "properties": {
                                "amount": {
                                    "type": "object",
                                    "required": ["amount", "currency"],
                                    "properties": {
                                        "amount": {"type": "integer", "minimum": 1, "maximum": AMOUNT_BOUNDS[1]},
                                        "currency": {"type": "string", "examples": ["GBP"]},
                                    },
                                }
                            },
                            "additionalProperties": False,
                        },
                    ]
                },
            },
            "additionalProperties": False,
        },
    ],
    "examples": [{"mode": "full"}, {"mode": "deposit", "deposit": {"percent": 20}}],
}


class PolicyInvalid(ValueError):
    """A payment policy we do not accept; `message` says why in a sentence (422 invalid_payment_policy)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse(data: Any, currency: str) -> dict[str, Any]:
    """The policy as kept, from what was given; `currency` is the clinic's (an amount must be in it).
    Else PolicyInvalid."""
    if not isinstance(data, Mapping):
        raise PolicyInvalid('The payment policy must be an object such as {"mode": "full"}.')
    mode = data.get("mode")
    if mode not in MODES:
        raise PolicyInvalid('The payment policy\'s mode must be "full" or "deposit".')
    if mode == "full":
        if set(data) != {"mode"}:
            raise PolicyInvalid('A "full" payment policy has nothing but its mode.')
        return dict(FULL)
    if set(data) != {"mode", "deposit"}:
        raise PolicyInvalid('A "deposit" payment policy has its mode and a deposit, and nothing else.')
    deposit = data["deposit"]
    if not isinstance(deposit, Mapping) or len(deposit) != 1 or set(deposit) - {"percent", "amount"}:
        raise PolicyInvalid('The deposit must be either a "percent" or an "amount", not both.')
    if "percent" in deposit:
        percent = deposit["percent"]
        low, high = PERCENT_BOUNDS
        if not _whole(percent) or not low <= percent <= high:
            raise PolicyInvalid(f"A deposit percent must be a whole number from {low} to {high}.")
        return {"mode": "deposit", "deposit": {"percent": percent}}
    amount = deposit["amount"]
    if not isinstance(amount, Mapping) or set(amount) != {"amount", "currency"}:
        raise PolicyInvalid('A deposit amount must be money: {"amount": minor units, "currency": "GBP"}.')
    low, high = AMOUNT_BOUNDS
    if not _whole(amount["amount"]) or not low <= amount["amount"] <= high:
        raise PolicyInvalid(f"A deposit amount must be a whole number of minor units from {low} to {high}.")
    if not isinstance(amount["currency"], str) or amount["currency"].upper() != currency.upper():
        raise PolicyInvalid(f"A deposit amount must be in the clinic's currency, {currency.upper()}.")
    return {"mode": "deposit", "deposit": {"amount": {"amount": amount["amount"], "currency": currency.upper()}}}


def effective(clinic_policy: Mapping[str, Any] | None, treatment_policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy a booking of the treatment is paid by: the treatment's own, else the clinic's, else full."""
    chosen = treatment_policy if treatment_policy is not None else clinic_policy
    return dict(chosen) if chosen is not None else dict(FULL)


def is_deposit(policy: Mapping[str, Any]) -> bool:
    return policy.get("mode") == "deposit"


def deposit_for(policy: Mapping[str, Any], price: int) -> int:
    """What is paid when booking, of `price` (minor units): the whole price for full; a percent rounded half up
    to the minor unit; an amount, but never more than the price."""
    if price <= 0:
        return 0
    if not is_deposit(policy):
        return price
    deposit = policy["deposit"]
    if "percent" in deposit:
        return min(price, (price * int(deposit["percent"]) + 50) // 100)
    return min(price, int(deposit["amount"]["amount"]))


@dataclass(frozen=True)
class Parts:
    """How a price is paid: by the voucher, by card now, and at the clinic; the three add up to the price."""

    voucher: int
    card: int
    at_clinic: int


def parts(policy: Mapping[str, Any], price: int, voucher_part: int = 0) -> Parts:
    """The voucher pays first (at most the price); the card pays the deposit, or what is left if less; the rest
    is due at the clinic."""
    voucher = max(0, min(voucher_part, price))
    left = price - voucher
    card = min(deposit_for(policy, price), left)
    return Parts(voucher=voucher, card=card, at_clinic=left - card)


def card_at_most(policy: Mapping[str, Any], price: int) -> int | None:
    """What payments is told the card may pay at most (BookingPaymentIn.card_at_most): the deposit under a deposit
    policy, None (no cap: today's behaviour) under full."""
    return deposit_for(policy, price) if is_deposit(policy) else None


def words(policy: Mapping[str, Any], price: int, currency: str) -> str:
    """The policy said to a customer, for `price`: 'Pay £65.00 now.', or 'Pay a deposit of £13.00 now (20%); the
    rest, £52.00, at the clinic.' (an amount deposit without the percent)."""
    deposit = deposit_for(policy, price)
    if not is_deposit(policy) or deposit >= price:
        return f"Pay {money(price, currency)} now."
    share = f" ({policy['deposit']['percent']}%)" if "percent" in policy["deposit"] else ""
    return (
        f"Pay a deposit of {money(deposit, currency)} now{share}; "
        f"the rest, {money(price - deposit, currency)}, at the clinic."
    )


def general_words(policy: Mapping[str, Any], currency: str) -> str:
    """The policy said without a price (the clinic's default, shown before a treatment is chosen): 'Pay in full
    when booking.', 'Pay a deposit of 20% when booking; the rest at the clinic.', or 'Pay a deposit of £15.00 when
    booking (the price, if less); the rest at the clinic.'"""
    if not is_deposit(policy):
        return "Pay in full when booking."
    deposit = policy["deposit"]
    if "percent" in deposit:
        return f"Pay a deposit of {deposit['percent']}% when booking; the rest at the clinic."
    amount = money(int(deposit["amount"]["amount"]), currency)
    return f"Pay a deposit of {amount} when booking (the price, if less); the rest at the clinic."


def public_json(policy: Mapping[str, Any], price: int, currency: str) -> dict[str, Any]:
    """A policy for a price, as the public JSON shows it: the policy's own keys, `deposit_amount` (money: what is
    paid when booking; the price under full) and `words`."""
    return {
        **dict(policy),
        "deposit_amount": {"amount": deposit_for(policy, price), "currency": currency},
        "words": words(policy, price, currency),
    }
