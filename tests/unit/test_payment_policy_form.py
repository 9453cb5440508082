"""The dashboard's payment policy inputs (services/web/dashboard/payment_policy_form.py): a policy into the radios
and their inputs, what was typed back into the API's policy, and the API's refusal beside the input it is about."""

from __future__ import annotations

from services.web.dashboard import payment_policy_form as form

# The fees' radios and inputs (issue 20) as a policy without fees shows them, and as a form without them reads.
NO_FEES = {
    "no_show_fee": "none",
    "no_show_fee_percent": "",
    "no_show_fee_amount": "",
    "late_cancellation_fee": "none",
    "late_cancellation_fee_percent": "",
    "late_cancellation_fee_amount": "",
}
TYPED_NO_FEES = {name: "" for name in NO_FEES}


def test_a_policy_is_shown_as_its_radio_and_input():
    assert form.values({"mode": "full"}) == {
        "payment_mode": "full",
        "deposit_percent": "",
        "deposit_amount": "",
        **NO_FEES,
    }
    assert form.values({"mode": "deposit", "deposit": {"percent": 20}})["deposit_percent"] == "20"
    amount = form.values({"mode": "deposit", "deposit": {"amount": {"amount": 1350, "currency": "GBP"}}})
    assert amount == {"payment_mode": "amount", "deposit_percent": "", "deposit_amount": "13.50", **NO_FEES}
    assert form.values(None, treatment=True)["payment_mode"] == "clinic"
    assert form.values(None)["payment_mode"] == "full"


def test_only_the_chosen_radios_input_is_read():
    typed = {"payment_mode": "percent", "deposit_percent": "20%", "deposit_amount": "nonsense"}
    assert form.read(typed).policy == {"mode": "deposit", "deposit": {"percent": 20}}
    typed = {"payment_mode": "amount", "deposit_percent": "x", "deposit_amount": "£1,012.5"}
    assert form.read(typed).policy == {
        "mode": "deposit",
        "deposit": {"amount": {"amount": 101250, "currency": "GBP"}},
    }
    assert form.read({"payment_mode": "full", "deposit_percent": "x"}) == form.Read(
        {"payment_mode": "full", "deposit_percent": "x", "deposit_amount": "", **TYPED_NO_FEES}, {"mode": "full"}, {}
    )


def test_the_clinics_policy_is_a_treatments_choice_only():
    assert form.read({"payment_mode": "clinic"}, treatment=True) == form.Read(
        {"payment_mode": "clinic", "deposit_percent": "", "deposit_amount": "", **TYPED_NO_FEES}, None, {}
    )
    refused = form.read({"payment_mode": "clinic"})
    assert refused.errors == {"payment_mode": "Choose how customers pay when they book"}
    assert form.read({"payment_mode": ""}).errors == {"payment_mode": "Choose how customers pay when they book"}
    # Without the radios at all (not a browser with our page), the policy is left as it is.
    assert form.read({"deposit_percent": "20"}) == form.Read(
        {"payment_mode": "", "deposit_percent": "20", "deposit_amount": "", **TYPED_NO_FEES}, None, {}, given=False
    )


def test_what_cannot_be_sent_is_said_beside_its_input():
    assert form.read({"payment_mode": "percent", "deposit_percent": "twenty"}).errors == {
        "deposit_percent": "Enter the deposit as a whole number percent, like 20"
    }
    assert form.read({"payment_mode": "percent", "deposit_percent": "12.5"}).errors
    assert form.read({"payment_mode": "amount", "deposit_amount": ""}).errors == {
        "deposit_amount": "Enter the deposit in pounds, like 20 or 20.50"
    }


def test_the_apis_refusal_goes_beside_the_chosen_kinds_input():
    said = "A deposit percent must be a whole number from 1 to 99."
    assert form.api_error("invalid_payment_policy", said, {"payment_mode": "percent"}) == {"deposit_percent": said}
    assert form.api_error("invalid_payment_policy", said, {"payment_mode": "amount"}) == {"deposit_amount": said}
    assert form.api_error("invalid_payment_policy", said, {"payment_mode": "full"}) == {"payment_mode": said}
    assert form.api_error("validation_failed", said, {"payment_mode": "percent"}) == {}


def test_card_saved_only_and_the_fees_are_shown_as_their_radios_and_inputs():
    policy = {
        "mode": "card",
        "no_show_fee": {"percent": 50},
        "late_cancellation_fee": {"amount": {"amount": 2000, "currency": "GBP"}},
    }
    assert form.values(policy) == {
        "payment_mode": "card",
        "deposit_percent": "",
        "deposit_amount": "",
        "no_show_fee": "percent",
        "no_show_fee_percent": "50",
        "no_show_fee_amount": "",
        "late_cancellation_fee": "amount",
        "late_cancellation_fee_percent": "",
        "late_cancellation_fee_amount": "20.00",
    }
    assert form.read(form.values(policy)).policy == policy  # read back as it was shown


def test_the_chosen_fees_are_read_with_any_mode_and_none_leaves_them_out():
    typed = {
        "payment_mode": "percent",
        "deposit_percent": "20",
        "no_show_fee": "amount",
        "no_show_fee_percent": "junk",
        "no_show_fee_amount": "£32.5",
        "late_cancellation_fee": "none",
        "late_cancellation_fee_percent": "junk",
    }
    assert form.read(typed).policy == {
        "mode": "deposit",
        "deposit": {"percent": 20},
        "no_show_fee": {"amount": {"amount": 3250, "currency": "GBP"}},
    }
    assert form.read({"payment_mode": "card"}).policy == {"mode": "card"}
    assert form.read({"payment_mode": "card"}, treatment=True).policy == {"mode": "card"}
    # A treatment on the clinic's policy takes its fees too: what is typed in the fees is not read.
    clinic = form.read({"payment_mode": "clinic", "no_show_fee": "percent", "no_show_fee_percent": "x"}, treatment=True)
    assert clinic.policy is None and clinic.errors == {}


def test_a_fee_typed_wrong_is_said_beside_its_input_and_nothing_is_sent():
    typed = {"payment_mode": "full", "no_show_fee": "percent", "no_show_fee_percent": "half"}
    assert form.read(typed).errors == {
        "no_show_fee_percent": "Enter the no-show fee as a whole number percent, like 50"
    }
    assert form.read(typed).policy is None
    typed = {"payment_mode": "amount", "deposit_amount": "x", "late_cancellation_fee": "amount"}
    assert form.read(typed).errors == {
        "deposit_amount": "Enter the deposit in pounds, like 20 or 20.50",
        "late_cancellation_fee_amount": "Enter the late-cancellation fee in pounds, like 20 or 20.50",
    }
    assert form.read({"payment_mode": "full", "no_show_fee": "lots"}).errors == {
        "no_show_fee": "Choose whether there is a no-show fee"
    }


def test_the_apis_refusal_of_a_fee_goes_beside_that_fees_input():
    said = "A no-show fee percent must be a whole number from 1 to 100."
    typed = {"payment_mode": "percent", "no_show_fee": "percent"}
    assert form.api_error("invalid_payment_policy", said, typed) == {"no_show_fee_percent": said}
    said = "A late-cancellation fee cannot be more than the price."
    typed = {"payment_mode": "full", "late_cancellation_fee": "amount"}
    assert form.api_error("invalid_payment_policy", said, typed) == {"late_cancellation_fee_amount": said}
