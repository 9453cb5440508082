"""The catalogue and therapists pages in a real browser (Debian's Chromium driven by Playwright), through the gateway
of the whole stack: the owner adds a treatment and a therapist with working hours with the keyboard alone, and the
public availability then has that therapist's times; axe-core judges every page of these areas (the catalogue,
a treatment's and a course's forms with their errors, the delete question, the therapists, a therapist's page with
its errors, the week's editor with its errors, bookings in the way, the calendar feed's address, and what staff see)
at phone and desktop width: no violation of impact serious or critical, no sideways scrolling. Each test makes
treatments and therapists of its own (named for it), so the other browser tests' clinic is as they expect.
Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import re
import uuid

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.e2e.test_browser_booking import DESKTOP, PHONE, Visit
from tests.e2e.test_browser_dashboard import account, sign_in
from tests.support.booking import next_weekday
from tests.support.keyboard import press_and_load, tab_to

pytestmark = pytest.mark.e2e
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
ID = re.compile(r"/([0-9a-f-]{36})(?:[/?#]|$)")


async def free_starts(stack, treatment: str, therapist: str, day) -> list[str]:
    """The therapist's free times on `day`, as the public API (and so the booking pages) has them."""
    async with aiohttp.ClientSession(stack.url()) as http:
        params = {"treatment": treatment, "therapist": therapist, "from": day.isoformat(), "to": day.isoformat()}
        async with http.get("/api/v1/clinics/urban-therapy/availability", params=params) as resp:
            assert resp.status == 200, await resp.text()
            return [slot["start"] for slot in (await resp.json())["slots"]]


async def book_first(stack, treatment: str, therapist: str, day) -> str:
    """A customer books the therapist's first free time on `day` (the public API); the booking's id."""
    start = (await free_starts(stack, treatment, therapist, day))[0]
    async with aiohttp.ClientSession(stack.url()) as http:
        body = {"clinic": "urban-therapy", "treatment": treatment, "therapist": therapist, "start": start}
        async with http.post("/api/v1/holds", json=body) as resp:
            assert resp.status == 201, await resp.text()
            held = await resp.json()
        customer = {"hold": held["id"], "customer": {"name": "Ada Lovelace", "email": "ada.catalogue@example.com"}}
        async with http.post("/api/v1/bookings", json=customer) as resp:
            assert resp.status == 201, await resp.text()
            return (await resp.json())["id"]


def id_in(url: str) -> str:
    return ID.search(url).group(1)


