"""The payment policy (issue 20): what is accepted, the deposit for a price, the parts with a voucher, the words."""

from __future__ import annotations

import pytest

from services.booking import payment_policy as pp

PERCENT_20 = {"mode": "deposit", "deposit": {"percent": 20}}
AMOUNT_1500 = {"mode": "deposit", "deposit": {"amount": {"amount": 1500, "currency": "GBP"}}}


@pytest.mark.parametrize("given", [{"mode": "full"}, PERCENT_20, AMOUNT_1500])
def test_accepted_policies_are_kept_as_given(given):
    assert pp.parse(given, "GBP") == given


def test_amount_currency_is_kept_upper_case():
    given = {"mode": "deposit", "deposit": {"amount": {"amount": 1500, "currency": "gbp"}}}
    assert pp.parse(given, "GBP") == AMOUNT_1500


@pytest.mark.parametrize(
    "given",
    [
        None,
        [],
        {},
        {"mode": "later"},
        {"mode": "card_saved"},
        {"mode": "full", "deposit": {"percent": 20}},
        {"mode": "full", "no_show_fee": 500},
        {"mode": "deposit"},
        {"mode": "deposit", "deposit": {}},
        {"mode": "deposit", "deposit": {"percent": 0}},
        {"mode": "deposit", "deposit": {"percent": 100}},
        {"mode": "deposit", "deposit": {"percent": 20.5}},
        {"mode": "deposit", "deposit": {"percent": True}},
        {"mode": "deposit", "deposit": {"percent": "20"}},
        {"mode": "deposit", "deposit": {"percent": 20, "amount": {"amount": 1500, "currency": "GBP"}}},
        {"mode": "deposit", "deposit": {"percent": 20}, "no_show_fee": 500},
        {"mode": "deposit", "deposit": {"amount": 1500}},
        {"mode": "deposit", "deposit": {"amount": {"amount": 0, "currency": "GBP"}}},
        {"mode": "deposit", "deposit": {"amount": {"amount": -5, "currency": "GBP"}}},
        {"mode": "deposit", "deposit": {"amount": {"amount": 15.0, "currency": "GBP"}}},
        {"mode": "deposit", "deposit": {"amount": {"amount": 500_001, "currency": "GBP"}}},
        {"mode": "deposit", "deposit": {"amount": {"amount": 1500, "currency": "EUR"}}},
        {"mode": "deposit", "deposit": {"amount": {"amount": 1500}}},
    ],
)
def test_anything_else_is_refused_with_a_sentence(given):
    with pytest.raises(pp.PolicyInvalid) as refused:
        pp.parse(given, "GBP")
    assert refused.value.message.endswith(".")


def test_the_treatments_own_policy_wins_else_the_clinics_else_full():
    assert pp.effective(PERCENT_20, AMOUNT_1500) == AMOUNT_1500
    assert pp.effective(PERCENT_20, None) == PERCENT_20
    assert pp.effective({"mode": "full"}, PERCENT_20) == PERCENT_20
    assert pp.effective(None, None) == {"mode": "full"}


@pytest.mark.parametrize(
    ("percent", "price", "deposit"),
    [
        (20, 6500, 1300),
        (25, 1002, 251),  # 250.5 rounds half up
        (25, 1001, 250),  # 250.25 rounds down
        (33, 150, 50),  # 49.5 rounds half up
        (99, 1, 0),  # a 1p price is less than a card may be charged: all at the clinic
        (1, 49, 0),  # 0.49 rounds down: nothing now, all at the clinic
        (1, 50, 50),  # 0.5 rounds to 1p, raised to the least a card is charged (the price here)
    ],
)
def test_a_percent_deposit_rounds_half_up_to_the_minor_unit(percent, price, deposit):
    policy = {"mode": "deposit", "deposit": {"percent": percent}}
    assert pp.deposit_for(policy, price) == deposit


def test_an_amount_deposit_is_never_more_than_the_price():
    assert pp.deposit_for(AMOUNT_1500, 6500) == 1500
    assert pp.deposit_for(AMOUNT_1500, 1500) == 1500
    assert pp.deposit_for(AMOUNT_1500, 1000) == 1000


