"""The waitlist (issue 20) in a real browser (Debian's Chromium driven by Playwright), through the gateway of the whole
stack, with a clinic of its own made by the operators' onboarding command (so that its waitlist, its matcher's holds
and its one bookable time are this test's alone): its therapist works one hour a week and the clinic books a week
ahead, so there is one time to book, and a customer has booked it.

1. Another customer, on the week of times (none free), follows "Join the waitlist" and fills in the form with the
   keyboard alone: their therapist already chosen, one day and the morning ticked; a mistyped email is refused in the
   error summary (focused, linking to the field, what was typed kept); corrected, the confirmation says what happens
   next, and the "you're on the waitlist" email comes.
2. The first customer cancels: the matcher (the booking service's background task) offers the freed time to the one
   waiting, holding it; the offer's email links into the booking flow, which opens at the screening step with the time
   held (the token gone from the address).
3. The clinic's owner sees them on the dashboard's Waitlist page, offered that time; the customer leaves the waitlist
   from the email's link, and the page then says so.

axe-core judges every page looked at, at phone (390x844) and desktop width: no violation of impact serious or
critical, no sideways scrolling. Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import expect

from tests.e2e.test_browser_booking import DESKTOP, PHONE
from tests.e2e.test_browser_workspace import Catalogue as Made
from tests.e2e.test_browser_workspace import (
    ClinicCalls,
    Judge,
    a_paid_booking,
    emailed,
    free_starts,
    mailbox,
    nav,
    onboard,
    owner_signs_up,
    shown_within_the_cache,
)
from tests.support.infra import wait_for
from tests.support.keyboard import focused_name, press_and_load, tab_to

pytestmark = pytest.mark.e2e
ZONE = ZoneInfo("Europe/London")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The emails (and the matcher's offer) wait for the stack's relay, consumers, Celery worker and matcher.
OFFER_SECONDS = 60
OFFER_LINK = re.compile(r"https?://[^\s\"<>]+/book/offer/[0-9a-f-]{36}\?token=[^\s\"<>]+")
LEAVE_LINK = re.compile(r"https?://[^\s\"<>]+/waitlist/[0-9a-f-]{36}/leave\?token=[^\s\"<>]+")


async def one_time_a_week(owner: ClinicCalls, tag: str, day) -> Made:
    """A 60-minute treatment and a therapist who works one hour on `day`'s weekday (09:00-10:00), at a clinic that
    books a week ahead: `day` 09:00 is the one time anyone can book."""
    treatment_name, therapist_name = f"Sports massage {tag}", f"Wren {tag.title()} Ashby"
    treatment = await owner.call(
        "POST",
        "/api/v1/clinic/treatments",
        201,
        json={"name": treatment_name, "duration_minutes": 60, "price": {"amount": 5000, "currency": "GBP"}},
    )
    therapist = await owner.call(
        "POST", "/api/v1/clinic/therapists", 201, json={"name": therapist_name, "treatments": [treatment["id"]]}
    )
    week = {"hours": [{"weekday": day.weekday(), "start": "09:00", "end": "10:00"}], "breaks": []}
    await owner.call("PUT", f"/api/v1/clinic/therapists/{therapist['id']}/hours", json=week)
    await owner.call("PATCH", "/api/v1/clinic/settings", json={"booking_horizon_days": 7})
    return Made(treatment["id"], treatment_name, therapist["id"], therapist_name, 5000)


async def test_a_customer_joins_the_waitlist_with_the_keyboard_and_books_the_time_a_cancellation_frees(browser, stack):
    clinic = onboard(stack, "wait")
    day = datetime.now(timezone.utc).astimezone(ZONE).date() + timedelta(days=3)
    suffix = uuid.uuid4().hex[:6]
    first, waiting = f"first.{suffix}@waitlist.example", f"wanda.{suffix}@waitlist.example"
    async with aiohttp.ClientSession() as http:
        public = ClinicCalls(http, stack)
        owner_context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
        customer_context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
        try:
            owner_page = await owner_context.new_page()
            owner_judge = Judge(owner_page, "waitlist-owner")
            await owner_signs_up(owner_page, owner_judge, stack, clinic)
            made = await one_time_a_week(await public.signed_in(clinic.owner_email), suffix, day)
            [only] = await free_starts(public, clinic, made, day)
            assert datetime.fromisoformat(only).astimezone(ZONE).strftime("%H:%M") == "09:00"
            booking = await a_paid_booking(public, clinic, made, day, {"name": "Fay First", "email": first})
            assert await free_starts(public, clinic, made, day) == []

            # 1. The week has no free time; the waitlist's link is under it.
            page = await customer_context.new_page()
            judge = Judge(page, "waitlist-customer")
            keyboard = page.keyboard
            week = f"/c/{clinic.slug}/book?treatment={made.treatment}&therapist={made.therapist}"
            await shown_within_the_cache(page, week, page.get_by_text("None of these times suit you?"))
            await expect(page.locator("button.slot")).to_have_count(0)
            await judge.check("week")
            await tab_to(page, "Join the waitlist")
            await press_and_load(page, "Enter")
            await expect(page.get_by_role("heading", name="Join the waitlist")).to_be_visible()
            await expect(page.get_by_text(f"{made.treatment_name} at {clinic.name}")).to_be_visible()
            await expect(page.get_by_label(made.therapist_name)).to_be_checked()  # as chosen for the week
            await judge.check("join")

            await tab_to(page, WEEKDAYS[day.weekday()])
            await keyboard.press("Space")
            await tab_to(page, "Morning")
            await keyboard.press("Space")
            await tab_to(page, "Full name")
            await keyboard.type("Wanda Waite")
            await tab_to(page, "Email address")
            await keyboard.type("wanda at example")
            await tab_to(page, "Join the waitlist")
            await press_and_load(page, "Enter")

            summary = page.locator(".error-summary")
            await expect(summary).to_be_focused()
            assert (await page.title()).startswith("Error: Join the waitlist")
            problem = summary.get_by_role("link", name="Enter an email address like name@example.com")
            await expect(problem).to_have_attribute("href", "#email")
            await expect(page.get_by_label("Full name")).to_have_value("Wanda Waite")
            await expect(page.get_by_label(WEEKDAYS[day.weekday()])).to_be_checked()
            await expect(page.get_by_label("Morning")).to_be_checked()
            await expect(page.get_by_label("Evening")).not_to_be_checked()
            await judge.check("join-error")
            await keyboard.press("Tab")
            assert (await focused_name(page)).startswith("Enter an email address")
            await keyboard.press("Enter")  # the summary's link: to the field itself
            await expect(page.get_by_label("Email address")).to_be_focused()
            await keyboard.press("ControlOrMeta+a")
            await keyboard.type(waiting)
            await tab_to(page, "Join the waitlist")
            await press_and_load(page, "Enter")

            await expect(page.get_by_role("heading", name="You're on the waitlist")).to_be_visible()
            summary_list = page.locator("dl.summary")
            await expect(summary_list).to_contain_text(made.therapist_name)
            await expect(summary_list).to_contain_text(f"{WEEKDAYS[day.weekday()]}s, mornings (before 12:00)")
            await expect(page.get_by_text(f"we'll email you at {waiting}")).to_be_visible()
            await judge.check("joined")
            joined = await emailed(stack, waiting, "waitlist_joined")
            [leave_link] = set(LEAVE_LINK.findall(joined["text"]))

            # 2. The first customer cancels: the time is offered to the one waiting, and held for them.
            token = booking["manage_url"].split("token=", 1)[1]
            cancelled = await public.call("POST", f"/api/v1/bookings/{booking['id']}/cancel", json={"token": token})
            assert cancelled["status"] == "cancelled"
            offered = await emailed_within(stack, waiting, "waitlist_offered")
            [offer_link] = set(OFFER_LINK.findall(offered["text"]))
            assert await free_starts(public, clinic, made, day) == [], "held for the one waiting"
            await page.goto(offer_link)
            await expect(page.get_by_role("heading", name="Before your treatment")).to_be_visible()
            assert "token" not in page.url and page.url.endswith(f"/c/{clinic.slug}/book/screening")
            held = page.get_by_role("status").filter(has_text="We are holding this time for you until")
            await expect(held).to_contain_text(f"{WEEKDAYS[day.weekday()]} {day.day} {day:%B %Y}, 09:00")
            await judge.check("offer-screening")

            # 3. The owner sees them on the Waitlist page, offered that time.
            await tab_to(owner_page, "Waitlist")
            await press_and_load(owner_page, "Enter")
            await expect(owner_page.get_by_role("heading", name="Waitlist", level=1)).to_be_visible()
            await expect(nav(owner_page).get_by_role("link", name="Waitlist")).to_have_attribute("aria-current", "page")
            row = owner_page.get_by_role("row").filter(has_text="Wanda Waite")
            await expect(row.locator('[data-label="Status"]')).to_have_text("Offered a time")
            await expect(row.locator('[data-label="Time held for them"]')).to_contain_text(
                f"{WEEKDAYS[day.weekday()]} {day.day} {day:%B %Y}, 09:00"
            )
            await expect(row.get_by_role("button", name="Remove Wanda Waite from the waitlist")).to_be_visible()
            await owner_judge.check("waitlist")

            # The customer leaves, from the email's link: the page asks, then says it is done.
            await page.goto(leave_link)
            await expect(page.get_by_role("heading", name="Leave the waitlist?")).to_be_visible()
            await judge.check("leave")
            await tab_to(page, "Leave the waitlist")
            await press_and_load(page, "Enter")
            await expect(page.get_by_role("heading", name="You have left the waitlist")).to_be_visible()
            await judge.check("left")
            assert await free_starts(public, clinic, made, day) == [only], "the time held for them is free again"

            await owner_page.reload()
            await expect(row.locator('[data-label="Status"]')).to_have_text("Left the waitlist")
            await expect(row.get_by_role("button")).to_have_count(0)
            await owner_judge.check("waitlist-left")
        finally:
            await owner_context.close()
            await customer_context.close()


async def emailed_within(stack, address: str, kind: str) -> dict:
    """`emailed`, given the matcher's own round (it looks every few seconds) on top of the emails' way."""
    [message] = await wait_for(
        lambda: mailbox(stack, address, kind), timeout=OFFER_SECONDS, interval=0.5, what=f"the {kind} email"
    )
    return message