async def tab_to_input(page: Page, element_id: str, presses: int = 200) -> None:
    """Tab until the input of that id has the focus (a time input takes a Tab for each of its hours and minutes)."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


async def test_the_owner_adds_a_treatment_and_a_therapist_with_hours_with_the_keyboard_alone(browser, stack, stack_db):
    email = await account(stack_db)
    suffix = uuid.uuid4().hex[:6]
    treatment_name, therapist_name = f"Keyboard stretch {suffix}", f"Kim Keys {suffix}"
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
    try:
        page = await context.new_page()
        await sign_in(page, email)
        await expect(page.get_by_text("Signed in as Alice Jones")).to_be_visible()

        # The catalogue: a new treatment, typed in.
        await tab_to(page, "Catalogue")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Catalogue", exact=True)).to_be_visible()
        await tab_to(page, "Add a treatment")
        await press_and_load(page, "Enter")
        await tab_to(page, "Name")
        await page.keyboard.type(treatment_name)
        await tab_to(page, "Description")
        await page.keyboard.type("Assisted stretching.")
        await tab_to(page, "Length in minutes")
        await page.keyboard.type("45")
        await tab_to(page, "Price in pounds")
        await page.keyboard.type("50.00")
        await tab_to(page, "Customers answer the health questions")
        await page.keyboard.press("Space")  # ticked for a new treatment: untick it
        await expect(page.get_by_label("Customers answer the health questions")).not_to_be_checked()
        await tab_to(page, "Add treatment")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text(f"{treatment_name} added.")).to_be_visible()
        row = page.get_by_role("row").filter(has_text=treatment_name)
        await expect(row).to_contain_text("45 minutes")
        await expect(row).to_contain_text("£50.00")
        treatment = id_in(await row.get_by_role("link", name=treatment_name).get_attribute("href"))

        # A new therapist who gives it.
        await tab_to(page, "Therapists")
        await press_and_load(page, "Enter")
        await tab_to(page, "Name")
        await page.keyboard.type(therapist_name)
        await tab_to(page, "Qualifications")
        await page.keyboard.type("Level 4 Sports Massage")
        await tab_to(page, treatment_name)
        await page.keyboard.press("Space")
        await tab_to(page, "Add therapist")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text(f"{therapist_name} added.")).to_be_visible()
        therapist = id_in(page.url)

        # Their week: Monday 09:00 to 17:00 with a break at 12:30, typed into the time inputs.
        await tab_to(page, "Change working hours")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name=f"{therapist_name}'s working hours")).to_be_visible()
        # (Typed as people do: with the colon, or without it, as on a phone's number pad.)
        for element_id, clock in (
            ("h0_0_start", "09:00"),
            ("h0_0_end", "17:00"),
            ("b0_0_start", "1230"),
            ("b0_0_end", "13:30"),
        ):
            await tab_to_input(page, element_id)
            await page.keyboard.type(clock)
        await tab_to(page, "Save working hours", presses=400)
        await press_and_load(page, "Enter")
        await expect(page.get_by_text(f"{therapist_name}'s working week saved.")).to_be_visible()
        monday_row = page.get_by_role("row").filter(has_text="Monday")
        await expect(monday_row).to_contain_text("09:00–17:00")
        await expect(monday_row).to_contain_text("12:30–13:30")
    finally:
        await context.close()

    starts = [s[11:16] for s in await free_starts(stack, treatment, therapist, next_weekday(0))]
    assert starts and starts[0] == "09:00" and "12:30" not in starts and starts[-1] <= "16:15", starts


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_the_catalogue_and_therapists_pages_pass_axe_at_phone_and_desktop_width(browser, stack, stack_db, width):
    owner, receptionist = await account(stack_db), await account(stack_db, "staff", f"Rosa Reception {width}")
    suffix = f"{width} {uuid.uuid4().hex[:6]}"
    treatment_name, therapist_name = f"Axe stretch {suffix}", f"Axel Tester {suffix}"
    context = await browser.new_context(viewport=VIEWPORTS[width], base_url=stack.url(), locale="en-GB")
    try:
        page = await context.new_page()
        visit = Visit(page, f"dashboard-catalogue-axe-{width}", judge=True)
        await sign_in(page, owner)
        await expect(page.get_by_text("Signed in as Alice Jones")).to_be_visible()

        # The catalogue, a treatment's form with its errors, and a new treatment.
        await page.goto("/clinic/catalogue")
        await visit.check("catalogue")
        await page.get_by_role("link", name="Add a treatment").click()
        await visit.check("treatment-new")
        await page.get_by_label("Price in pounds").fill("lots")
        await page.get_by_role("button", name="Add treatment").click()
        await expect(page.locator(".error-summary")).to_be_focused()
        await visit.check("treatment-errors")
        await page.get_by_label("Name", exact=True).fill(treatment_name)
        await page.get_by_label("Length in minutes").fill("30")
        await page.get_by_label("Price in pounds").fill("30")
        await page.get_by_label("Customers answer the health questions").uncheck()
        await page.get_by_role("button", name="Add treatment").click()
        await expect(page.get_by_text(f"{treatment_name} added.")).to_be_visible()
        await visit.check("catalogue-added")
        row = page.get_by_role("row").filter(has_text=treatment_name)
        treatment = id_in(await row.get_by_role("link", name=treatment_name).get_attribute("href"))
        await row.get_by_role("link", name=treatment_name).click()
        await visit.check("treatment-edit")
        await page.goto("/clinic/catalogue/courses/new")
        await page.get_by_role("button", name="Add course").click()
        await expect(page.locator(".error-summary")).to_be_focused()
        await visit.check("course-errors")

        # A therapist of this test's, with a week, and a booking of theirs.
        await page.goto("/clinic/therapists")
        await visit.check("therapists")
        await page.get_by_label("Name", exact=True).fill(therapist_name)
        await page.get_by_label(treatment_name).check()
        await page.get_by_role("button", name="Add therapist").click()
        await expect(page.get_by_text(f"{therapist_name} added.")).to_be_visible()
        therapist = id_in(page.url)
        await visit.check("therapist")
        await page.get_by_role("link", name="Change working hours").click()
        await visit.check("hours")
        await page.locator("#h0_0_start").fill("09:00")
        await page.locator("#h0_0_end").fill("17:00")
        await page.locator("#b0_0_start").fill("18:00")
        await page.locator("#b0_0_end").fill("18:30")
        await page.get_by_role("button", name="Save working hours").click()
        await expect(page.locator(".error-summary")).to_be_focused()
        await expect(page.get_by_text("Monday, break 1: must lie within Monday's working hours").first).to_be_visible()
        await visit.check("hours-errors")
        await page.locator("#b0_0_start").fill("")
        await page.locator("#b0_0_end").fill("")
        await page.get_by_role("button", name="Save working hours").click()
        await expect(page.get_by_text(f"{therapist_name}'s working week saved.")).to_be_visible()

        monday = next_weekday(0)
        booking = await book_first(stack, treatment, therapist, monday)
        await page.get_by_label("First day").fill("not a day")
        await page.get_by_role("button", name="Add time off").click()
        await expect(page.locator(".error-summary")).to_be_focused()
        await visit.check("therapist-errors")
        await page.get_by_label("First day").fill(monday.isoformat())
        await page.get_by_role("button", name="Add time off").click()
        await expect(page.get_by_role("heading", name="Bookings in the way")).to_be_visible()
        await expect(page.get_by_role("link", name=re.compile("09:00 \\(UK time"))).to_have_attribute(
            "href", f"/clinic/bookings/{booking}"
        )
        await visit.check("in-the-way")
        await page.get_by_role("button", name="I will move these bookings — save anyway").click()
        await expect(page.get_by_text(f"Time off added for {therapist_name}.")).to_be_visible()
        await visit.check("therapist-time-off")
        await page.get_by_role("button", name="Make a calendar feed address").click()
        await expect(page.get_by_label("Calendar feed address")).to_have_value(re.compile(r"/api/v1/calendar/.+\.ics$"))
        await visit.check("feed")
        await page.get_by_role("link", name=f"Done: back to {therapist_name}").click()
        await page.get_by_role("button", name=f"Remove {therapist_name}").click()
        await expect(page.get_by_role("heading", name=f"Remove {therapist_name}?")).to_be_visible()
        await visit.check("therapist-remove-question")
        await page.get_by_role("link", name="No, keep them").click()

        await page.goto("/clinic/catalogue")
        await page.get_by_role("button", name=f"Delete {treatment_name}").click()
        await expect(page.get_by_role("heading", name=f"Delete {treatment_name}?")).to_be_visible()
        await visit.check("treatment-delete-question")
        await page.get_by_role("button", name=f"Yes, delete {treatment_name}").click()
        await expect(page.get_by_text("was archived, not deleted, because it has bookings")).to_be_visible()
        await visit.check("catalogue-archived")
        await page.get_by_role("button", name="Sign out").click()

        # Reception: the same pages, read only (time off apart).
        await sign_in(page, receptionist)
        await page.goto("/clinic/catalogue")
        await expect(page.get_by_role("link", name="Add a treatment")).to_have_count(0)
        await visit.check("catalogue-staff")
        await page.goto(f"/clinic/therapists/{therapist}")
        await expect(page.get_by_role("button", name="Save profile")).to_have_count(0)
        await visit.check("therapist-staff")
    finally:
        await context.close()
