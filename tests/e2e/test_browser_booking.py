"""A customer books in a real browser (Debian's Chromium driven by Playwright), through the gateway of the
whole stack: with JavaScript off at a phone's width, and with the keyboard alone at a desktop's. axe-core
judges every page on the way (no violation of impact serious or critical); screenshots of each page go to
test-artifacts/ (git-ignored)."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest
import stripe
from axe_playwright_python.async_playwright import Axe
from icalendar import Calendar
from playwright.async_api import Page, expect

from tests.support.infra import database_url, wait_for
from tests.support.keyboard import choose_with_arrows, press_and_load, tab_to

pytestmark = pytest.mark.e2e
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Where axe-core judges every page: the narrowest phones in use (360 px: no sideways scrolling there
# either), a common phone, and a desktop.
VIEWPORTS = {"narrow": {"width": 360, "height": 740}, "phone": PHONE, "desktop": DESKTOP}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
BLOCKING = {"serious", "critical"}


class Visit:
    """The pages one customer saw, each photographed; with JavaScript on, each judged by axe-core too
    (it runs in the page) and checked for sideways scrolling."""

    def __init__(self, page: Page, name: str, *, judge: bool):
        self.page, self.name, self.judge, self.seen = page, name, judge, 0
        self.axe = Axe()

    async def check(self, what: str) -> None:
        self.seen += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{self.seen:02d}-{what}.png"), full_page=True)
        if not self.judge:
            return
        results = await self.axe.run(self.page)
        serious = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
        assert not serious, (what, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in serious])
        assert await self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), what


async def book_and_pay(page: Page, visit: Visit, email: str) -> None:
    """From the list of clinics to the confirmation, as a customer clicks through."""
    await page.goto("/")
    await visit.check("clinics")
    await page.get_by_role("link", name="Urban Therapy Clinic, London").click()
    await visit.check("clinic")
    await page.get_by_role("link", name="Book now").first.click()
    await visit.check("what")
    await page.get_by_label("Deep tissue massage (60 min)").check()
    await page.get_by_role("button", name="Continue").click()
    await visit.check("who")
    await page.get_by_label("Amara Okafor").check()
    await page.get_by_role("button", name="Continue").click()
    await visit.check("when")
    await expect(page.get_by_text("Times are UK time")).to_be_visible()
    # A week ahead: past the clinic's change window, so that the booking can be cancelled online after.
    await page.get_by_role("link", name="Next week").first.click()
    # A time says its clock; a screen reader adds its day's heading, which names the zone, as its description.
    first_time = page.locator("button.slot").first
    await expect(first_time).to_have_accessible_name(re.compile(r"^\d\d:\d\d$"))
    await expect(first_time).to_have_accessible_description(
        re.compile(r"^\w+day \d+ \w+ \d{4} \(UK time, (GMT|BST)\)$")
    )
    await first_time.click()
    await expect(page.get_by_role("heading", name="Before your treatment")).to_be_visible()
    await visit.check("screening")
    for group in await page.locator("fieldset").all():
        await group.get_by_label("No", exact=True).check()
    await page.get_by_role("button", name="Continue").click()
    await visit.check("details")
    await page.get_by_label("Full name").fill("Grace Hopper")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("I have read the cancellation policy").check()
    await page.get_by_role("button", name="Continue to payment").click()
    await expect(page.get_by_text("Test mode.")).to_be_visible()
    await visit.check("pay")
    await page.get_by_role("button", name=re.compile(r"^Pay £")).click()
    # The confirming page asks again by itself (a Refresh header, no script) until the payment event lands.
    await expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=20_000)
    await visit.check("confirmed")
    await expect(page.get_by_text(email)).to_be_visible()
    await expect(page.get_by_role("link", name="Cancel or move this booking")).to_have_attribute(
        "href", re.compile(r"/manage/[0-9a-f-]+\?token=")
    )


async def cancel_from_the_manage_link(page: Page, visit: Visit) -> None:
    """The link the confirmation (and its email) carries: the booking, then cancelled, the refund shown first."""
    await page.get_by_role("link", name="Cancel or move this booking").click()
    await expect(page.get_by_role("heading", name="Your booking")).to_be_visible()
    await visit.check("manage")
    await page.get_by_role("button", name="Cancel this booking").click()
    await expect(page.get_by_text(re.compile(r"We will refund £\d+\.\d\d"))).to_be_visible()
    await visit.check("cancel-question")
    await page.get_by_role("button", name="Yes, cancel it").click()
    await expect(page.get_by_role("heading", name="Booking cancelled")).to_be_visible()
    await visit.check("cancelled")


async def test_a_customer_books_and_pays_with_javascript_off_on_a_phone(browser, stack):
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, "no-js-phone", judge=False)
        await book_and_pay(page, visit, "grace.nojs@example.com")
        await cancel_from_the_manage_link(page, visit)
    finally:
        await context.close()


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_every_page_of_the_flow_passes_axe_at_phone_and_desktop_width(browser, stack, width):
    context = await browser.new_context(viewport=VIEWPORTS[width], base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, f"axe-{width}", judge=True)
        await book_and_pay(page, visit, f"grace.{width}@example.com")
        await cancel_from_the_manage_link(page, visit)
    finally:
        await context.close()


async def test_an_error_summary_links_to_the_fields_and_keeps_what_was_typed(browser, stack):
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url())
    page = await context.new_page()
    visit = Visit(page, "errors-desktop", judge=True)
    try:
        await page.goto("/c/urban-therapy/book")
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
        await visit.check("what-error")
        assert await page.title() == "Error: What would you like to book? – Clinic bookings"
        # The summary has the focus (our script moves it there) and links to the field.
        await expect(page.locator(".error-summary")).to_be_focused()
        await page.get_by_role("link", name="Choose a treatment or a course").click()
        assert page.url.endswith("#what")
    finally:
        await context.close()


async def to_the_week(page: Page) -> None:
    await page.goto("/c/urban-therapy/book")
    await page.get_by_label("Deep tissue massage (60 min)").check()
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label("Amara Okafor").check()
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_role("link", name="Next week").first.click()


async def test_two_customers_choose_the_same_time_one_gets_it_the_other_is_told(browser, stack):
    first = await browser.new_context(viewport=PHONE, base_url=stack.url())
    second = await browser.new_context(viewport=PHONE, base_url=stack.url())
    try:
        pages = [await first.new_page(), await second.new_page()]
        for page in pages:
            await to_the_week(page)
        # Both see the same free time; the first to press it holds it.
        slot = pages[0].locator("button.slot").first
        label = await slot.inner_text()
        await slot.click()
        await expect(pages[0].get_by_role("heading", name="Before your treatment")).to_be_visible()
        await pages[1].locator("button.slot").first.click()
        await expect(
            pages[1].get_by_text("Sorry, that time has just been taken. Please choose another.")
        ).to_be_visible()
        await expect(pages[1].get_by_role("heading", name="Choose a time")).to_be_visible()
        assert await pages[1].locator("button.slot").first.inner_text() != label  # other times are offered
        await Visit(pages[1], "taken-phone", judge=True).check("taken")
    finally:
        await first.close()
        await second.close()


async def test_the_whole_flow_with_the_keyboard_alone_on_a_phone(browser, stack):
    context = await browser.new_context(viewport=PHONE, base_url=stack.url())
    try:
        page = await context.new_page()
        keyboard = page.keyboard
        await page.goto("/c/urban-therapy")
        await tab_to(page, "Book now")
        await press_and_load(page, "Enter")
        await tab_to(page, "Deep tissue massage (60 min)")
        await keyboard.press("Space")
        await tab_to(page, "Continue")
        await press_and_load(page, "Enter")
        await tab_to(page, "No preference")  # a radio group takes one Tab; its arrows choose within it
        await choose_with_arrows(page, "Amara Okafor")
        await expect(page.get_by_label("Amara Okafor")).to_be_checked()
        await tab_to(page, "Continue")
        await press_and_load(page, "Enter")
        await tab_to(page, "Next week")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Choose a time")).to_be_visible()
        first_time = (await page.locator("button.slot").first.inner_text()).strip()
        await tab_to(page, first_time)
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Before your treatment")).to_be_visible()
        for _ in range(await page.locator("fieldset").count()):
            await tab_to(page, "Yes")  # each question's group, then the arrow to its "No"
            await choose_with_arrows(page, "No")
        assert (
            await page.locator("input[type=radio][value=no]:checked").count() == await page.locator("fieldset").count()
        )
        await tab_to(page, "Continue")
        await press_and_load(page, "Enter")
        await tab_to(page, "Full name")
        await keyboard.type("Grace Hopper")
        await tab_to(page, "Email address")
        await keyboard.type("grace.keyboard@example.com")
        await tab_to(page, "I have read the cancellation policy")
        await keyboard.press("Space")
        await tab_to(page, "Continue to payment")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text("Test mode.")).to_be_visible()
        await tab_to(page, "Pay £")  # the test Visa card is chosen already
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=20_000)
        await expect(page.get_by_text("grace.keyboard@example.com")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        await context.close()


async def emails_to(page: Page, address: str, kind: str) -> list[dict]:
    """What the dev mailbox holds for `address` of this kind (its JSON, as the mailbox page shows it)."""
    resp = await page.request.get("/dev/mailbox/messages")
    assert resp.ok
    return [m for m in (await resp.json())["messages"] if m["to"] == address and m["kind"] == kind]


def invite_of(message: dict):
    """The calendar entry of an email's .ics invite."""
    [invite] = [a for a in message["attachments"] if a["filename"].endswith(".ics")]
    [event] = Calendar.from_ical(invite["text"]).walk("VEVENT")
    return event


