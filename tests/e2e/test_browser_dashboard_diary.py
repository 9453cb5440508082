"""The diary and a booking's pages in a real browser (Debian's Chromium driven by Playwright), through the gateway of
the whole stack: reception books for a customer by phone, moves the booking and cancels it, with the keyboard alone;
axe-core judges the diary's day and week, a booking's page, its move and cancel pages, and the phone booking's page
(empty, with its free times, with its errors, and stopped by a red flag) at phone and desktop width: no violation
of impact serious or critical, no sideways scrolling. Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import Page, expect

from services.booking.seed import stable_id
from services.web.formatting import day_label
from tests.e2e.test_browser_booking import DESKTOP, PHONE, Visit
from tests.e2e.test_browser_dashboard import account, sign_in
from tests.support.booking import next_weekday
from tests.support.keyboard import choose_with_arrows, focused_name, press_and_load, tab_to

pytestmark = pytest.mark.e2e
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
TREATMENT = str(stable_id("urban-therapy", "treatment", "deep-tissue-60"))
TOM = str(stable_id("urban-therapy", "therapist", "tom-hughes"))
CLOCK = re.compile(r"^\d\d:\d\d")
QUESTIONS = 7


async def tab_to_time(page: Page, presses: int = 80) -> str:
    """Tab until a free time (a radio or a button named by its clock) has the focus; its clock."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        name = await focused_name(page)
        if CLOCK.match(name):
            return name[:5]
    raise AssertionError("Tab never reached a free time")


async def tab_to_group(page: Page, name: str, presses: int = 80) -> None:
    """Tab until a control of the form field `name` (e.g. a radio group) has the focus."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.name") == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def hold_a_time(stack, day) -> str:
    """A customer holds one of Tom's times on `day` (the public API, as the booking pages do); its start."""
    async with aiohttp.ClientSession(stack.url()) as http:
        params = {"treatment": TREATMENT, "therapist": TOM, "from": day.isoformat(), "to": day.isoformat()}
        async with http.get("/api/v1/clinics/urban-therapy/availability", params=params) as resp:
            slots = (await resp.json())["slots"]
        body = {"clinic": "urban-therapy", "treatment": TREATMENT, "therapist": TOM, "start": slots[-1]["start"]}
        async with http.post("/api/v1/holds", json=body) as resp:
            assert resp.status == 201, await resp.text()
    return slots[-1]["start"]


