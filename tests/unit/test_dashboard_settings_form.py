"""The Settings page's form (services/web/dashboard/settings_form): the settings shown in the form's units, what was
typed read back into the API's (hours into minutes, pounds into pence, lines into a list), only the changed settings
sent, and the API's 422 details put beside their inputs in words."""

from __future__ import annotations

import pytest

from services.web.dashboard import settings_form as forms

CURRENT = {
    "name": "Urban Therapy Clinic, London",
    "timezone": "Europe/London",
    "booking_horizon_days": 60,
    "min_notice_minutes": 120,
    "slot_step_minutes": 15,
    "hold_minutes": 10,
    "change_window_hours": 24,
    "reminder_offsets_minutes": [1440, 120],
    "policy_message": "Cancel online up to 24 hours before.",
    "voucher_validity_months": 24,
    "voucher_min_amount": 2500,
    "voucher_max_amount": 50000,
    "address": "12 Example Street\nLondon",
    "email": "hello@urbantherapy.example",
    "phone": None,
    "embed_origins": ["https://www.urban.example", "https://urban.example"],
}


def test_the_settings_are_shown_in_the_form_s_units():
    values = forms.form_values(CURRENT)
    assert set(values) == set(forms.INPUTS)
    assert values["reminder_hours"] == "24, 2" and values["voucher_min_amount"] == "25.00"
    assert values["embed_origins"] == "https://www.urban.example\nhttps://urban.example" and values["phone"] == ""


def test_the_form_as_shown_changes_nothing_and_reads_back_as_the_settings():
    read = forms.read_form(forms.form_values(CURRENT))
    assert read.errors == {}
    assert forms.changes(read.body, CURRENT) == {}


def test_only_what_was_changed_is_sent_in_the_api_s_units():
    typed = {
        **forms.form_values(CURRENT),
        "reminder_hours": "2, 24, 0.5",
        "voucher_max_amount": "£1,000.5",
        "policy_message": "Line one\r\nLine two\r\n",
        "email": "",
        "embed_origins": "https://www.urban.example\r\n\r\n",
    }
    read = forms.read_form(typed)
    assert read.errors == {}
    assert forms.changes(read.body, CURRENT) == {
        "reminder_offsets_minutes": [120, 1440, 30],
        "voucher_max_amount": 100050,
        "policy_message": "Line one\nLine two",
        "email": "",
        "embed_origins": ["https://www.urban.example"],
    }


def test_reminders_in_the_same_hours_in_another_order_are_no_change():
    read = forms.read_form({**forms.form_values(CURRENT), "reminder_hours": "2,24, 24"})
    assert forms.changes(read.body, CURRENT) == {}


@pytest.mark.parametrize("minutes", [10, 25, 30, 90, 120, 1440, 20160])
def test_hours_shown_are_read_back_as_the_same_minutes(minutes):
    read = forms.read_form({**forms.form_values(CURRENT), "reminder_hours": forms.hours(minutes)})
    assert read.body["reminder_offsets_minutes"] == [minutes]


@pytest.mark.parametrize(
    "field, typed, words",
    [
        ("booking_horizon_days", "60 days", "Enter the booking horizon as a whole number of days"),
        ("hold_minutes", "-1", "Enter the time a chosen slot is held as a whole number of minutes"),
        ("reminder_hours", "", "Enter when reminders are sent"),
        ("reminder_hours", "24, soon", "numbers separated by commas"),
        ("voucher_min_amount", "ten pounds", "Enter the smallest voucher amount in pounds"),
        ("voucher_min_amount", "10.555", "in pounds, like 25 or 25.50"),
    ],
)
def test_what_cannot_be_sent_is_said_beside_its_input_and_kept(field, typed, words):
    read = forms.read_form({**forms.form_values(CURRENT), field: typed})
    assert words in read.errors[field] and read.values[field] == typed.strip() and read.body == {}


@pytest.mark.parametrize(
    "detail, field, words",
    [
        (
            {"field": "timezone", "message": "must be an IANA time zone name, like Europe/London"},
            "timezone",
            "The time zone must be an IANA time zone name, like Europe/London",
        ),
        (
            {"field": "voucher_max_amount", "message": "Input should be less than or equal to 500000"},
            "voucher_max_amount",
            "The largest voucher amount must be £5,000.00 or less",
        ),
        (
            {"field": "reminder_offsets_minutes.1", "message": "Input should be greater than or equal to 10"},
            "reminder_hours",
            "Each reminder must be at least 10 minutes before the visit",
        ),
        (
            {"field": "reminder_offsets_minutes", "message": "List should have at most 5 items after validation"},
            "reminder_hours",
            "You can have at most 5 reminders",
        ),
        (
            {"field": "slot_step_minutes", "message": "Input should be a multiple of 5"},
            "slot_step_minutes",
            "The time between start times must be a multiple of 5 minutes",
        ),
        (
            {"field": "embed_origins.1", "message": "must be a web origin only", "type": "origin_not_allowed"},
            "embed_origins",
            "The website on line 2 (https://b.example/x) must be a web origin only",
        ),
        (
            {"field": "voucher_min_amount", "message": "the least (1000) …", "type": "voucher_amounts_crossed"},
            "voucher_min_amount",
            "The smallest voucher amount must not be more than the largest",
        ),
        (
            {"field": "name", "message": "String should have at least 1 character", "type": "string_too_short"},
            "name",
            "The clinic's name must not be empty",
        ),
    ],
)
def test_the_api_s_details_are_put_beside_their_inputs_in_words(detail, field, words):
    values = {**forms.form_values(CURRENT), "embed_origins": "https://a.example\nhttps://b.example/x"}
    assert forms.api_errors([detail], values) == {field: words}


def test_details_about_nothing_on_the_form_are_left_out_and_each_input_gets_its_first():
    details = [
        {"field": "hold_minutes", "message": "Input should be less than or equal to 60"},
        {"field": "hold_minutes", "message": "Input should be a multiple of 5"},
        {"field": "body", "message": "odd"},
        "not a detail",
    ]
    assert forms.api_errors(details, forms.form_values(CURRENT)) == {
        "hold_minutes": "The time a chosen slot is held must be 60 minutes or less"
    }
    assert forms.api_errors(None, {}) == {}
