"""Gift vouchers in a real browser through the whole stack: bought, delivered by email with the code and the
printable voucher's link, redeemed in the booking flow (all, then part with the card paying the rest), the
balance checked in between. With JavaScript off at a phone's width, with the keyboard alone, and judged by
axe-core on every voucher page at phone and desktop width."""

from __future__ import annotations

import re

import asyncpg
import pytest
from playwright.async_api import Page, expect

from tests.e2e.test_browser_booking import PHONE, VIEWPORTS, Visit, emails_to
from tests.support.infra import database_url, wait_for
from tests.support.keyboard import choose_with_arrows, press_and_load, tab_to

pytestmark = pytest.mark.e2e


async def buy_a_gift(page: Page, visit: Visit, recipient: str, amount: str = "60", course: str | None = None) -> None:
    """From the clinic's page to the thank-you page, as a gift buyer clicks through: money, or a course."""
    await page.goto("/c/urban-therapy")
    await page.get_by_role("link", name="Buy vouchers").first.click()
    await expect(page.get_by_role("heading", name="Buy a gift voucher")).to_be_visible()
    await visit.check("shop")
    if course:
        await page.get_by_label(course).check()
    else:
        await page.get_by_label("Another amount", exact=True).check()
        await page.get_by_label("Another amount, in pounds").fill(amount)
    await page.get_by_label("Their name").fill("Sam Carter")
    await page.get_by_label("Their email address").fill(recipient)
    await page.get_by_label("Your message (optional)").fill("Happy birthday, Sam!")
    await page.get_by_label("Your full name").fill("Ada Lovelace")
    await page.get_by_label("Your email address").fill("ada.buyer@example.com")
    await page.get_by_role("button", name="Continue to payment").click()
    await expect(page.get_by_role("heading", name="Pay for the gift voucher")).to_be_visible()
    await visit.check("gift-pay")
    await page.get_by_role("button", name=re.compile(r"^Pay £")).click()
    await expect(page.get_by_role("heading", name="Thank you for your gift")).to_be_visible()
    await expect(
        page.get_by_text(re.compile(r"will be emailed to Sam Carter (straight away|at 08:00 on)"))
    ).to_be_visible()
    await visit.check("gift-thanks")


async def gift_email(page: Page, stack_db: str, recipient: str) -> dict:
    """The recipient's gift email from the dev mailbox. A gift for today bought before 08:00 would wait for
    that hour: the test moves its delivery to now, as the notifications tests move the clock."""
    conn = await asyncpg.connect(database_url(stack_db))
    try:

        async def planned():
            return await conn.fetchval(
                "UPDATE notifications.voucher_deliveries d SET due_at = least(due_at, now()) FROM payments.vouchers v "
                "WHERE v.id = d.voucher_id AND v.recipient_email = $1 RETURNING d.id",
                recipient,
            )

        await wait_for(planned, timeout=20, what="the gift's delivery to be planned")
    finally:
        await conn.close()

    [message] = await wait_for(
        lambda: emails_to(page, recipient, "voucher_gift"), timeout=30, what="the gift email in the dev mailbox"
    )
    return message


async def to_the_details(page: Page, treatment: str, weeks_ahead: int = 1) -> None:
    """The booking flow from its first question to the details, any therapist, the first time `weeks_ahead` weeks on
    that can be held (for a course: whose sessions can all be planned; the session's other tests book next week)."""
    await page.get_by_label(treatment, exact=True).check()
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label("No preference").check()
    await page.get_by_role("button", name="Continue").click()
    for _ in range(weeks_ahead):
        before = page.url
        await page.get_by_role("link", name="Next week").first.click()
        await page.wait_for_url(lambda url, before=before: url != before)
    week = page.url
    for tried in range(10):
        await page.locator("button.slot").nth(tried).click()
        await page.wait_for_load_state()
        if await page.get_by_text("We are holding").count():  # the screening page: the time is held
            break
        await page.goto(week)  # told it cannot be held: another time, as a customer would
    else:
        raise AssertionError("no time next week could be held")
    for group in await page.locator("fieldset").all():
        await group.get_by_label("No", exact=True).check()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Your details")).to_be_visible()
    await page.get_by_label("Full name").fill("Sam Carter")
    await page.get_by_label("Email address").fill("sam.customer@example.com")
    await page.get_by_label("I have read the cancellation policy").check()


async def check_balance(page: Page, visit: Visit, code: str, what: str) -> None:
    await page.goto("/vouchers/balance")
    await visit.check("balance-form")
    await page.get_by_label("Voucher code").fill(code)
    await page.get_by_role("button", name="Check the voucher").click()
    await expect(page.get_by_text(what)).to_be_visible()
    await visit.check("balance")


