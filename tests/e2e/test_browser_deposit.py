"""A deposit (issue 20: "the booking pages show the policy") in a real browser (Debian's Chromium driven by
Playwright), through the gateway of the whole stack, with a clinic of its own made by the operators' onboarding
command (so that the shared demo clinic keeps paying in full, and the times booked here are this test's alone).

Its owner, signed in to the clinic API, sets the clinic's payment policy to a 20% deposit; its one treatment costs
£65.00 for 60 minutes and its one therapist works two hours a week, three days on. A customer at phone width
(390x844), with the keyboard alone:

1. chooses the treatment, its option saying (as its description, so a screen reader says it too) "Pay a deposit of
   £13.00 now (20%); the rest, £52.00, at the clinic." (services/booking/payment_policy.py `words`);
2. goes on through the therapist, the time, the health screening and their details to the pay step, which shows
   £13.00 "To pay now" (deposit) and £52.00 "To pay at the clinic", the button paying £13.00;
3. pays with the test-mode card (the fake Stripe's Visa): the confirmation says "Paid: £13.00 deposit. To pay at the
   clinic: £52.00.", and the card payment at the fake Stripe is £13.00, not the price.

axe-core judges the choice, pay and confirmation pages, each at phone and desktop width: no violation of impact
serious or critical, no sideways scrolling. Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
import stripe
from playwright.async_api import Page, expect

from tests.e2e.test_browser_booking import DESKTOP, PHONE
from tests.e2e.test_browser_workspace import (
    PASSWORD,
    Clinic,
    ClinicCalls,
    Judge,
    onboard,
    set_password_link,
    shown_within_the_cache,
)
from tests.support.infra import database_url
from tests.support.keyboard import choose_with_arrows, press_and_load, tab_to

pytestmark = pytest.mark.e2e
ZONE = ZoneInfo("Europe/London")
POLICY = {"mode": "deposit", "deposit": {"percent": 20}}
PRICE = 6500
WORDS = "Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic."
PAID = "Paid: £13.00 deposit. To pay at the clinic: £52.00."
# The confirming page asks again by itself every 2 s until the payment's event has confirmed the booking.
CONFIRM_MS = 20_000


async def owner_password_set(page: Page, stack, clinic: Clinic) -> None:
    """The owner's password, chosen from the onboarding email's link (set-up: the dashboard is proven elsewhere)."""
    _, link = await set_password_link(stack, clinic.owner_email)
    await page.goto(link)
    await page.get_by_label("New password").fill(PASSWORD)
    await page.get_by_label("Type the password again").fill(PASSWORD)
    await page.get_by_role("button", name="Set password").click()
    await expect(page.get_by_text("Your password is set.")).to_be_visible()


async def a_deposit_clinic(owner: ClinicCalls, tag: str, day) -> tuple[str, str]:
    """The clinic's policy a 20% deposit; a £65.00, 60-minute treatment; a therapist who gives it 10:00-12:00 on
    `day`'s weekday only. The treatment's and the therapist's names."""
    settings = await owner.call("PATCH", "/api/v1/clinic/settings", json={"payment_policy": POLICY})
    assert settings["payment_policy"] == POLICY, settings
    treatment_name, therapist_name = f"Hot stone massage {tag}", "Dora Penn"
    treatment = await owner.call(
        "POST",
        "/api/v1/clinic/treatments",
        201,
        json={"name": treatment_name, "duration_minutes": 60, "price": {"amount": PRICE, "currency": "GBP"}},
    )
    assert treatment.get("payment_policy") is None, "its own policy unset: the clinic's applies"
    therapist = await owner.call(
        "POST", "/api/v1/clinic/therapists", 201, json={"name": therapist_name, "treatments": [treatment["id"]]}
    )
    week = {"hours": [{"weekday": day.weekday(), "start": "10:00", "end": "12:00"}], "breaks": []}
    await owner.call("PUT", f"/api/v1/clinic/therapists/{therapist['id']}/hours", json=week)
    return treatment_name, therapist_name


async def card_payment_at_fake_stripe(stack, stack_db, booking_id: str):
    """The booking's card payment (its PaymentIntent) as the fake Stripe has it."""
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        intent = await conn.fetchval(
            "SELECT stripe_payment_intent FROM payments.payments WHERE reference_id = $1", booking_id
        )
    finally:
        await conn.close()
    assert intent, f"no card payment for booking {booking_id}"
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        "sk_test_offline", http_client=http, base_addresses={"api": f"http://127.0.0.1:{stack.env['FAKE_STRIPE_PORT']}"}
    )
    try:
        return await client.v1.payment_intents.retrieve_async(intent)
    finally:
        await http.close_async()


