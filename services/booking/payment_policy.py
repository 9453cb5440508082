"""How a booking is paid for (issue 20): in full when booked, a deposit then and the rest at the clinic, or a card
saved only (nothing now, all at the clinic); and what missing it or cancelling late costs. Pure: no I/O.

A clinic has one policy (clinics.payment_policy); a treatment may have its own (treatments.payment_policy, null =
the clinic's); a course is paid by its treatment's. A policy is one of:

    {"mode": "full"}                                                          the whole price now (the default)
    {"mode": "deposit", "deposit": {"percent": 1..99}}                        that share of the price now
    {"mode": "deposit", "deposit": {"amount": {"amount": n, "currency": c}}}  that much now (at most the price)
    {"mode": "card"}                                                          nothing now: the card is saved and
                                                                              the price is paid at the clinic

and any of them may add fees, each a percent (1..100) or an amount (at most the price):

    "no_show_fee": {"percent": 50}                                   charged if the customer does not come
    "late_cancellation_fee": {"amount": {"amount": 2000, "currency": "GBP"}}
                                                                     charged if they cancel inside the clinic's
                                                                     change window

Nothing else is accepted (no other key, no other mode). A booking needs a card saved (with Strong Customer
Authentication) when the mode is "card" or any fee is set (needs_saved_card). A fee is fixed in minor units when
the booking is made, from the booking's price (a course: one session's share of the course's price, rounded half
up; a percent rounded half up; an amount never more than that price): fee_amounts.

With a gift voucher, the voucher pays first from the price; the card then pays the deposit, or less if less is
left (nothing in "card" mode); what neither pays is due at the clinic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from shared.money import money

FULL: dict[str, Any] = {"mode": "full"}
MODES = ("full", "deposit", "card")
PERCENT_BOUNDS = (1, 99)
FEE_PERCENT_BOUNDS = (1, 100)
# A deposit or fee amount, in minor units: at least 1, at most what one card payment may be
# (services/payments/domain.py MAX_AMOUNT).
AMOUNT_BOUNDS = (1, 500_000)
# The policy's fee keys, and the kind of fee each is (contracts.FEE_KINDS).
FEES = {"no_show_fee": "no_show", "late_cancellation_fee": "late_cancellation"}
FEE_NAMES = {"no_show_fee": "no-show fee", "late_cancellation_fee": "late-cancellation fee"}
ERROR_TYPE = "invalid_payment_policy"
# The least a card is charged, in minor units: the payments service's MIN_AMOUNT (Stripe's own minimum for GBP is
# 30p). A deposit or fee that comes to less is raised to it, or to the price if that is less.
MIN_CARD_CHARGE = 50
# What a clinic's change window is when nobody says (clinics.change_window_hours' default).
DEFAULT_CHANGE_WINDOW_HOURS = 24


def _money_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["amount", "currency"],
        "properties": {
            "amount": {"type": "integer", "minimum": 1, "maximum": AMOUNT_BOUNDS[1]},
            "currency": {"type": "string", "examples": ["GBP"]},
        },
    }


def _share_schema(percent_bounds: tuple[int, int]) -> dict[str, Any]:
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["percent"],
                "properties": {
                    "percent": {"type": "integer", "minimum": percent_bounds[0], "maximum": percent_bounds[1]}
                },
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["amount"],
                "properties": {"amount": _money_schema()},
                "additionalProperties": False,
            },
        ]
    }


# null: no such fee (as leaving it out).
FEE_SCHEMA: dict[str, Any] = {
    "oneOf": [*_share_schema(FEE_PERCENT_BOUNDS)["oneOf"], {"type": "null"}],
    "description": "a percent of the booking's price (a course: of one session's share), or an amount (at most it);"
    " null or left out: none",
}
_FEE_PROPERTIES: dict[str, Any] = {
    "no_show_fee": {
        **FEE_SCHEMA,
        "description": "charged to the saved card if the customer does not come; " + FEE_SCHEMA["description"],
    },
    "late_cancellation_fee": {
        **FEE_SCHEMA,
        "description": "charged to the saved card if the customer cancels inside the clinic's change window; "
        + FEE_SCHEMA["description"],
    },
}

# The policy as the OpenAPI spec describes it (request bodies and answers alike).
SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["mode"],
            "properties": {"mode": {"const": "full"}, **_FEE_PROPERTIES},
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["mode", "deposit"],
            "properties": {"mode": {"const": "deposit"}, "deposit": _share_schema(PERCENT_BOUNDS), **_FEE_PROPERTIES},
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["mode"],
            "properties": {"mode": {"const": "card"}, **_FEE_PROPERTIES},
            "additionalProperties": False,
        },
    ],
    "examples": [
        {"mode": "full"},
        {"mode": "deposit", "deposit": {"percent": 20}},
        {
            "mode": "card",
            "no_show_fee": {"percent": 50},
            "late_cancellation_fee": {"amount": {"amount": 2000, "currency": "GBP"}},
        },
    ],
}


class PolicyInvalid(ValueError):
    """A payment policy we do not accept; `message` says why in a sentence (422 invalid_payment_policy)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _share(given: Any, what: str, percent_bounds: tuple[int, int], currency: str) -> dict[str, Any]:
    """A deposit or a fee: {"percent": n} or {"amount": money}, checked; `what` names it in the sentences."""
    if not isinstance(given, Mapping) or len(given) != 1 or set(given) - {"percent", "amount"}:
        raise PolicyInvalid(f'The {what} must be either a "percent" or an "amount", not both.')
    if "percent" in given:
        percent = given["percent"]
        low, high = percent_bounds
        if not _whole(percent) or not low <= percent <= high:
            raise PolicyInvalid(f"A {what} percent must be a whole number from {low} to {high}.")
        return {"percent": percent}
    amount = given["amount"]
    if not isinstance(amount, Mapping) or set(amount) != {"amount", "currency"}:
        raise PolicyInvalid(f'A {what} amount must be money: {{"amount": minor units, "currency": "GBP"}}.')
    low, high = AMOUNT_BOUNDS
    if not _whole(amount["amount"]) or not low <= amount["amount"] <= high:
        raise PolicyInvalid(f"A {what} amount must be a whole number of minor units from {low} to {high}.")
    if not isinstance(amount["currency"], str) or amount["currency"].upper() != currency.upper():
        raise PolicyInvalid(f"A {what} amount must be in the clinic's currency, {currency.upper()}.")
    return {"amount": {"amount": amount["amount"], "currency": currency.upper()}}