async def a_gift_from_purchase_to_two_bookings(page: Page, visit: Visit, stack_db: str, recipient: str) -> None:
    await buy_a_gift(page, visit, recipient)
    message = await gift_email(page, stack_db, recipient)
    code = re.search(r"Your voucher code:\s+(\S+)", message["text"]).group(1)
    printable = re.search(r"https?://\S+/vouchers/[0-9a-f-]+\?token=\S+", message["text"]).group(0)
    assert code not in printable

    # The buyer's receipt links to a page that may still change where and when the gift goes.
    [receipt] = [m for m in await emails_to(page, "ada.buyer@example.com", "voucher_receipt") if recipient in m["text"]]
    await page.goto(re.search(r"https?://\S+/vouchers/[0-9a-f-]+/change\?token=\S+", receipt["text"]).group(0))
    # (Bought after 08:00 it went at once and can no longer change; before, it still could.)
    await expect(
        page.get_by_role("heading", name=re.compile("The gift has been sent|Change where or when"))
    ).to_be_visible()
    await visit.check("gift-change")

    await page.goto(printable)
    await expect(page.get_by_text(code)).to_be_visible()
    await expect(page.get_by_text("Happy birthday, Sam!")).to_be_visible()
    await visit.check("printable")
    # Printed (the print stylesheet's A5 page): the voucher alone, on one page.
    printed = await page.pdf(prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page\b", printed)) == 1, "one printed page"
    await page.get_by_role("button", name="Book with this voucher").click()
    await expect(page.get_by_text("Your gift voucher is ready")).to_be_visible()
    # The £60 voucher pays the whole of a £40 treatment: no card asked.
    await to_the_details(page, "Trigger point therapy (30 min)")
    await expect(page.get_by_label("Gift voucher code (optional)")).to_have_value(code)
    await page.get_by_role("button", name="Continue to payment").click()
    await expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=20_000)
    await expect(
        page.get_by_text(re.compile(r"Your gift voucher …\w{4} paid £40\.00; £20\.00 is left on it\."))
    ).to_be_visible()
    await check_balance(page, visit, code, "£20.00 towards any treatment at Urban Therapy Clinic, London.")

    # A £55 treatment: the £20 left, and the card the other £35.
    await page.goto("/c/urban-therapy/book")
    await to_the_details(page, "Myofascial release (45 min)")
    await page.get_by_label("Gift voucher code (optional)").fill(code)
    await page.get_by_role("button", name="Continue to payment").click()
    await expect(page.get_by_text("− £20.00")).to_be_visible()
    await page.get_by_role("button", name="Pay £35.00").click()
    await expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=20_000)
    await expect(page.get_by_text("nothing is left on it")).to_be_visible()
    await check_balance(page, visit, code, "Nothing is left on this voucher: it has all been spent.")


async def test_a_gift_bought_delivered_and_spent_over_two_bookings_with_javascript_off_on_a_phone(
    browser, stack, stack_db
):
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, base_url=stack.url())
    try:
        page = await context.new_page()
        await a_gift_from_purchase_to_two_bookings(
            page, Visit(page, "gift-no-js-phone", judge=False), stack_db, "sam.nojs@example.com"
        )
    finally:
        await context.close()


@pytest.mark.parametrize("width", VIEWPORTS)
async def test_every_voucher_page_passes_axe_at_phone_and_desktop_width(browser, stack, stack_db, width):
    context = await browser.new_context(viewport=VIEWPORTS[width], base_url=stack.url())
    try:
        page = await context.new_page()
        await a_gift_from_purchase_to_two_bookings(
            page, Visit(page, f"gift-axe-{width}", judge=True), stack_db, f"sam.{width}@example.com"
        )
    finally:
        await context.close()


async def test_a_gift_bought_with_the_keyboard_alone_on_a_phone(browser, stack):
    context = await browser.new_context(viewport=PHONE, base_url=stack.url())
    try:
        page = await context.new_page()
        keyboard = page.keyboard
        await page.goto("/c/urban-therapy/vouchers")
        await tab_to(page, "£25.00")  # the group's first option; the arrows choose within it
        await choose_with_arrows(page, "Another amount")
        await expect(page.get_by_label("Another amount", exact=True)).to_be_checked()
        for label, text in (
            ("Another amount, in pounds", "45"),
            ("Their name", "Sam Carter"),
            ("Their email address", "sam.keyboard@example.com"),
            ("Your message (optional)", "Enjoy!"),
            ("Your full name", "Ada Lovelace"),
            ("Your email address", "ada.keyboard@example.com"),
        ):
            await tab_to(page, label)
            await keyboard.type(text)
        await expect(page.get_by_text("You have 994 characters remaining")).to_be_visible()
        await tab_to(page, "Continue to payment")
        await press_and_load(page, "Enter")
        await tab_to(page, "Pay £45.00")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Thank you for your gift")).to_be_visible()
    finally:
        await context.close()


async def test_a_course_voucher_bought_in_the_browser_pays_for_a_whole_course_booked_there(browser, stack, stack_db):
    context = await browser.new_context(viewport=PHONE, base_url=stack.url())
    try:
        page = await context.new_page()
        visit = Visit(page, "gift-course-phone", judge=False)
        recipient = "sam.course@example.com"
        await buy_a_gift(page, visit, recipient, course="Sciatica course: 6 sessions")
        code = re.search(r"Your voucher code:\s+(\S+)", (await gift_email(page, stack_db, recipient))["text"]).group(1)
        await page.goto("/c/urban-therapy/book")
        await to_the_details(page, "Sciatica course: 6 sessions", weeks_ahead=3)
        await page.get_by_label("Gift voucher code (optional)").fill(code)
        await page.get_by_role("button", name="Continue to payment").click()
        await expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=20_000)
        await expect(page.locator(".summary li")).to_have_count(6)  # the six sessions, with their dates
        await expect(page.get_by_text("paid £345.00; nothing is left on it.")).to_be_visible()
    finally:
        await context.close()
