"""The dashboard's payment policy inputs (services/web/dashboard/payment_policy_form.py): a policy into the radios
and their inputs, what was typed back into the API's policy, and the API's refusal beside the input it is about."""

from __future__ import annotations

from services.web.dashboard import payment_policy_form as form


def test_a_policy_is_shown_as_its_radio_and_input():
    assert form.values({"mode": "full"}) == {"payment_mode": "full", "deposit_percent": "", "deposit_amount": ""}
    assert form.values({"mode": "deposit", "deposit": {"percent": 20}})["deposit_percent"] == "20"
    amount = form.values({"mode": "deposit", "deposit": {"amount": {"amount": 1350, "currency": "GBP"}}})
    assert amount == {"payment_mode": "amount", "deposit_percent": "", "deposit_amount": "13.50"}
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
        {"payment_mode": "full", "deposit_percent": "x", "deposit_amount": ""}, {"mode": "full"}, {}
    )


def test_the_clinics_policy_is_a_treatments_choice_only():
    assert form.read({"payment_mode": "clinic"}, treatment=True) == form.Read(
        {"payment_mode": "clinic", "deposit_percent": "", "deposit_amount": ""}, None, {}
    )
    refused = form.read({"payment_mode": "clinic"})
    assert refused.errors == {"payment_mode": "Choose how customers pay when they book"}
    assert form.read({"payment_mode": ""}).errors == {"payment_mode": "Choose how customers pay when they book"}
    # Without the radios at all (not a browser with our page), the policy is left as it is.
    assert form.read({"deposit_percent": "20"}) == form.Read(
        {"payment_mode": "", "deposit_percent": "20", "deposit_amount": ""}, None, {}, given=False
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
