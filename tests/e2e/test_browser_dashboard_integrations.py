"""The owner's Integrations and Settings pages in a real browser (Debian's Chromium driven by Playwright), through the
gateway of the whole stack (its Celery worker delivers the webhooks): with the keyboard alone, the owner adds a
webhook endpoint for a local receiver, sends a test event, sees a real booking's delivery in the log, replays it and
sees the second attempt with the same webhook-id; with JavaScript off on a phone, an API key is made and revoked;
and axe-core judges every page of the two areas (and their error and question pages) at phone and desktop width: no
violation of impact serious or critical, no sideways scrolling. Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import re
import uuid

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, expect
from standardwebhooks.webhooks import Webhook

from tests.e2e.test_browser_booking import DESKTOP, PHONE, Visit
from tests.e2e.test_browser_dashboard import account, sign_in
from tests.support.booking import BaseUrlClient, next_weekday
from tests.support.infra import database_url, wait_for
from tests.support.keyboard import focused_name, press_and_load, tab_to
from tests.support.payments import book_and_pay_by_card
from tests.support.receiver import receiver  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
# Deliveries wait for the stack's Celery worker (and a real booking for its payment's webhook).
DELIVERY_SECONDS = 30


async def stop_sending_to(stack_db: str, url: str) -> None:
    """The stack's database is the whole session's: no later test's booking goes to this test's receiver."""
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        await conn.execute("UPDATE notifications.webhook_endpoints SET status = 'disabled' WHERE url = $1", url)
    finally:
        await conn.close()


async def tab_to_words(page: Page, name: str, presses: int = 150) -> None:
    """tab_to, for a control whose name has visually hidden words (innerText puts them on a line of their own)."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if " ".join((await focused_name(page)).split()).startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def secret_shown(page: Page) -> str:
    await expect(page.get_by_text("This is the only time it is shown.")).to_be_visible()
    return (await page.locator("#secret").inner_text()).strip()


async def test_the_owner_adds_an_endpoint_tests_it_and_replays_a_real_booking_s_delivery_with_the_keyboard(
    browser, stack, stack_db, receiver
):
    email = await account(stack_db)
    url = receiver.url + f"?for={uuid.uuid4().hex[:8]}"  # this test's own endpoint (the database is shared)
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, "integrations-keyboard", judge=False)
        await sign_in(page, email)
        await expect(page.get_by_role("heading", name="Urban Therapy Clinic, London")).to_be_visible()
        await tab_to(page, "Integrations")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Integrations", exact=True)).to_be_visible()
        await tab_to(page, "Endpoint URL")
        await page.keyboard.type(url)
        await tab_to(page, "Booking created")
        await page.keyboard.press("Space")
        await tab_to(page, "Description (optional)")
        await page.keyboard.type("Reception's screen")
        await tab_to(page, "Add endpoint")
        await press_and_load(page, "Enter")
        secret = await secret_shown(page)
        assert secret.startswith("whsec_")
        await visit.check("secret")
        await tab_to(page, "I have copied it")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Webhook endpoint")).to_be_visible()
        await expect(page.get_by_text(secret)).to_have_count(0)

        await tab_to(page, "Send test event")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text("Test event sent.")).to_be_visible()
        [test_event] = await wait_for(
            lambda: _received(receiver), timeout=DELIVERY_SECONDS, what="the test event at the receiver"
        )
        assert Webhook(secret).verify(test_event.body, test_event.headers)["type"] == "webhook.test"

        async with aiohttp.ClientSession() as http:  # a customer books and pays, meanwhile
            stripe_url = f"http://127.0.0.1:{stack.env['FAKE_STRIPE_PORT']}"
            booking = await book_and_pay_by_card(
                BaseUrlClient(http, stack.url()), stripe_url, email="kay@example.com", day=next_weekday(3)
            )

        async def booking_delivered():
            return [r for r in receiver.received if booking["id"].encode() in r.body]

        [delivered] = await wait_for(booking_delivered, timeout=DELIVERY_SECONDS, what="the booking's webhook")
        body = Webhook(secret).verify(delivered.body, delivered.headers)
        assert body["type"] == "booking.created" and body["data"]["booking_id"] == booking["id"]
        webhook_id = delivered.headers["webhook-id"]

        await page.reload()
        row = page.get_by_role("row").filter(has_text=webhook_id)
        await expect(row).to_contain_text("Booking created")
        await expect(row).to_contain_text("Succeeded")
        await visit.check("log")
        await tab_to_words(page, f"Replay delivery {webhook_id}")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text("Delivery queued to be sent again, with the same webhook-id.")).to_be_visible()

        async def second_attempt():
            same = [r for r in receiver.received if r.headers["webhook-id"] == webhook_id]
            return same if len(same) == 2 else None

        await wait_for(second_attempt, timeout=DELIVERY_SECONDS, what="the replay at the receiver")

        async def two_tries_shown():
            await page.reload()
            return "2" == (await row.locator('[data-label="Tries"]').inner_text()).strip()

        await wait_for(two_tries_shown, timeout=DELIVERY_SECONDS, interval=0.5, what="the second try in the log")
        await tab_to_words(page, f"Every try of delivery {webhook_id}")
        await page.keyboard.press("Enter")
        await expect(row.locator("details.attempts li")).to_have_count(2)
        await visit.check("replayed")
    finally:
        await context.close()
        await stop_sending_to(stack_db, url)


async def _received(receiver):
    return [r for r in receiver.received if b'"webhook.test"' in r.body]