async def test_a_deposit_clinic_s_pages_show_the_policy_and_the_card_pays_only_the_deposit(browser, stack, stack_db):
    clinic = onboard(stack, "deposit")
    day = datetime.now(timezone.utc).astimezone(ZONE).date() + timedelta(days=3)
    tag = uuid.uuid4().hex[:6]
    # Long and without a hyphen: the confirmation page must break it rather than scroll sideways on a phone.
    email = f"alexandramontgomerysmith.{tag}@deposit.example"
    async with aiohttp.ClientSession() as http:
        owner_context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
        context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
        try:
            await owner_password_set(await owner_context.new_page(), stack, clinic)
            owner = await ClinicCalls(http, stack).signed_in(clinic.owner_email)
            treatment_name, therapist_name = await a_deposit_clinic(owner, tag, day)

            # 1. The choice: the treatment's option says its policy, for its price.
            page = await context.new_page()
            judge = Judge(page, "deposit-phone")
            keyboard = page.keyboard
            option = page.get_by_label(treatment_name, exact=True)
            await shown_within_the_cache(page, f"/c/{clinic.slug}", page.get_by_text(treatment_name).first)
            await tab_to(page, "Book now")
            await press_and_load(page, "Enter")
            # The question is the radio group's legend and the page's heading (GOV.UK: the h1 inside the legend).
            await expect(page.get_by_role("group", name="What would you like to book?")).to_be_visible()
            await expect(page.get_by_role("heading", level=1, name="What would you like to book?")).to_be_visible()
            await expect(page.get_by_text(WORDS)).to_be_visible()
            await expect(option).to_have_accessible_description(f"60 minutes, £65.00. {WORDS}")
            await judge.check("choice")
            await tab_to(page, treatment_name)
            await keyboard.press("Space")
            await expect(option).to_be_checked()
            await tab_to(page, "Continue")
            await press_and_load(page, "Enter")

            # 2. Therapist, time, screening, details: on to the pay step.
            await tab_to(page, "No preference")  # a radio group takes one Tab; its arrows choose within it
            await choose_with_arrows(page, therapist_name)
            await tab_to(page, "Continue")
            await press_and_load(page, "Enter")
            await expect(page.get_by_role("heading", name="Choose a time")).to_be_visible()
            first_time = page.locator("button.slot").first
            await expect(first_time).to_have_accessible_name("10:00")
            await expect(first_time).to_have_accessible_description(re.compile(rf"^\w+day {day.day} {day:%B %Y} "))
            await tab_to(page, "10:00")
            await press_and_load(page, "Enter")
            await expect(page.get_by_role("heading", name="Before your treatment")).to_be_visible()
            questions = await page.locator("fieldset").count()
            for _ in range(questions):
                await tab_to(page, "Yes")  # each question's group, then the arrow to its "No"
                await choose_with_arrows(page, "No")
            await expect(page.locator("input[type=radio][value=no]:checked")).to_have_count(questions)
            await tab_to(page, "Continue")
            await press_and_load(page, "Enter")
            await expect(page.get_by_role("heading", name="Your details")).to_be_visible()
            await tab_to(page, "Full name")
            await keyboard.type("Dee Posit")
            await tab_to(page, "Email address")
            await keyboard.type(email)
            await tab_to(page, "I have read the cancellation policy")
            await keyboard.press("Space")
            await tab_to(page, "Continue to payment")
            await press_and_load(page, "Enter")

            # The pay step: the deposit now, the rest at the clinic.
            await expect(page.get_by_role("heading", name="Pay", exact=True)).to_be_visible()
            await expect(page.get_by_text("Test mode.")).to_be_visible()
            summary = page.locator("dl.summary")
            await expect(summary.locator("div").filter(has=page.locator("dt", has_text="Price"))).to_have_text(
                re.compile(r"^\s*Price\s*£65\.00\s*$")
            )
            await expect(summary.locator("div").filter(has=page.locator("dt", has_text="To pay now"))).to_have_text(
                re.compile(r"^\s*To pay now\s*£13\.00 \(deposit\)\s*$")
            )
            await expect(
                summary.locator("div").filter(has=page.locator("dt", has_text="To pay at the clinic"))
            ).to_have_text(re.compile(r"^\s*To pay at the clinic\s*£52\.00\s*$"))
            await expect(page.get_by_label("Visa test card 4242 4242 4242 4242")).to_be_checked()
            await expect(page.get_by_role("button", name=re.compile(r"^Pay £"))).to_have_text("Pay £13.00")
            await judge.check("pay")

            # 3. Paid by the test card: the confirmation says what is due at the clinic.
            await tab_to(page, "Pay £13.00")
            await press_and_load(page, "Enter")
            await expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=CONFIRM_MS)
            await expect(page.get_by_text(PAID, exact=True)).to_be_visible()
            await expect(page.locator("dl.summary")).to_contain_text(f"{day.day} {day:%B %Y}, 10:00")
            await expect(page.locator("dl.summary")).to_contain_text(therapist_name)
            await judge.check("confirmed")
            manage = await page.get_by_role("link", name="Cancel or move this booking").get_attribute("href")
            booking_id = re.search(r"/manage/([0-9a-f-]{36})\?token=", manage).group(1)
        finally:
            await owner_context.close()
            await context.close()

    intent = await card_payment_at_fake_stripe(stack, stack_db, booking_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 1300, "gbp"), intent