def parse(data: Any, currency: str) -> dict[str, Any]:
    """The policy as kept, from what was given; `currency` is the clinic's (an amount must be in it).
    Else PolicyInvalid."""
    if not isinstance(data, Mapping):
        raise PolicyInvalid('The payment policy must be an object such as {"mode": "full"}.')
    mode = data.get("mode")
    if mode not in MODES:
        raise PolicyInvalid('The payment policy\'s mode must be "full", "deposit" or "card".')
    own = {"mode", "deposit"} if mode == "deposit" else {"mode"}
    if mode == "deposit" and "deposit" not in data:
        raise PolicyInvalid('A "deposit" payment policy needs its deposit.')
    if unknown := set(data) - own - set(FEES):
        raise PolicyInvalid(
            f'A "{mode}" payment policy has its mode{", a deposit" if mode == "deposit" else ""} and optional '
            f'"no_show_fee" and "late_cancellation_fee", nothing else (not {", ".join(sorted(map(str, unknown)))}).'
        )
    kept: dict[str, Any] = {"mode": mode}
    if mode == "deposit":
        kept["deposit"] = _share(data["deposit"], "deposit", PERCENT_BOUNDS, currency)
    for key in FEES:
        if data.get(key) is not None:
            kept[key] = _share(data[key], FEE_NAMES[key], FEE_PERCENT_BOUNDS, currency)
    return kept