async def test_an_api_key_is_made_and_revoked_with_javascript_off_on_a_phone(browser, stack, stack_db):
    email = await account(stack_db)
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, "integrations-no-js-phone", judge=False)
        await sign_in(page, email)
        await page.get_by_role("navigation", name="Clinic workspace").get_by_role("link", name="Integrations").click()
        name = f"Till {uuid.uuid4().hex[:6]}"
        await page.get_by_label("Name (optional)").fill(name)
        await page.get_by_role("button", name="Create API key").click()
        key = await secret_shown(page)
        await visit.check("key")
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{stack.url()}/api/v1/clinic/api-keys", headers={"Authorization": f"Bearer {key}"}
            ) as resp:
                assert resp.status == 200
        await page.get_by_role("link", name="I have copied it").click()
        prefix = key.split("_")[1]
        await page.get_by_role("button", name=f"Revoke {name} ({prefix})").click()
        await expect(page.get_by_role("heading", name=f"Revoke the key {name}?")).to_be_visible()
        await page.get_by_role("button", name="Yes, revoke the key").click()
        await expect(page.get_by_text("API key revoked.")).to_be_visible()
        await visit.check("revoked")
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{stack.url()}/api/v1/clinic/api-keys", headers={"Authorization": f"Bearer {key}"}
            ) as resp:
                assert resp.status == 401
    finally:
        await context.close()


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_the_integrations_and_settings_pages_pass_axe_at_phone_and_desktop_width(
    browser, stack, stack_db, receiver, width
):
    email = await account(stack_db)
    url = receiver.url + f"?axe={width}-{uuid.uuid4().hex[:6]}"
    context = await browser.new_context(viewport=VIEWPORTS[width], base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, f"integrations-axe-{width}", judge=True)
        await sign_in(page, email)
        await page.goto("/clinic/integrations")
        await visit.check("integrations")
        await page.get_by_role("button", name="Add endpoint").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("add-endpoint-errors")
        await page.get_by_label("Endpoint URL").fill(url)
        await page.get_by_label("Booking cancelled").check()
        await page.get_by_role("button", name="Add endpoint").click()
        await secret_shown(page)
        await visit.check("endpoint-secret")
        await page.get_by_role("link", name="I have copied it").click()
        await expect(page.get_by_text("No deliveries yet.")).to_be_visible()
        await visit.check("endpoint")
        await page.get_by_role("button", name="Send test event").click()
        await expect(page.get_by_text("Test event sent.")).to_be_visible()
        await wait_for(lambda: _received(receiver), timeout=DELIVERY_SECONDS, what="the test event")

        async def logged():
            await page.reload()
            return "Succeeded" in await page.locator("tbody").inner_text()

        await wait_for(logged, timeout=DELIVERY_SECONDS, interval=0.5, what="the delivery in the log")
        await page.locator("details.attempts summary").first.click()
        await visit.check("endpoint-log")
        await page.get_by_role("link", name="Failed", exact=True).click()
        await expect(page.get_by_text("No deliveries with the status “Failed”.")).to_be_visible()
        await visit.check("endpoint-log-failed")
        await page.get_by_label("Day", exact=True).fill("")
        await page.get_by_role("button", name="Replay failed deliveries").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("endpoint-replay-errors")
        await page.get_by_label("Endpoint URL").fill("")
        await page.get_by_role("button", name="Save changes").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("endpoint-edit-errors")
        await page.get_by_role("button", name="Rotate signing secret").click()
        await secret_shown(page)
        await visit.check("endpoint-rotated")

        await page.goto("/clinic/integrations")
        await page.get_by_label("Name (optional)").fill(f"axe {width}")
        await page.get_by_role("button", name="Create API key").click()
        key = await secret_shown(page)
        await visit.check("key-secret")
        await page.get_by_role("link", name="I have copied it").click()
        await visit.check("integrations-listed")
        prefix = key.split("_")[1]
        await page.get_by_role("button", name=f"Rotate axe {width} ({prefix})").click()
        await visit.check("key-rotate-question")
        await page.get_by_label("How many hours should the old key keep working?").fill("a week")
        await page.get_by_role("button", name="Rotate the key").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("key-rotate-errors")
        await page.get_by_label("How many hours should the old key keep working?").fill("0")
        await page.get_by_role("button", name="Rotate the key").click()
        new_key = await secret_shown(page)
        await visit.check("key-rotated")
        await page.get_by_role("link", name="I have copied it").click()
        new_prefix = new_key.split("_")[1]
        await page.get_by_role("button", name=f"Revoke axe {width} ({new_prefix})").click()
        await visit.check("key-revoke-question")
        await page.get_by_role("button", name="Yes, revoke the key").click()
        await expect(page.get_by_text("API key revoked.")).to_be_visible()
        await visit.check("key-revoked")

        # Settings: shown, refused (nothing changes), sent unchanged. The stack's clinic is the whole session's, so
        # this test changes none of its settings.
        await page.get_by_role("navigation", name="Clinic workspace").get_by_role("link", name="Settings").click()
        await expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
        await visit.check("settings")
        await page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
        await page.get_by_label("Booking horizon, in days").fill("soon")
        await page.get_by_role("button", name="Save settings").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await expect(page.locator(".error-summary")).to_be_focused()
        await visit.check("settings-errors")
        await page.goto("/clinic/settings")
        await page.get_by_role("button", name="Save settings").click()
        await expect(page.get_by_text("Nothing was changed.")).to_be_visible()
        await visit.check("settings-unchanged")
        assert re.search(r"/clinic/settings\?done=unchanged$", page.url)
    finally:
        await context.close()
        await stop_sending_to(stack_db, url)
