"""A customer pays for a phone booking from the link in their email, in a real browser (Debian's Chromium driven
by Playwright) through the gateway of the whole stack: with the keyboard alone at phone and desktop width,
axe-core judging every page (no violation of impact serious or critical, no sideways scrolling); with
JavaScript off on a phone; and a declined card, announced in the error summary. Screenshots go to
test-artifacts/ (git-ignored)."""

from __future__ import annotations

import re
import uuid

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, expect

from services.booking import api_keys
from services.booking.seed import stable_id
from tests.e2e.test_browser_booking import DESKTOP, PHONE, Visit
from tests.support.booking import ALL_CLEAR, THERAPIST, TREATMENT, BaseUrlClient, free_slots, next_weekday
from tests.support.clinic_api import bearer
from tests.support.infra import database_url
from tests.support.keyboard import press_and_load, tab_to

pytestmark = pytest.mark.e2e
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
# A day no other browser test books (the stack's database is shared by the session's tests); each test here
# takes its first free time.
DAY = next_weekday(2, weeks_ahead=5)


@pytest.fixture(scope="module")
async def api_key(stack, stack_db) -> str:
    key, prefix = api_keys.generate()
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        await conn.execute(
            "INSERT INTO booking.api_keys (id, clinic_id, prefix, key_hash, name) VALUES ($1, $2, $3, $4, 'e2e')",
            uuid.uuid4(),
            stable_id("urban-therapy"),
            prefix,
            api_keys.digest(key),
        )
    finally:
        await conn.close()
    return key


async def phone_booking(stack, api_key: str) -> str:
    """Reception books by phone, to be paid online: the path and query of the link in the customer's email."""
    async with aiohttp.ClientSession() as http:
        client = BaseUrlClient(http, stack.url())
        slot = (await free_slots(client, DAY))[0]
        body = {
            "treatment": TREATMENT,
            "therapist": THERAPIST,
            "start": slot["start"],
            "customer": {"name": "Grace Hopper", "email": f"grace.{uuid.uuid4().hex[:6]}@example.com"},
            "payment": "online",
            "screening": {"answers": ALL_CLEAR},
        }
        async with http.post(f"{stack.url()}/api/v1/clinic/bookings", json=body, headers=bearer(api_key)) as resp:
            assert resp.status == 201, await resp.text()
            link = (await resp.json())["payment"]["pay_url"]
    return link[link.index("/manage/") :]


async def keyboard_pays(page: Page, visit: Visit, link: str) -> None:
    await page.goto(link)
    await expect(
        page.get_by_role("heading", name=re.compile(r"^Pay £65\.00 by .*\(UK time, (GMT|BST)\)$"))
    ).to_be_visible()
    await visit.check("manage-to-pay")
    await tab_to(page, "Pay £65.00")
    await press_and_load(page, "Enter")
    await expect(page.get_by_role("heading", name="Pay for your booking")).to_be_visible()
    await expect(page.get_by_text("Test mode.")).to_be_visible()
    assert "token" not in page.url
    await visit.check("pay")
    await tab_to(page, "Pay £65.00")  # the test Visa card is chosen already
    await press_and_load(page, "Enter")
    # The confirming page asks again by itself (a Refresh header, no script) until the payment event lands.
    await expect(page.get_by_text("your booking is confirmed")).to_be_visible(timeout=20_000)
    assert page.url.endswith("/confirmed")
    await visit.check("confirmed")
    await expect(page.get_by_role("button", name=re.compile(r"^Pay £"))).to_have_count(0)
    await expect(page.get_by_role("button", name="Cancel this booking")).to_be_visible()


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_paying_from_the_emails_link_with_the_keyboard_alone_every_page_passing_axe(
    browser, stack, api_key, width
):
    link = await phone_booking(stack, api_key)
    context = await browser.new_context(viewport=VIEWPORTS[width], base_url=stack.url())
    try:
        page = await context.new_page()
        await keyboard_pays(page, Visit(page, f"manage-pay-{width}", judge=True), link)
    finally:
        await context.close()


async def test_paying_with_javascript_off_on_a_phone(browser, stack, api_key):
    link = await phone_booking(stack, api_key)
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, "manage-pay-no-js-phone", judge=False)
        await page.goto(link)
        await visit.check("manage-to-pay")
        await page.get_by_role("button", name="Pay £65.00").click()
        await visit.check("pay")
        await page.get_by_role("button", name="Pay £65.00").click()
        await expect(page.get_by_text("your booking is confirmed")).to_be_visible(timeout=20_000)
        await visit.check("confirmed")
    finally:
        await context.close()


async def test_a_declined_card_is_announced_in_the_error_summary(browser, stack, api_key):
    link = await phone_booking(stack, api_key)
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, "manage-pay-declined-desktop", judge=True)
        await page.goto(link)
        await page.get_by_role("button", name="Pay £65.00").click()
        await page.get_by_label("A card that is declined").check()
        await page.get_by_role("button", name="Pay £65.00").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await expect(page.locator(".error-summary")).to_be_focused()
        assert await page.title() == "Error: Pay for your booking – Clinic bookings"
        await visit.check("declined")
        await page.get_by_role("link", name=re.compile("Your card was declined")).click()
        assert page.url.endswith("#card")
        await page.goto(link)
        await expect(page.get_by_role("button", name="Pay £65.00")).to_be_visible()  # still to be paid
    finally:
        await context.close()
