"""The clinic's settings rules (services/booking/clinic_settings.py): time zones, phones, reminder offsets,
clearing contacts, the rules between settings, the settings object; and the request model built on them."""

from __future__ import annotations

import json
import uuid

import pydantic
import pytest

from services.booking.clinic_settings import (
    BOUNDS,
    FIELDS,
    changes_of,
    conflicts,
    phone_problem,
    reminder_offsets,
    settings_json,
    zone_problem,
)
from services.booking.domain import Clinic
from services.booking.schemas import ClinicSettingsPatch

CLINIC = Clinic(uuid.uuid4(), "urban", "Urban", "Europe/London", policy_message="Call us")


@pytest.mark.parametrize("zone", ["Europe/London", "America/Argentina/Buenos_Aires", "UTC", "Asia/Kolkata"])
def test_iana_zones_are_accepted(zone):
    assert zone_problem(zone) is None


@pytest.mark.parametrize(
    "zone", ["europe/london", "Mars/Olympus_Mons", "localtime", "Factory", "", "+01:00", "BST", "Europe/London "]
)
def test_anything_else_is_not_a_zone(zone):
    assert "IANA" in zone_problem(zone)


@pytest.mark.parametrize("phone", ["020 7946 0000", "+44 20 7946 0000", "(020) 7946-0000", "020.7946.0000"])
def test_written_phone_numbers_are_accepted(phone):
    assert phone_problem(phone) is None


@pytest.mark.parametrize("phone", ["call me", "12345", "+44 20 7946 0000 ext 5", "++44 20 7946", "1" * 21, "1" * 41])
def test_other_phones_are_refused(phone):
    assert phone_problem(phone) is not None


def test_reminder_offsets_are_kept_once_earliest_first():
    assert reminder_offsets([60, 1440, 60, 2880]) == [2880, 1440, 60]


def test_an_empty_contact_clears_it_and_other_texts_stay():
    assert changes_of({"email": "", "phone": "", "address": "", "name": "X", "hold_minutes": 0}) == {
        "email": None,
        "phone": None,
        "address": None,
        "name": "X",
        "hold_minutes": 0,
    }


def test_voucher_amounts_may_not_cross_judged_with_what_is_stored():
    [problem] = conflicts(CLINIC, {"voucher_min_amount": 60000})
    assert (problem.field, problem.type) == ("voucher_min_amount", "voucher_amounts_crossed")
    [problem] = conflicts(CLINIC, {"voucher_max_amount": 2000})
    assert problem.field == "voucher_max_amount"
    assert conflicts(CLINIC, {"voucher_min_amount": 60000, "voucher_max_amount": 60000}) == []


def test_notice_must_be_shorter_than_the_horizon():
    [problem] = conflicts(CLINIC, {"min_notice_minutes": 60 * 24 * 60})
    assert (problem.field, problem.type) == ("min_notice_minutes", "notice_beyond_horizon")
    [problem] = conflicts(CLINIC, {"booking_horizon_days": 1, "min_notice_minutes": 1440})
    assert problem.field == "min_notice_minutes"
    [problem] = conflicts(Clinic(**{**CLINIC.__dict__, "min_notice_minutes": 2000}), {"booking_horizon_days": 1})
    assert problem.field == "booking_horizon_days"
    assert conflicts(CLINIC, {"min_notice_minutes": 60 * 24 * 60 - 1}) == []


def test_a_rule_is_judged_only_when_the_change_touches_it():
    """A clinic an operator set up otherwise (notice beyond its horizon) can still change anything else."""
    odd = Clinic(**{**CLINIC.__dict__, "min_notice_minutes": 40 * 24 * 60, "booking_horizon_days": 30})
    assert conflicts(odd, {"hold_minutes": 20, "name": "New"}) == []


def test_the_settings_object_names_every_setting_as_a_change_does():
    shown = settings_json(CLINIC)
    assert list(shown) == list(FIELDS)
    assert set(FIELDS) - {"embed_origins"} <= set(ClinicSettingsPatch.model_fields)
    assert shown["reminder_offsets_minutes"] == [1440, 120] and shown["embed_origins"] == []
    json.dumps(shown)


def patch(**fields) -> ClinicSettingsPatch:
    return ClinicSettingsPatch.model_validate_json(json.dumps(fields), strict=True)


def test_the_request_model_checks_every_field_at_once():
    with pytest.raises(pydantic.ValidationError) as refused:
        patch(timezone="Nowhere/Town", slot_step_minutes=7, hold_minutes=True, email="nope", phone="abc", name=" ")
    assert {error["loc"][0] for error in refused.value.errors()} == {
        "timezone",
        "slot_step_minutes",
        "hold_minutes",
        "email",
        "phone",
        "name",
    }


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_the_request_model_keeps_to_the_bounds(name):
    least, most = BOUNDS[name]
    assert getattr(patch(**{name: least}), name) == least
    assert getattr(patch(**{name: most}), name) == most
    for outside in (least - 1, most + 1):
        with pytest.raises(pydantic.ValidationError):
            patch(**{name: outside})


def test_policy_and_address_may_span_lines_the_name_may_not():
    assert patch(policy_message="Line one\nLine two", address="1 Street\nTown").address == "1 Street\nTown"
    with pytest.raises(pydantic.ValidationError):
        patch(name="Urban\nTherapy")
