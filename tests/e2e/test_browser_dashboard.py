"""The clinic dashboard in a real browser (Debian's Chromium driven by Playwright), through the gateway of the whole
stack: signing in and out with the keyboard alone, the owner's pages with JavaScript off, and axe-core judging
the sign-in, home and staff pages (and their error and question pages) at phone and desktop width: no violation
of impact serious or critical, no sideways scrolling. Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from playwright.async_api import Page, expect

from services.booking import staff
from services.booking.seed import stable_id
from tests.e2e.test_browser_booking import DESKTOP, PHONE, Visit
from tests.support.infra import database_url
from tests.support.keyboard import press_and_load, tab_to

pytestmark = pytest.mark.e2e
PASSWORD = "a long e2e password"
CLINIC_NAME = "Urban Therapy Clinic, London"
# Phone and desktop. (Every sign-in form sent counts against the gateway's per-address sign-in limit, 10 a
# quarter hour, and the whole stack's browser tests come from one address: this file sends eight.)
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


async def account(stack_db, role: str = "owner", name: str = "Alice Jones") -> str:
    """A new account of Urban Therapy in the stack's database (one per test: each account's sign-ins are limited
    apart); its email."""
    email = f"{role}.{uuid.uuid4().hex[:8]}@urban-therapy.example"
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        await conn.execute(
            """INSERT INTO booking.clinic_staff (id, clinic_id, email, name, password_hash, role)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            uuid.uuid4(),
            stable_id("urban-therapy"),
            email,
            name,
            staff.hash_password(PASSWORD),
            role,
        )
    finally:
        await conn.close()
    return email


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/clinic")  # signed out: sent to sign in
    await expect(page.get_by_role("heading", name="Sign in to your clinic dashboard")).to_be_visible()
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_and_out_with_the_keyboard_alone(browser, stack, stack_db):
    email = await account(stack_db)
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url())
    try:
        page = await context.new_page()
        await page.goto("/clinic")
        await expect(page.get_by_role("heading", name="Sign in to your clinic dashboard")).to_be_visible()
        await tab_to(page, "Email address")
        await page.keyboard.type(email)
        await tab_to(page, "Password")
        await page.keyboard.type(PASSWORD)
        await tab_to(page, "Sign in")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name=CLINIC_NAME)).to_be_visible()
        await expect(page.get_by_text("Signed in as Alice Jones")).to_be_visible()
        # The areas are links in the tab order, then the way out.
        await tab_to(page, "Staff")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
        await tab_to(page, "Sign out", presses=40)
        await press_and_load(page, "Enter")
        await expect(page.get_by_text("You have signed out.")).to_be_visible()
        await page.goto("/clinic/staff")
        await expect(page.get_by_role("heading", name="Sign in to your clinic dashboard")).to_be_visible()
    finally:
        await context.close()


async def test_the_owner_invites_someone_with_javascript_off_on_a_phone(browser, stack, stack_db):
    email = await account(stack_db)
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, "dashboard-no-js-phone", judge=False)
        await sign_in(page, email)
        await visit.check("home")
        await page.get_by_role("navigation", name="Clinic workspace").get_by_role("link", name="Staff").click()
        invitee = f"sam.{uuid.uuid4().hex[:8]}@urban-therapy.example"
        await page.get_by_label("Full name").fill("Sam Lee")
        await page.get_by_label("Email address").fill(invitee)
        await page.get_by_label("Staff (reception)").check()
        await page.get_by_role("button", name="Send invitation").click()
        await expect(page.get_by_text("Invitation sent.")).to_be_visible()
        await visit.check("invited")
        row = page.get_by_role("row").filter(has_text=invitee)
        await expect(row).to_contain_text("Sam Lee")
        await expect(row).to_contain_text("Invited")
    finally:
        await context.close()


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_the_dashboard_pages_pass_axe_at_phone_and_desktop_width(browser, stack, stack_db, width):
    rita = f"Rita Patel {width}"  # the stack's database is the session's: a name of this test's own
    owner, receptionist = await account(stack_db), await account(stack_db, "staff", rita)
    context = await browser.new_context(viewport=VIEWPORTS[width], base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, f"dashboard-axe-{width}", judge=True)
        await page.goto("/clinic/sign-in")
        await visit.check("sign-in")
        await page.get_by_label("Email address").fill(owner)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await expect(page.locator(".error-summary")).to_be_focused()
        await visit.check("sign-in-error")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name=CLINIC_NAME)).to_be_visible()
        await visit.check("home")
        await page.goto("/clinic/staff")
        await expect(page.get_by_role("row").filter(has_text=rita)).to_be_visible()
        await visit.check("staff")
        await page.get_by_role("button", name="Send invitation").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("staff-invite-errors")
        await page.get_by_role("button", name=f"Remove {rita}").click()
        await expect(page.get_by_role("heading", name=f"Remove {rita}?")).to_be_visible()
        await visit.check("staff-remove-question")
        await page.goto("/clinic/no-such-page")  # an address with no page: a page saying so, in the shell
        await expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        await visit.check("not-yet")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_text("You have signed out.")).to_be_visible()

        await sign_in(page, receptionist)  # reception: no owner's area, and the staff page refused
        await expect(page.get_by_role("link", name="Staff", exact=True)).to_have_count(0)
        await expect(page.get_by_role("link", name="Settings", exact=True)).to_have_count(0)
        await visit.check("home-staff")
        await page.goto("/clinic/staff")
        await expect(page.get_by_role("heading", name="You cannot use this page")).to_be_visible()
        await visit.check("staff-refused")
    finally:
        await context.close()
