"""The owner's Settings page as a browser without JavaScript uses it, through the gateway, on the real booking
service: every setting shown as it is, changed in one form (reminders typed in hours, voucher amounts in pounds,
websites one a line) and read back through the clinic API; the page's own and the API's messages beside their
inputs with what was typed kept, and nothing changed on any error; staff refused (403, no link); CSRF."""

from __future__ import annotations

import re

import pytest

from services.booking.seed import stable_id
from services.web.dashboard import settings_form
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    STAFF_EMAIL,
    csrf_of,
    dashboard,
    owner,
    page,
    receptionist,
    signed_in,
)

PAGE = "/clinic/settings"
URBAN = stable_id("urban-therapy")


@pytest.fixture
async def owner_site(dashboard, owner):
    await signed_in(dashboard)
    return dashboard


async def api_settings(booking, settings) -> dict:
    """The settings as the clinic API answers them (straight to booking, as the gateway would call it)."""
    headers = {
        CLINIC_ID_HEADER: str(URBAN),
        CLINIC_ROLE_HEADER: "owner",
        INTERNAL_TOKEN_HEADER: settings.internal_token,
    }
    resp = await booking.get("/api/v1/clinic/settings", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def form_of(text: str) -> dict[str, str]:
    """Every input of the settings form as the page filled it in (a browser sends them all)."""
    values = dict(re.findall(r'<input id="[^"]+" name="([^"]+)" type="(?:text|email|tel)" value="([^"]*)"', text))
    values |= dict(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', text, re.S))
    return {"csrf": csrf_of(text), **values}


async def test_every_setting_is_shown_as_it_is(owner_site):
    text = await page(await owner_site.get(PAGE))
    form = form_of(text)
    assert set(settings_form.INPUTS) <= set(form), set(settings_form.INPUTS) - set(form)
    assert form["name"] == "Urban Therapy Clinic, London" and form["timezone"] == "Europe/London"
    assert form["reminder_hours"] == "24, 2", "1440 and 120 minutes, in hours"
    assert form["voucher_min_amount"] == "25.00" and form["voucher_max_amount"] == "500.00", "pence in pounds"
    assert form["booking_horizon_days"] == "60" and form["min_notice_minutes"] == "120"
    assert form["email"] == "hello@urbantherapy.example" and form["embed_origins"] == ""
    assert "Cancellation policy" in text and "Websites that may show the booking over their pages" in text


async def test_the_owner_changes_settings_which_the_api_then_answers(owner_site, booking, linked):
    _, settings = linked
    form = form_of(await page(await owner_site.get(PAGE)))
    sent = {
        **form,
        "name": "Urban Therapy, Shoreditch",
        "timezone": "Europe/Dublin",
        "booking_horizon_days": "90",
        "slot_step_minutes": "10",
        "reminder_hours": "48, 1.5, 0.5",
        "voucher_min_amount": "10.50",
        "voucher_max_amount": "£750",
        "phone": "",
        "policy_message": "Cancel online up to a day before.\r\nAfter that, call us.",
        "embed_origins": "https://www.urban.example\r\n\r\nhttps://urban.example:8443\r\n",
    }
    resp = await owner_site.post(PAGE, data=sent, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"{PAGE}?done=saved", await resp.text()
    saved = await page(await owner_site.get(resp.headers["Location"]))
    assert "Settings saved." in saved and "Urban Therapy, Shoreditch" in saved, "the header names it at once"
    now = await api_settings(booking, settings)
    assert now["name"] == "Urban Therapy, Shoreditch" and now["timezone"] == "Europe/Dublin"
    assert now["booking_horizon_days"] == 90 and now["slot_step_minutes"] == 10
    assert now["reminder_offsets_minutes"] == [2880, 90, 30]
    assert now["voucher_min_amount"] == 1050 and now["voucher_max_amount"] == 75000
    assert now["phone"] is None and now["policy_message"] == "Cancel online up to a day before.\nAfter that, call us."
    assert now["embed_origins"] == ["https://www.urban.example", "https://urban.example:8443"]
    again = form_of(saved)
    assert again["reminder_hours"] == "48, 1.5, 0.5" and again["voucher_max_amount"] == "750.00"
    unchanged = await owner_site.post(PAGE, data=again, allow_redirects=False)
    assert unchanged.headers["Location"] == f"{PAGE}?done=unchanged"


async def test_the_page_s_own_errors_keep_what_was_typed_and_change_nothing(owner_site, booking, linked):
    _, settings = linked
    before = await api_settings(booking, settings)
    form = form_of(await page(await owner_site.get(PAGE)))
    resp = await owner_site.post(
        PAGE,
        data={
            **form,
            "name": "Renamed meanwhile",
            "booking_horizon_days": "two months",
            "reminder_hours": "tomorrow",
            "voucher_min_amount": "£ten",
        },
    )
    text = await page(resp, 400)
    for field in ("booking_horizon_days", "reminder_hours", "voucher_min_amount"):
        assert f'href="#{field}"' in text, field
    assert "Enter the booking horizon as a whole number of days" in text
    assert "like 24, 2" in text and "in pounds, like 25 or 25.50" in text
    assert 'value="two months"' in text and 'value="tomorrow"' in text and 'value="Renamed meanwhile"' in text
    assert await api_settings(booking, settings) == before


@pytest.mark.parametrize(
    "changes, field, message",
    [
        (
            {"timezone": "Europe/Londres"},
            "timezone",
            "The time zone must be an IANA time zone name, like Europe/London",
        ),
        ({"min_notice_minutes": "100000"}, "min_notice_minutes", "The minimum notice must be shorter than"),
        ({"voucher_min_amount": "600"}, "voucher_min_amount", "smallest voucher amount must not be more than"),
        ({"voucher_max_amount": "0.50"}, "voucher_max_amount", "The largest voucher amount must be £1.00 or more"),
        ({"slot_step_minutes": "7"}, "slot_step_minutes", "must be a multiple of 5 minutes"),
        ({"hold_minutes": "0"}, "hold_minutes", "The time a chosen slot is held must be 1 minute or more"),
        ({"reminder_hours": "24, 400"}, "reminder_hours", "Each reminder must be at most 14 days before the visit"),
        ({"reminder_hours": "0.1"}, "reminder_hours", "Each reminder must be at least 10 minutes before the visit"),
        ({"reminder_hours": "1, 2, 3, 4, 5, 6"}, "reminder_hours", "You can have at most 5 reminders"),
        ({"email": "not an email"}, "email", "The contact email must be an email address"),
        ({"name": ""}, "name", "The clinic's name must not be empty"),
        ({"embed_origins": "https://ok.example\nhttps://bad.example/path"}, "embed_origins", "line 2"),
    ],
)
async def test_the_api_s_refusal_is_beside_its_input_and_nothing_changes(
    owner_site, booking, linked, changes, field, message
):
    _, settings = linked
    before = await api_settings(booking, settings)
    form = form_of(await page(await owner_site.get(PAGE)))
    resp = await owner_site.post(PAGE, data={**form, "policy_message": "A changed policy.", **changes})
    text = await page(resp, 400)
    assert f'<a href="#{field}">' in text, text[text.find("error-summary") : text.find("error-summary") + 600]
    assert message in text
    assert 'id="' + field + '-error"' in text, "the message beside its input"
    for name, typed in changes.items():
        assert typed.split("\n")[0] in text, f"{name} kept as typed"
    assert "A changed policy." in text
    assert await api_settings(booking, settings) == before, "nothing changed, the policy included"


async def test_staff_see_no_link_and_are_refused(dashboard, owner, receptionist, booking, linked):
    _, settings = linked
    home = await signed_in(dashboard, STAFF_EMAIL)
    assert PAGE not in home
    refused = await page(await dashboard.get(PAGE), 403)
    assert "Only the clinic's owner" in refused and "Urban Therapy Clinic, London" in refused
    before = await api_settings(booking, settings)
    await page(await dashboard.post(PAGE, data={"csrf": csrf_of(home), "name": "Taken over"}), 403)
    assert await api_settings(booking, settings) == before


async def test_a_form_without_the_session_s_csrf_token_is_refused_and_changes_nothing(owner_site, booking, linked):
    _, settings = linked
    before = await api_settings(booking, settings)
    form = form_of(await page(await owner_site.get(PAGE)))
    for forged in ({k: v for k, v in form.items() if k != "csrf"}, {**form, "csrf": "not-the-token"}):
        text = await page(await owner_site.post(PAGE, data={**forged, "name": "Forged"}), 403)
        assert "This form cannot be sent" in text
    assert await api_settings(booking, settings) == before
