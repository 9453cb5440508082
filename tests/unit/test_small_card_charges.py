"""A deposit, a fee, or what a voucher leaves of a deposit, that comes to less than a card may be charged (50p):
raised to that least charge (at most the price), or, if the price is less, left to be paid at the clinic (a fee:
none); never a booking refused because a small percent of a cheap treatment is too little for a card."""

from __future__ import annotations

import pytest

from services.booking import payment_policy
from services.payments.domain import MIN_AMOUNT, card_and_clinic_parts

ONE_PERCENT = {"mode": "deposit", "deposit": {"percent": 1}}
TEN_PENCE = {"mode": "deposit", "deposit": {"amount": {"amount": 10, "currency": "GBP"}}}


def test_both_services_agree_on_the_least_card_charge():
    assert payment_policy.MIN_CARD_CHARGE == MIN_AMOUNT


@pytest.mark.parametrize(
    ("policy", "price", "deposit"),
    [
        (ONE_PERCENT, 2000, 50),  # 20p raised to 50p
        (TEN_PENCE, 6500, 50),
        (ONE_PERCENT, 60, 50),  # 1p raised: never more than the price, which is more than 50p
        (ONE_PERCENT, 30, 0),  # no card charge is that small: all at the clinic
        (ONE_PERCENT, 10_000, 100),  # enough already: as it was
    ],
    ids=["percent-raised", "amount-raised", "raised-below-price", "price-too-small", "unchanged"],
)
def test_a_deposit_is_at_least_the_least_card_charge(policy, price, deposit):
    assert payment_policy.deposit_for(policy, price) == deposit
    parts = payment_policy.parts(policy, price)
    assert parts.card == deposit and parts.card + parts.at_clinic == price


def test_the_words_say_the_deposit_charged():
    assert payment_policy.words(ONE_PERCENT, 2000, "GBP").startswith("Pay a deposit of £0.50 now")
    tiny_fee = {**TEN_PENCE, "no_show_fee": {"amount": {"amount": 10, "currency": "GBP"}}}
    said = payment_policy.general_words(tiny_fee, "GBP")
    assert said.startswith("Pay a deposit of £0.50 when booking") and "no-show fee of £0.50" in said


@pytest.mark.parametrize(
    ("fee", "price", "amount"),
    [
        ({"percent": 1}, 2000, 50),
        ({"amount": {"amount": 10, "currency": "GBP"}}, 6500, 50),
        ({"amount": {"amount": 10, "currency": "GBP"}}, 55, 50),
        ({"amount": {"amount": 10, "currency": "GBP"}}, 40, None),  # no card charge is that small: no fee
        ({"percent": 50}, 6500, 3250),
    ],
    ids=["percent-raised", "amount-raised", "raised-below-price", "price-too-small", "unchanged"],
)
def test_a_fee_is_at_least_the_least_card_charge(fee, price, amount):
    assert payment_policy.fee_for(fee, price) == amount


@pytest.mark.parametrize(
    ("rest", "cap", "parts"),
    [
        (30, 1300, (0, 30)),  # a voucher left 30p of the deposit: paid at the clinic, not refused
        (60, 1300, (60, 0)),
        (6500, 1300, (1300, 5200)),
        (30, None, (30, 0)),  # paying in full: unchanged (refused as too small, as before)
        (0, 1300, (0, 0)),
    ],
    ids=["small-rest-to-clinic", "rest-charged", "deposit", "full-unchanged", "nothing"],
)
def test_what_a_voucher_leaves_of_a_deposit_too_small_for_a_card_is_due_at_the_clinic(rest, cap, parts):
    assert card_and_clinic_parts(rest, cap) == parts