async def refunds_at_fake_stripe(stack, stack_db, booking_id: str) -> list:
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        intent = await conn.fetchval(
            "SELECT stripe_payment_intent FROM payments.payments WHERE reference_id = $1", booking_id
        )
    finally:
        await conn.close()
    http = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        "sk_test_offline", http_client=http, base_addresses={"api": f"http://127.0.0.1:{stack.env['FAKE_STRIPE_PORT']}"}
    )
    try:
        return (await client.v1.refunds.list_async(params={"payment_intent": intent})).data
    finally:
        await http.close_async()


async def test_a_customer_pays_by_card_then_moves_and_cancels_from_the_emails_link(browser, stack, stack_db):
    """The whole life of a booking as its customer sees it: paid in the browser, the calendar file from the
    confirmation page, the email's manage link opened, moved (a second invite for the same calendar entry),
    then cancelled with the refund shown first and then made at (fake) Stripe."""
    address = "grace.lifecycle@example.com"
    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), accept_downloads=True)
    try:
        page = await context.new_page()
        visit = Visit(page, "lifecycle-desktop", judge=True)
        await book_and_pay(page, visit, address)
        async with page.expect_download() as download:
            await page.get_by_role("link", name="Download the calendar file (.ics)").click()
        [downloaded] = Calendar.from_ical(Path(await (await download.value).path()).read_text()).walk("VEVENT")

        [confirmation] = await wait_for(
            lambda: emails_to(page, address, "booking_confirmed"),
            timeout=20,
            what="the confirmation email in the dev mailbox",
        )
        first = invite_of(confirmation)
        assert first["UID"] == downloaded["UID"] and first.decoded("DTSTART") == downloaded.decoded("DTSTART")
        manage_url = re.search(r"https?://\S+/manage/[0-9a-f-]+\?token=[\w.-]+", confirmation["text"]).group(0)
        booking_id = re.search(r"/manage/([0-9a-f-]+)", manage_url).group(1)

        await page.goto(manage_url)
        await expect(page.get_by_role("heading", name="Your booking")).to_be_visible()
        await page.get_by_role("button", name="Move this booking").click()
        await expect(page.get_by_role("heading", name="Choose a new time")).to_be_visible()
        await visit.check("move")
        await page.get_by_role("button", name="Next week").click()  # beyond the change window, as booked
        await page.locator("button.slot").first.click()
        await expect(page.get_by_role("heading", name="Booking moved")).to_be_visible()
        await visit.check("moved")
        [moved] = await wait_for(
            lambda: emails_to(page, address, "booking_rescheduled"),
            timeout=20,
            what="the email saying the booking moved",
        )
        second = invite_of(moved)
        assert second["UID"] == first["UID"] and second["SEQUENCE"] > first["SEQUENCE"]
        assert second.decoded("DTSTART") != first.decoded("DTSTART")

        await page.goto(manage_url)
        await page.get_by_role("button", name="Cancel this booking").click()
        shown = await page.get_by_text(re.compile(r"We will refund £\d+\.\d\d")).inner_text()
        await page.get_by_role("button", name="Yes, cancel it").click()
        await expect(page.get_by_role("heading", name="Booking cancelled")).to_be_visible()
        [refund] = await wait_for(
            lambda: refunds_at_fake_stripe(stack, stack_db, booking_id),
            timeout=20,
            what="the refund at the fake Stripe",
        )
        assert refund.status == "succeeded" and f"£{refund.amount / 100:.2f}" in shown
    finally:
        await context.close()