def effective(clinic_policy: Mapping[str, Any] | None, treatment_policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """The policy a booking of the treatment is paid by: the treatment's own, else the clinic's, else full."""
    chosen = treatment_policy if treatment_policy is not None else clinic_policy
    return dict(chosen) if chosen is not None else dict(FULL)


def is_deposit(policy: Mapping[str, Any]) -> bool:
    return policy.get("mode") == "deposit"


def is_card_only(policy: Mapping[str, Any]) -> bool:
    return policy.get("mode") == "card"


def has_fees(policy: Mapping[str, Any]) -> bool:
    return any(policy.get(key) is not None for key in FEES)


def needs_saved_card(policy: Mapping[str, Any]) -> bool:
    """Whether a booking under the policy saves the customer's card (for the fees, or to hold it in "card" mode)."""
    return is_card_only(policy) or has_fees(policy)


def is_plain(policy: Mapping[str, Any]) -> bool:
    """Paid in full when booking, with no fee: as before the policies (nothing more to say about it)."""
    return policy.get("mode", "full") == "full" and not has_fees(policy)


def deposit_for(policy: Mapping[str, Any], price: int) -> int:
    """What is paid when booking, of `price` (minor units): the whole price for full; a percent rounded half up
    to the minor unit; an amount, but never more than the price; nothing in "card" mode."""
    if price <= 0 or is_card_only(policy):
        return 0
    if not is_deposit(policy):
        return price
    deposit = policy["deposit"]
    if "percent" in deposit:
        share = (price * int(deposit["percent"]) + 50) // 100
    else:
        share = int(deposit["amount"]["amount"])
    return card_charge(share, price)


def card_charge(share: int, price: int) -> int:
    """A share of `price` to charge by card, raised to the least a card may be charged (MIN_CARD_CHARGE; a smaller
    charge would be refused, so a small percent of a cheap treatment would refuse every booking of it), at most
    the price; 0 (nothing by card) if it comes to nothing or the price itself is less than that least charge."""
    if share <= 0 or price < MIN_CARD_CHARGE:
        return 0
    return min(price, max(share, MIN_CARD_CHARGE))


def session_share(price: int, sessions: int = 1) -> int:
    """One session's share of a price over `sessions`, rounded half up to the minor unit."""
    sessions = max(1, sessions)
    return (2 * price + sessions) // (2 * sessions)


def fee_for(fee: Mapping[str, Any] | None, price: int) -> int | None:
    """A fee (a policy's "no_show_fee" or "late_cancellation_fee") of `price`: a percent rounded half up, an amount
    at most the price, at least the least a card may be charged; None if there is no fee (or none a card could be
    charged: it comes to nothing, or the price is less than the least charge)."""
    if fee is None or price <= 0:
        return None
    amount = (price * int(fee["percent"]) + 50) // 100 if "percent" in fee else int(fee["amount"]["amount"])
    return card_charge(amount, price) or None


@dataclass(frozen=True)
class Fees:
    """A booking's fees in minor units, fixed when it is made (None: no such fee)."""

    no_show: int | None = None
    late_cancellation: int | None = None


def fee_amounts(policy: Mapping[str, Any], price: int, sessions: int = 1) -> Fees:
    """The fees of a booking of `price` (a course's: over its `sessions`, each session's fee from its share)."""
    share = session_share(price, sessions)
    return Fees(
        no_show=fee_for(policy.get("no_show_fee"), share),
        late_cancellation=fee_for(policy.get("late_cancellation_fee"), share),
    )


@dataclass(frozen=True)
class Parts:
    """How a price is paid: by the voucher, by card now, and at the clinic; the three add up to the price."""

    voucher: int
    card: int
    at_clinic: int


def parts(policy: Mapping[str, Any], price: int, voucher_part: int = 0) -> Parts:
    """The voucher pays first (at most the price); the card pays the deposit, or what is left if less (nothing in
    "card" mode); the rest is due at the clinic."""
    voucher = max(0, min(voucher_part, price))
    left = price - voucher
    card = min(deposit_for(policy, price), left)
    return Parts(voucher=voucher, card=card, at_clinic=left - card)


def card_at_most(policy: Mapping[str, Any], price: int) -> int | None:
    """What payments is told the card may pay at most (BookingPaymentIn.card_at_most): the deposit under a deposit
    policy, 0 in "card" mode, None (no cap: today's behaviour) under full."""
    if is_card_only(policy):
        return 0
    return deposit_for(policy, price) if is_deposit(policy) else None


def _fee_words(fees: Fees, currency: str, hours: int, sessions: int) -> list[str]:
    missed = "a session" if sessions > 1 else "the appointment"
    said = []
    if fees.no_show is not None:
        said.append(
            f"If you miss {missed}, a no-show fee of {money(fees.no_show, currency)} is charged to your saved card."
        )
    if fees.late_cancellation is not None:
        said.append(
            f"Cancelling less than {_hours(hours)} before costs a late-cancellation fee of "
            f"{money(fees.late_cancellation, currency)}" + (" a session." if sessions > 1 else ".")
        )
    return said


def _hours(hours: int) -> str:
    return "1 hour" if hours == 1 else f"{hours} hours"


def words(
    policy: Mapping[str, Any],
    price: int,
    currency: str,
    change_window_hours: int = DEFAULT_CHANGE_WINDOW_HOURS,
    sessions: int = 1,
) -> str:
    """The policy said to a customer, for `price`: 'Pay £65.00 now.', 'Pay a deposit of £13.00 now (20%); the rest,
    £52.00, at the clinic.' (an amount deposit without the percent) or 'Nothing to pay now; your card is saved and
    the £65.00 is paid at the clinic.', then each fee: 'If you miss the appointment, a no-show fee of £32.50 is
    charged to your saved card.' 'Cancelling less than 24 hours before costs a late-cancellation fee of £20.00.'"""
    deposit = deposit_for(policy, price)
    if is_card_only(policy):
        said = f"Nothing to pay now; your card is saved and the {money(price, currency)} is paid at the clinic."
    elif not is_deposit(policy) or deposit >= price:
        said = f"Pay {money(price, currency)} now."
    else:
        share = f" ({policy['deposit']['percent']}%)" if "percent" in policy["deposit"] else ""
        said = (
            f"Pay a deposit of {money(deposit, currency)} now{share}; "
            f"the rest, {money(price - deposit, currency)}, at the clinic."
        )
    fees = fee_amounts(policy, price, sessions)
    return " ".join([said, *_fee_words(fees, currency, change_window_hours, sessions)])


def _general_fee(fee: Mapping[str, Any], currency: str) -> str:
    if "percent" in fee:
        return f"{fee['percent']}% of the price"
    return f"{money(max(int(fee['amount']['amount']), MIN_CARD_CHARGE), currency)} (the price, if less)"


def general_words(
    policy: Mapping[str, Any], currency: str, change_window_hours: int = DEFAULT_CHANGE_WINDOW_HOURS
) -> str:
    """The policy said without a price (the clinic's default, shown before a treatment is chosen): 'Pay in full
    when booking.', 'Pay a deposit of 20% when booking; the rest at the clinic.', 'Pay a deposit of £15.00 when
    booking (the price, if less); the rest at the clinic.' or 'Nothing to pay when booking; your card is saved and
    the price is paid at the clinic.', then each fee ('If you miss the appointment, a no-show fee of 50% of the
    price is charged to your saved card.')."""
    if is_card_only(policy):
        said = ["Nothing to pay when booking; your card is saved and the price is paid at the clinic."]
    elif not is_deposit(policy):
        said = ["Pay in full when booking."]
    elif "percent" in policy["deposit"]:
        said = [f"Pay a deposit of {policy['deposit']['percent']}% when booking; the rest at the clinic."]
    else:
        amount = money(max(int(policy["deposit"]["amount"]["amount"]), MIN_CARD_CHARGE), currency)
        said = [f"Pay a deposit of {amount} when booking (the price, if less); the rest at the clinic."]
    if (fee := policy.get("no_show_fee")) is not None:
        said.append(
            f"If you miss the appointment, a no-show fee of {_general_fee(fee, currency)} is charged to your saved card."
        )
    if (fee := policy.get("late_cancellation_fee")) is not None:
        said.append(
            f"Cancelling less than {_hours(change_window_hours)} before costs a late-cancellation fee of "
            f"{_general_fee(fee, currency)}."
        )
    return " ".join(said)


def _money_or_none(amount: int | None, currency: str) -> dict[str, Any] | None:
    return {"amount": amount, "currency": currency} if amount is not None else None


def public_json(
    policy: Mapping[str, Any],
    price: int,
    currency: str,
    change_window_hours: int = DEFAULT_CHANGE_WINDOW_HOURS,
    sessions: int = 1,
) -> dict[str, Any]:
    """A policy for a price, as the public JSON shows it: the policy's own keys, `deposit_amount` (money: what is
    paid when booking; the price under full, nothing in "card" mode), `no_show_fee` and `late_cancellation_fee`
    (money: each fee for this price, a course's per session; null: none), `save_card` (whether booking saves the
    card) and `words`."""
    fees = fee_amounts(policy, price, sessions)
    return {
        **dict(policy),
        "deposit_amount": {"amount": deposit_for(policy, price), "currency": currency},
        "no_show_fee": _money_or_none(fees.no_show, currency),
        "late_cancellation_fee": _money_or_none(fees.late_cancellation, currency),
        "save_card": needs_saved_card(policy),
        "words": words(policy, price, currency, change_window_hours, sessions),
    }
