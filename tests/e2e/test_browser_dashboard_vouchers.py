"""The dashboard's Vouchers area in a real browser (Debian's Chromium driven by Playwright), through the gateway of
the whole stack: a gift bought on the clinic's voucher page, then expired by the payments service's own expiry
path, is found in the list, reactivated and seen in its ledger, and the month's report is read and its CSV
downloaded, with the keyboard alone; axe-core judges the list, a voucher (with its form, its error and its
reactivation) and the report at phone and desktop width: no violation of impact serious or critical, no sideways
scrolling. Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import expect

from services.payments import voucher_service
from tests.e2e.test_browser_booking import DESKTOP, PHONE, Visit
from tests.e2e.test_browser_dashboard import account, sign_in
from tests.e2e.test_browser_vouchers import buy_a_gift
from tests.support.infra import database_url, wait_for
from tests.support.keyboard import press_and_load, tab_to

pytestmark = pytest.mark.e2e
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
LONDON = ZoneInfo("Europe/London")


async def expired_gift(browser, stack, stack_db) -> tuple[str, str]:
    """A money gift bought on the clinic's voucher page (in a browser of its own), paid, then past its expiry and
    expired by the payments service's own path; its id and title (an amount of its own, to find it by)."""
    pounds = random.randint(61, 99)
    recipient = f"sam.{uuid.uuid4().hex[:8]}@example.com"
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url())
    try:
        page = await context.new_page()
        await buy_a_gift(page, Visit(page, "dashboard-vouchers-gift", judge=False), recipient, str(pounds))
    finally:
        await context.close()
    conn = await asyncpg.connect(database_url(stack_db), server_settings={"search_path": '"payments", public'})
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")  # as the pool's
    try:

        async def issued():
            return await conn.fetchval(
                "SELECT id FROM vouchers WHERE recipient_email = $1 AND status = 'active'", recipient
            )

        voucher_id = await wait_for(issued, timeout=30, what="the gift's payment to issue it")
        async with conn.transaction():
            await conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second' WHERE id = $1", voucher_id)
            await voucher_service.expire_due(conn)
        assert await conn.fetchval("SELECT status FROM vouchers WHERE id = $1", voucher_id) == "expired"
    finally:
        await conn.close()
    return str(voucher_id), f"£{pounds}.00 gift voucher"


async def test_a_voucher_reactivated_and_the_report_downloaded_with_the_keyboard_alone(browser, stack, stack_db):
    voucher_id, title = await expired_gift(browser, stack, stack_db)
    email = await account(stack_db, "staff", "Rita Patel")  # reception may do all of it
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), accept_downloads=True)
    try:
        page = await context.new_page()
        await sign_in(page, email)
        await expect(page.get_by_text("Signed in as Rita Patel")).to_be_visible()
        await tab_to(page, "Vouchers")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Vouchers", exact=True)).to_be_visible()
        await tab_to(page, "Expired")
        await press_and_load(page, "Enter")
        await tab_to(page, title)
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name=title)).to_be_visible()
        assert page.url.endswith(f"/clinic/vouchers/{voucher_id}")
        await tab_to(page, "Why are you reactivating it?")
        await page.keyboard.type("The recipient was in hospital")
        await tab_to(page, "Reactivate voucher")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text("Voucher reactivated.")).to_be_visible()
        entry = page.get_by_role("row").filter(has_text="Reactivated by the clinic")
        await expect(entry).to_contain_text("Reason: The recipient was in hospital")
        await expect(entry).to_contain_text(f"+{title.split()[0]}")

        await tab_to(page, "All vouchers")
        await press_and_load(page, "Enter")
        await tab_to(page, "Monthly sales and redemption report")
        await press_and_load(page, "Enter")
        this_month = datetime.now(LONDON)
        await expect(page.get_by_role("heading", name=f"Voucher report: {this_month:%B %Y}")).to_be_visible()
        await expect(page.get_by_role("row").filter(has_text="Money vouchers")).to_contain_text("Multi-purpose")
        await tab_to(page, "Download CSV")
        async with page.expect_download() as download_info:
            await page.keyboard.press("Enter")
        download = await download_info.value
        assert download.suggested_filename == f"vouchers-{this_month:%Y-%m}.csv"
        text = Path(await download.path()).read_text(encoding="utf-8")
        assert text.startswith("month,vat_class,kind,currency,sold_count,sold_amount")
        await tab_to(page, "Previous month")
        await press_and_load(page, "Enter")
        before = this_month.replace(day=1) - timedelta(days=1)
        await expect(page.get_by_role("heading", name=f"Voucher report: {before:%B %Y}")).to_be_visible()
        assert page.url.endswith(f"/clinic/vouchers/report?month={before:%Y-%m}")
    finally:
        await context.close()


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_the_voucher_pages_pass_axe_at_phone_and_desktop_width(browser, stack, stack_db, width):
    voucher_id, title = await expired_gift(browser, stack, stack_db)
    email = await account(stack_db)
    context = await browser.new_context(viewport=VIEWPORTS[width], base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, f"dashboard-vouchers-axe-{width}", judge=True)
        await sign_in(page, email)
        await page.get_by_role("navigation", name="Clinic workspace").get_by_role("link", name="Vouchers").click()
        await expect(page.get_by_role("link", name=title).first).to_be_visible()
        await visit.check("list")
        await page.get_by_role("link", name="Expired").click()
        await visit.check("list-expired")
        await page.goto(f"/clinic/vouchers/{voucher_id}")
        await expect(page.get_by_role("heading", name="Reactivate this voucher")).to_be_visible()
        await visit.check("voucher-expired")
        await page.get_by_role("button", name="Reactivate voucher").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await expect(page.locator(".error-summary")).to_be_focused()
        await visit.check("voucher-reason-missing")
        await page.get_by_label("Why are you reactivating it?").fill("Lost in the post")
        await page.get_by_role("button", name="Reactivate voucher").click()
        await expect(page.get_by_text("Voucher reactivated.")).to_be_visible()
        await visit.check("voucher-reactivated")
        await page.get_by_role("link", name="All vouchers").click()
        await page.get_by_role("link", name="Monthly sales and redemption report").click()
        await expect(page.get_by_role("table", name="Vouchers sold, redeemed")).to_be_visible()
        await expect(page.get_by_role("figure", name="Chart")).to_be_visible()
        await visit.check("report")
        await page.get_by_label("Show the report for a month").fill("2026-01")
        await page.get_by_role("button", name="Show report").click()
        await expect(page.get_by_role("heading", name="Voucher report: January 2026")).to_be_visible()
        await visit.check("report-january")
        await page.goto("/clinic/vouchers/report?month=July")
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("report-month-wrong")
    finally:
        await context.close()