async def test_reception_books_moves_and_cancels_for_a_customer_with_the_keyboard_alone(browser, stack, stack_db):
    email = await account(stack_db, "staff", "Rita Patel")
    day = next_weekday(3, weeks_ahead=3)  # a Thursday: Tom works, and no other test books him then
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
    try:
        page = await context.new_page()
        await sign_in(page, email)
        await expect(page.get_by_text("Signed in as Rita Patel")).to_be_visible()
        await tab_to(page, "Diary")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Diary: ")
        await tab_to(page, "Book for a customer")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Book for a customer")).to_be_visible()

        # The treatment (a radio group: the arrows choose), the therapist and the day (lists: typing chooses).
        await tab_to_group(page, "treatment")
        await choose_with_arrows(page, "Deep tissue massage (60 min)")
        await page.keyboard.press("Space")  # the first of the group has the focus, not yet chosen
        await tab_to(page, "Therapist")
        await page.keyboard.type("Tom")
        await tab_to(page, "Day")
        await page.keyboard.type(day_label(day))  # a list of days: typing a day's name chooses it
        await tab_to(page, "Show free times")
        await press_and_load(page, "Enter")
        await expect(
            page.get_by_role("heading", name=f"Deep tissue massage (60 min) with Tom Hughes, {day_label(day)}")
        ).to_be_visible()

        first = await tab_to_time(page)
        await page.keyboard.press("Space")
        await tab_to(page, "Full name")
        await page.keyboard.type("Grace Hopper")
        await tab_to(page, "Email address")
        await page.keyboard.type("grace.keyboard@example.com")
        await tab_to(page, "Pay online")
        await choose_with_arrows(page, "Pay at the clinic")
        for _ in range(QUESTIONS):  # each question's group: Tab to "Yes", the arrow to "No"
            await tab_to(page, "Yes")
            await choose_with_arrows(page, "No")
        await tab_to(page, "Book")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text("Booked and confirmed, to be paid at the clinic.")).to_be_visible()
        await expect(page.get_by_text(f"{day_label(day)}, {first} to")).to_be_visible()

        await tab_to(page, "Move to another time")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Move this booking")).to_be_visible()
        moved_to = await tab_to_time(page)
        await press_and_load(page, "Enter")
        await expect(page.get_by_text("Booking moved.")).to_be_visible()
        await expect(page.get_by_text(f", {moved_to} to")).to_be_visible()

        await tab_to(page, "Cancel the booking")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Cancel this booking?")).to_be_visible()
        await tab_to(page, "Why is it cancelled?")
        await page.keyboard.type("Tom is on a course that day")
        await tab_to(page, "Cancel the booking")
        await press_and_load(page, "Enter")
        await expect(  # paid at the clinic: nothing was paid online, so nothing is refunded
            page.get_by_text("Booking cancelled. Nothing was paid online, so nothing is refunded")
        ).to_be_visible()
        await expect(page.get_by_text("Tom is on a course that day", exact=False).first).to_be_visible()
    finally:
        await context.close()


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_the_diary_and_booking_pages_pass_axe_at_phone_and_desktop_width(browser, stack, stack_db, width):
    email = await account(stack_db)
    day = next_weekday(4, weeks_ahead=4 if width == "phone" else 5)  # a Friday of this test's own
    held = await hold_a_time(stack, day)
    context = await browser.new_context(viewport=VIEWPORTS[width], base_url=stack.url(), locale="en-GB")
    try:
        page = await context.new_page()
        visit = Visit(page, f"dashboard-diary-axe-{width}", judge=True)
        await sign_in(page, email)
        await expect(page.get_by_text("Signed in as Alice Jones")).to_be_visible()

        await page.goto("/clinic/bookings/new")
        await visit.check("new-booking")
        await page.get_by_role("button", name="Show free times").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("new-booking-choice-errors")
        await page.get_by_label("Deep tissue massage (60 min)").check()
        await page.get_by_label("Therapist", exact=True).select_option(label="Tom Hughes")
        await page.get_by_label("Day", exact=True).select_option(day.isoformat())
        await page.get_by_role("button", name="Show free times").click()
        await expect(page.get_by_role("group", name=re.compile(r"^Time \(UK time"))).to_be_visible()
        await visit.check("new-booking-times")
        await page.get_by_role("button", name="Book", exact=True).click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("new-booking-errors")

        times = page.get_by_role("group", name=re.compile(r"^Time \(UK time")).get_by_role("radio")
        await times.first.check()
        await page.get_by_label("Full name", exact=True).fill(f"Grace Hopper {width}")
        await page.get_by_label("Email address", exact=True).fill(f"grace.{width}@example.com")
        await page.get_by_label("Pay at the clinic").check()
        for group in await page.locator("fieldset").all():  # one answer to check before the treatment: a flag
            if await group.get_by_label("No", exact=True).count():
                flag = "pain spread into both legs" in await group.locator("legend").inner_text()
                await group.get_by_label("Yes" if flag else "No", exact=True).check()
        await page.get_by_role("button", name="Book", exact=True).click()
        await expect(page.get_by_text("Booked and confirmed")).to_be_visible()
        await expect(page.get_by_text("Flagged").first).to_be_visible()
        await visit.check("booking")

        await page.get_by_role("link", name="Back to the diary").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(f"Diary: {day_label(day)}")
        await expect(page.get_by_text("Being booked").first).to_be_visible()
        await expect(page.get_by_role("link", name=re.compile(f"^Grace Hopper {width}: Deep tissue"))).to_be_visible()
        await visit.check("diary-day")
        await page.get_by_role("link", name="Week", exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Diary: Week of Monday")
        await visit.check("diary-week")
        await page.get_by_label("Therapist", exact=True).select_option(label="Tom Hughes")
        await page.get_by_role("button", name="Show", exact=True).click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text("Tom Hughes")
        await visit.check("diary-week-tom")

        await page.get_by_role("link", name=re.compile(f"^Grace Hopper {width}: Deep tissue")).click()
        await page.get_by_role("link", name="Move to another time").click()
        await expect(page.get_by_role("heading", name="Move this booking")).to_be_visible()
        await visit.check("move")
        await page.get_by_role("link", name="Back to the booking").click()
        await page.get_by_role("link", name="Cancel the booking").click()
        await page.get_by_role("button", name="Cancel the booking").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("cancel-errors")
        await page.get_by_label("Why is it cancelled?").fill("Tom is unwell")
        await page.get_by_role("button", name="Cancel the booking").click()
        await expect(page.get_by_text("Booking cancelled.")).to_be_visible()
        await visit.check("cancelled")

        await page.goto(f"/clinic/bookings/new?treatment={TREATMENT}&therapist={TOM}&date={day.isoformat()}")
        await page.get_by_role("group", name=re.compile(r"^Time \(UK time")).get_by_role("radio").first.check()
        await page.get_by_label("Full name", exact=True).fill("Ada Lovelace")
        await page.get_by_label("Email address", exact=True).fill("ada.redflag@example.com")
        await page.get_by_label("Pay online").check()
        for group in await page.locator("fieldset").all():
            if await group.get_by_label("No", exact=True).count():
                saddle = "saddle" in await group.locator("legend").inner_text()
                await group.get_by_label("Yes" if saddle else "No", exact=True).check()
        await page.get_by_role("button", name="Book", exact=True).click()
        await expect(page.get_by_role("heading", name="This treatment cannot be booked now")).to_be_visible()
        await expect(page.get_by_text("Please go to A&E now", exact=False)).to_be_visible()
        await visit.check("stopped")
        assert held  # the hold stays in the diary until it expires: shown above as "Being booked"
    finally:
        await context.close()