def test_full_is_the_whole_price_and_has_no_card_cap():
    assert pp.deposit_for({"mode": "full"}, 6500) == 6500
    assert pp.card_at_most({"mode": "full"}, 6500) is None
    assert pp.card_at_most(PERCENT_20, 6500) == 1300


@pytest.mark.parametrize(
    ("policy", "voucher", "parts"),
    [
        (PERCENT_20, 0, (0, 1300, 5200)),
        (PERCENT_20, 2000, (2000, 1300, 3200)),  # the voucher pays first; the card still the deposit
        (PERCENT_20, 5500, (5500, 1000, 0)),  # less left than the deposit: the card pays what is left
        (PERCENT_20, 6500, (6500, 0, 0)),
        (PERCENT_20, 9000, (6500, 0, 0)),  # a voucher never pays more than the price
        ({"mode": "full"}, 2000, (2000, 4500, 0)),
        ({"mode": "full"}, 0, (0, 6500, 0)),
    ],
)
def test_the_voucher_pays_first_then_the_card_at_most_the_deposit_then_the_clinic(policy, voucher, parts):
    got = pp.parts(policy, 6500, voucher)
    assert (got.voucher, got.card, got.at_clinic) == parts
    assert got.voucher + got.card + got.at_clinic == 6500


def test_words():
    assert pp.words({"mode": "full"}, 6500, "GBP") == "Pay £65.00 now."
    assert pp.words(PERCENT_20, 6500, "GBP") == "Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic."
    assert pp.words(AMOUNT_1500, 6500, "GBP") == "Pay a deposit of £15.00 now; the rest, £50.00, at the clinic."
    # A deposit as large as the price is paying in full.
    assert pp.words(AMOUNT_1500, 1200, "GBP") == "Pay £12.00 now."


def test_public_json_has_the_deposit_in_money_and_the_words():
    assert pp.public_json(PERCENT_20, 6500, "GBP") == {
        "mode": "deposit",
        "deposit": {"percent": 20},
        "deposit_amount": {"amount": 1300, "currency": "GBP"},
        "no_show_fee": None,
        "late_cancellation_fee": None,
        "save_card": False,
        "words": "Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic.",
    }


def test_general_words_say_the_policy_without_a_price():
    assert pp.general_words({"mode": "full"}, "GBP") == "Pay in full when booking."
    assert pp.general_words(PERCENT_20, "GBP") == "Pay a deposit of 20% when booking; the rest at the clinic."
    assert (
        pp.general_words(AMOUNT_1500, "GBP")
        == "Pay a deposit of £15.00 when booking (the price, if less); the rest at the clinic."
    )


def test_a_deposit_confirmation_carries_what_is_due_at_the_clinic_and_round_trips():
    import uuid
    from datetime import datetime, timezone

    from services.booking.domain import Clinic, Therapist, Treatment, booking_changed
    from shared import contracts

    clinic = Clinic(uuid.uuid4(), "c", "C", "Europe/London")
    treatment = Treatment(uuid.uuid4(), "T", 60, 6500, "GBP")
    when = datetime(2030, 1, 1, 10, tzinfo=timezone.utc)
    common = dict(
        booking_id=uuid.uuid4(),
        status="confirmed",
        clinic=clinic,
        treatment=treatment,
        therapist=Therapist(uuid.uuid4(), "Th"),
        start=when,
        end=when,
        customer=None,
        price_amount=6500,
        currency="GBP",
    )
    words = pp.words(PERCENT_20, 6500, "GBP")
    data = booking_changed(**common, due_at_clinic=5200, payment_policy_words=words).to_data()
    assert data["due_at_clinic"] == {"amount": 5200, "currency": "GBP"} and data["payment_policy_words"] == words
    back = contracts.BookingChanged.from_data(data)
    assert back.due_at_clinic == contracts.Money(5200, "GBP") and back.to_data() == data
    # Paid in full: the event is as it always was.
    plain = booking_changed(**common).to_data()
    assert "due_at_clinic" not in plain and "payment_policy_words" not in plain
