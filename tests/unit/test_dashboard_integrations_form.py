"""The Integrations page's forms and rows (services/web/dashboard/integrations_form): an endpoint's form into the
API's body, the API's refusals beside the inputs, "replay since" in the clinic's wall time into an instant (DST),
a rotation's grace hours, and endpoints, deliveries and keys in words."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.web.dashboard import integrations_form as forms

ROOT = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def when(instant: datetime) -> str:
    return instant.astimezone(LONDON).strftime("%d %b %H:%M")


def test_an_endpoint_form_keeps_the_known_events_in_the_form_s_order():
    read = forms.endpoint_form(
        " https://hooks.example.com/x ", ["voucher.purchased", "nonsense", "booking.created"], " Till "
    )
    assert read.errors == {}
    assert read.body == {
        "url": "https://hooks.example.com/x",
        "events": ["booking.created", "voucher.purchased"],
        "description": "Till",
    }


@pytest.mark.parametrize(
    "url, events, description, fields",
    [
        ("", ["booking.created"], "", {"url"}),
        ("ftp://example.com/x", ["booking.created"], "", {"url"}),
        ("https://" + "a" * 2000, ["booking.created"], "", {"url"}),
        ("https://example.com/x", [], "", {"events"}),
        ("https://example.com/x", ["nonsense"], "x" * 501, {"events", "description"}),
    ],
)
def test_an_endpoint_form_that_cannot_be_sent_says_why_beside_each_input(url, events, description, fields):
    assert set(forms.endpoint_form(url, events, description).errors) == fields


def test_the_api_s_refusals_of_an_endpoint_are_put_beside_their_inputs():
    refused = forms.endpoint_refusal("unresolvable_url", "The endpoint's host name does not resolve", None)
    assert refused == {"url": "The endpoint's host name does not resolve"}
    assert forms.endpoint_refusal("unknown_event_type", "Unknown event types: x", None) == {
        "events": "Choose events from the list"
    }
    details = [{"field": "description", "message": "String should have at most 500 characters", "type": "x"}]
    assert forms.endpoint_refusal("validation_failed", "The request body is not valid", details) == {
        "description": "The description must have at most 500 characters"
    }
    assert forms.endpoint_refusal("validation_failed", "Not valid", [{"field": "elsewhere"}]) == {"url": "Not valid"}


def test_replay_since_is_the_clinic_s_wall_time_with_its_offset():
    summer, errors = forms.since_instant("2026-07-01", "09:30", LONDON)
    assert errors == {} and summer.isoformat() == "2026-07-01T09:30:00+01:00"
    winter, _ = forms.since_instant("2026-12-01", "", LONDON)
    assert winter.isoformat() == "2026-12-01T00:00:00+00:00", "no time: the day's start"


@pytest.mark.parametrize(
    "day, clock, fields",
    [
        ("", "09:00", {"since_date"}),
        ("2026-02-30", "09:00", {"since_date"}),
        ("01/12/2026", "25:00", {"since_date", "since_time"}),
    ],
)
def test_replay_since_that_is_no_time_says_why(day, clock, fields):
    since, errors = forms.since_instant(day, clock, LONDON)
    assert since is None and set(errors) == fields


@pytest.mark.parametrize("typed, hours", [("24", 24), (" 0 ", 0), ("168", 168)])
def test_grace_hours_are_read(typed, hours):
    assert forms.grace_hours(typed) == (hours, None)


@pytest.mark.parametrize("typed", ["", "a week", "-1", "1.5", "169"])
def test_grace_hours_out_of_bounds_say_why(typed):
    hours, problem = forms.grace_hours(typed)
    assert hours is None and problem


def key(**fields) -> dict:
    return {
        "id": "k",
        "name": "Till",
        "prefix": "abcd1234",
        "created_at": (NOW - timedelta(days=3)).isoformat(),
        "last_used_at": None,
        "expires_at": None,
        "revoked_at": None,
        "replaced_by": None,
        **fields,
    }


def test_a_key_s_state_and_what_may_be_done_with_it():
    active = forms.key_row(key(), NOW, when)
    assert (active["state"], active["last_used"], active["expires"]) == ("Active", "Never", "Never")
    assert active["can_rotate"] and active["can_revoke"]
    later = (NOW + timedelta(hours=5)).isoformat()
    replaced = forms.key_row(key(expires_at=later, replaced_by="k2"), NOW, when)
    assert replaced["state"].startswith("Replaced") and not replaced["can_rotate"] and replaced["can_revoke"]
    expired = forms.key_row(key(expires_at=(NOW - timedelta(hours=1)).isoformat()), NOW, when)
    assert expired["state"] == "Expired" and not expired["can_rotate"] and not expired["can_revoke"]
    revoked = forms.key_row(key(revoked_at=NOW.isoformat(), name=""), NOW, when)
    assert revoked["state"] == "Revoked 04 Dec 12:00" and revoked["label"] == "Unnamed key"
    assert not revoked["can_revoke"]


def test_a_delivery_in_words_with_each_try():
    delivery = {
        "id": "d",
        "event_type": "webhook.test",
        "status": "pending",
        "attempts": 1,
        "last_status": None,
        "last_error": "timed out after 15s",
        "next_attempt_at": (NOW + timedelta(minutes=5)).isoformat(),
        "created_at": NOW.isoformat(),
        "attempt_log": [
            {"at": NOW.isoformat(), "status_code": None, "latency_ms": 15000, "response": None, "error": "timed out"}
        ],
    }
    row = forms.delivery_row(delivery, when)
    assert row["event_words"] == "Test event" and row["status_words"] == "Pending: next try 04 Dec 12:05"
    assert row["last_answer"] == "timed out after 15s"
    assert row["attempt_rows"] == [{"at": "04 Dec 12:00", "answer": "timed out", "latency": "15000 ms", "response": ""}]


def test_an_endpoint_s_last_delivery_in_words():
    endpoint = {"id": "e", "url": "https://x.example", "events": ["booking.created"], "enabled": False}
    row = forms.endpoint_row({**endpoint, "disabled_reason": "by the clinic"}, None, when)
    assert row["last_words"] == "None yet" and row["status_words"] == "Disabled (by the clinic)"
    last = {"status": "failed", "event_type": "booking.created", "created_at": NOW.isoformat(), "delivered_at": None}
    assert forms.endpoint_row(endpoint, last, when)["last_words"] == "Failed (Booking created), 04 Dec 12:00"


def test_the_embed_snippet_is_the_documented_one():
    documented = re.search(r"```html\n(.*?)\n```", (ROOT / "docs" / "embedding.md").read_text(), re.S).group(1)
    assert forms.embed_snippet("https://booking.example.com/", "your-clinic") == documented
