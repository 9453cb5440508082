"""Card saved only and a no-show fee (issue 20) in a real browser (Debian's Chromium driven by Playwright), through
the gateway of the whole stack, with a clinic of its own made by the operators' onboarding command.

Its owner sets the clinic's policy through the clinic API: the card saved only, a 50% no-show fee; its one treatment
costs £65.00. A customer at phone width (390x844), with the keyboard alone:

1. chooses the treatment, its option saying "Nothing to pay now; your card is saved and the £65.00 is paid at the
   clinic. If you miss the appointment, a no-show fee of £32.50 is charged to your saved card.";
2. goes on to the card step, "Save your card": nothing to pay now, £65.00 at the clinic, the fee's sentence;
3. saves the test card that its bank declines later: the booking is confirmed, "To pay at the clinic: £65.00.".

The clinic marks her a no-show (its visit moved into the past in the database: a test can't wait for it); the
fee's charge to her saved card is declined, and the link of its email (the `fee.failed` event's pay token) opens the
fee's page at desktop width: "Pay your no-show fee", £32.50; Pay, then the test Visa; "Thank you, paid"; the link
again says it is paid.

axe-core judges the choice, save-card, confirmation and fee pages, each at phone and desktop width."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from playwright.async_api import expect

from tests.e2e.test_browser_booking import DESKTOP, PHONE
from tests.e2e.test_browser_deposit import owner_password_set
from tests.e2e.test_browser_workspace import Clinic, ClinicCalls, Judge, onboard, shown_within_the_cache
from tests.support.infra import database_url
from tests.support.keyboard import choose_with_arrows, press_and_load, tab_to

pytestmark = pytest.mark.e2e
ZONE = ZoneInfo("Europe/London")
POLICY = {"mode": "card", "no_show_fee": {"percent": 50}}
PRICE = 6500
WORDS = (
    "Nothing to pay now; your card is saved and the £65.00 is paid at the clinic. "
    "If you miss the appointment, a no-show fee of £32.50 is charged to your saved card."
)
NO_SHOW = "If you miss the appointment, a no-show fee of £32.50 is charged to your saved card."
CONFIRMED = "To pay at the clinic: £65.00."
CONFIRM_MS = 20_000  # the confirming pages ask again by themselves every 2 s
EVENTS_S = 30  # the no-show's event through the relay to payments, the charge, its fee.failed


async def a_card_clinic(owner: ClinicCalls, tag: str, day) -> tuple[str, str]:
    settings = await owner.call("PATCH", "/api/v1/clinic/settings", json={"payment_policy": POLICY})
    assert settings["payment_policy"] == POLICY, settings
    treatment_name, therapist_name = f"Sports massage {tag}", "Nell Shaw"
    treatment = await owner.call(
        "POST",
        "/api/v1/clinic/treatments",
        201,
        json={"name": treatment_name, "duration_minutes": 60, "price": {"amount": PRICE, "currency": "GBP"}},
    )
    therapist = await owner.call(
        "POST", "/api/v1/clinic/therapists", 201, json={"name": therapist_name, "treatments": [treatment["id"]]}
    )
    week = {"hours": [{"weekday": day.weekday(), "start": "10:00", "end": "12:00"}], "breaks": []}
    await owner.call("PUT", f"/api/v1/clinic/therapists/{therapist['id']}/hours", json=week)
    return treatment_name, therapist_name


async def visit_in_the_past(stack_db, booking_id: str) -> None:
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        await conn.execute(
            "UPDATE booking.bookings SET blocked = tstzrange($2::timestamptz - (starts_at - lower(blocked)),"
            " $2::timestamptz + (upper(blocked) - starts_at)), ends_at = $2::timestamptz + (ends_at - starts_at),"
            " starts_at = $2::timestamptz WHERE id = $1",
            uuid.UUID(booking_id),
            datetime.now(timezone.utc) - timedelta(days=1),
        )
    finally:
        await conn.close()


async def fee_link(stack_db, booking_id: str) -> str:
    """The path of the pay link the fee.failed email carries (from the event payments wrote), once it is written."""
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        for _ in range(EVENTS_S * 4):
            raw = await conn.fetchval(
                "SELECT envelope FROM payments.outbox WHERE envelope->>'type' = 'fee.failed'"
                " AND envelope->'data'->>'booking_id' = $1",
                booking_id,
            )
            if raw:
                data = (json.loads(raw) if isinstance(raw, str) else raw)["data"]
                return f"/fees/{data['fee_id']}?token={data['pay_token']}"
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    raise AssertionError(f"no fee.failed for booking {booking_id}")


async def test_a_card_saved_only_booking_and_its_declined_no_show_fee_paid_from_the_link(browser, stack, stack_db):
    clinic: Clinic = onboard(stack, "fees")
    day = datetime.now(timezone.utc).astimezone(ZONE).date() + timedelta(days=3)
    tag = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession() as http:
        owner_context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
        context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
        try:
            await owner_password_set(await owner_context.new_page(), stack, clinic)
            owner = await ClinicCalls(http, stack).signed_in(clinic.owner_email)
            treatment_name, therapist_name = await a_card_clinic(owner, tag, day)

            # 1. The choice: the policy and the fee in words, as the option's description.
            page = await context.new_page()
            judge = Judge(page, "fees-phone")
            keyboard = page.keyboard
            option = page.get_by_label(treatment_name, exact=True)
            await shown_within_the_cache(page, f"/c/{clinic.slug}", page.get_by_text(treatment_name).first)
            await tab_to(page, "Book now")
            await press_and_load(page, "Enter")
            await expect(page.get_by_text(WORDS)).to_be_visible()
            await expect(option).to_have_accessible_description(f"60 minutes, £65.00. {WORDS}")
            await judge.check("choice")
            await tab_to(page, treatment_name)
            await keyboard.press("Space")
            await tab_to(page, "Continue")
            await press_and_load(page, "Enter")
            await tab_to(page, "No preference")
            await choose_with_arrows(page, therapist_name)
            await tab_to(page, "Continue")
            await press_and_load(page, "Enter")
            await tab_to(page, "10:00")
            await press_and_load(page, "Enter")
            await expect(page.get_by_role("heading", name="Before your treatment")).to_be_visible()
            questions = await page.locator("fieldset").count()
            for _ in range(questions):
                await tab_to(page, "Yes")
                await choose_with_arrows(page, "No")
            await tab_to(page, "Continue")
            await press_and_load(page, "Enter")
            await tab_to(page, "Full name")
            await keyboard.type("Nora Show")
            await tab_to(page, "Email address")
            await keyboard.type(f"nora.{tag}@fees.example")
            await tab_to(page, "I have read the cancellation policy")
            await keyboard.press("Space")
            await tab_to(page, "Continue to payment")
            await press_and_load(page, "Enter")

            # 2. The card step: nothing to pay now, the card saved for the fee.
            await expect(page.get_by_role("heading", level=1, name="Save your card")).to_be_visible()
            await expect(page.get_by_text("Nothing to pay now. Your card is saved for this booking")).to_be_visible()
            await expect(page.get_by_text(NO_SHOW)).to_be_visible()
            summary = page.locator("dl.summary")
            await expect(summary.locator("div").filter(has=page.locator("dt", has_text="To pay now"))).to_have_text(
                re.compile(r"^\s*To pay now\s*£0\.00\s*$")
            )
            await expect(
                summary.locator("div").filter(has=page.locator("dt", has_text="To pay at the clinic"))
            ).to_have_text(re.compile(r"^\s*To pay at the clinic\s*£65\.00\s*$"))
            await judge.check("save-card")

            # 3. The card its bank declines later: saved, the booking confirmed.
            await tab_to(page, "Visa test card 4242 4242 4242 4242")
            await choose_with_arrows(page, "A card that is declined later")
            await tab_to(page, "Save card")
            await press_and_load(page, "Enter")
            await expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=CONFIRM_MS)
            await expect(page.get_by_text(CONFIRMED, exact=True)).to_be_visible()
            await judge.check("confirmed")
            manage = await page.get_by_role("link", name="Cancel or move this booking").get_attribute("href")
            booking_id = re.search(r"/manage/([0-9a-f-]{36})\?token=", manage).group(1)

            # The clinic marks the no-show: the fee's charge to the saved card is declined; its link pays it.
            await visit_in_the_past(stack_db, booking_id)
            await owner.call("POST", f"/api/v1/clinic/bookings/{booking_id}/no-show")
            link = await fee_link(stack_db, booking_id)
            fee_page = await owner_context.new_page()  # another browser: the email opened at a desk
            fee_judge = Judge(fee_page, "fees-desktop")
            await fee_page.goto(link)
            await expect(fee_page.get_by_role("heading", level=1, name="Pay your no-show fee")).to_be_visible()
            await expect(fee_page.get_by_text("could not charge the no-show fee of £32.50")).to_be_visible()
            await fee_judge.check("fee")
            await tab_to(fee_page, "Pay £32.50")
            await press_and_load(fee_page, "Enter")
            assert "token" not in fee_page.url, "the token leaves the address bar"
            await expect(fee_page.get_by_label("Visa test card 4242 4242 4242 4242")).to_be_checked()
            await fee_judge.check("fee-pay")
            await tab_to(fee_page, "Pay £32.50")
            await press_and_load(fee_page, "Enter")
            await expect(fee_page.get_by_role("heading", name="Thank you, paid")).to_be_visible(timeout=CONFIRM_MS)
            await fee_judge.check("fee-paid")
            await fee_page.goto(link)
            await expect(fee_page.get_by_text("This fee has been paid. Thank you.")).to_be_visible()
        finally:
            await owner_context.close()
            await context.close()
