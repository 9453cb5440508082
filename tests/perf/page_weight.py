"""The weight of each page of the booking flow in Chromium: a customer walks from the list of clinics to the
confirmation (and a gift buyer through the voucher shop to its thank-you page), and on each page the browser's
Resource Timing entries (the document and every file it loaded) say how many bytes came over the wire.

What counts per file: its transferSize (headers and compressed body as they crossed the wire) when it came
over the network; its encodedBodySize (the compressed body) when it came from the browser's cache
(transferSize 0: an earlier page of the walk fetched it) or was revalidated (a 304: headers only). So every
page is judged as if the customer came to it first with an empty cache (e.g. by a deep link from the
clinic's own site), short only of the cached files' response headers (a few hundred bytes each). Stripe.js
and what it fetches from Stripe's domains are not ours, so they are left out (issue 14); its iframes' own
files are in their own timelines, not the page's. (Offline, with the test-card form, none of it loads.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable
from urllib.parse import urlsplit

from tests.perf.harness import assert_loopback, log

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

EXCLUDED_DOMAINS = ("stripe.com", "stripe.network", "stripecdn.com")
CONFIRMATION_TIMEOUT_MS = 30_000
# Every entry of the page: the document's navigation entry and one resource entry per file it loaded.
RESOURCE_TIMING = """() => [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
    .map(e => ({url: e.name, kind: e.entryType === "navigation" ? "document" : e.initiatorType,
                transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize}))"""


@dataclass(frozen=True)
class Loaded:
    """One file of a page, as Resource Timing saw it (bytes)."""

    url: str
    kind: str
    transfer: int
    encoded: int
    decoded: int

    @property
    def counted(self) -> int:
        return max(self.transfer, self.encoded)

    @property
    def excluded(self) -> bool:
        host = urlsplit(self.url).hostname or ""
        return any(host == domain or host.endswith("." + domain) for domain in EXCLUDED_DOMAINS)


@dataclass(frozen=True)
class PageWeight:
    name: str
    path: str
    files: tuple[Loaded, ...]

    @property
    def counted(self) -> list[Loaded]:
        return [f for f in self.files if not f.excluded]

    @property
    def bytes(self) -> int:
        return sum(f.counted for f in self.counted)

    @property
    def walked_bytes(self) -> int:
        """What this walk really transferred for the page, with the browser's cache."""
        return sum(f.transfer for f in self.counted)

    def by_kind(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for f in self.counted:
            kinds[f.kind] = kinds.get(f.kind, 0) + f.counted
        return kinds

    def as_dict(self) -> dict:
        return {
            "page": self.name,
            "path": self.path,
            "bytes": self.bytes,
            "walked_bytes": self.walked_bytes,
            "by_kind": self.by_kind(),
            "files": [vars(f) for f in self.files],
        }


Action = Callable[["Page"], Awaitable[object]]


@dataclass(frozen=True)
class Step:
    name: str
    title: str  # the page's <title> before " – <site name>": the walk is where it means to be
    go: Action


def goto(path: str) -> Action:
    return lambda page: page.goto(path, wait_until="load")


def submit(button: Callable[[Page], Locator]) -> Action:
    """Press a form's button and wait for the page it leads to (after any redirects)."""

    async def press(page: Page) -> None:
        async with page.expect_navigation(wait_until="load"):
            await button(page).click()

    return press


async def answer_no_to_every_question(page: Page) -> None:
    for group in await page.locator("fieldset").all():
        await group.get_by_label("No", exact=True).check()
    await submit(lambda p: p.get_by_role("button", name="Continue"))(page)


def give_details(email: str) -> Action:
    async def fill(page: Page) -> None:
        await page.get_by_label("Full name").fill("Bench Customer")
        await page.get_by_label("Email address").fill(email)
        await page.get_by_label("I have read the cancellation policy").check()
        await submit(lambda p: p.get_by_role("button", name="Continue to payment"))(page)

    return fill


def pay_button(page: Page) -> Locator:
    return page.get_by_role("button", name=re.compile(r"^Pay "))


async def wait_for_confirmation(page: Page) -> None:
    """The confirming page asks again by itself (a Refresh header) until the payment's event has landed."""
    await page.wait_for_url(re.compile(r"/book/confirmed$"), wait_until="load", timeout=CONFIRMATION_TIMEOUT_MS)


def booking_walk(clinic: str, clinic_name: str, treatment: str, week_path: str, email: str) -> list[Step]:
    """The pages of the flow in order, the links followed as their URLs, the forms sent by their buttons;
    the week is the one the latency figures measure, and the slot its first; the offline test card pays."""
    book = f"/c/{clinic}/book"
    return [
        Step("clinics", "Book a treatment", goto("/")),
        Step("clinic", clinic_name, goto(f"/c/{clinic}")),
        Step("treatment", "What would you like to book?", goto(book)),
        Step("therapist", "Who would you like to see?", goto(f"{book}?what=treatment:{treatment}")),
        Step("week", "Choose a time", goto(week_path)),
        Step("screening", "Before your treatment", submit(lambda p: p.locator("button.slot").first)),
        Step("details", "Your details", answer_no_to_every_question),
        Step("pay", "Pay", give_details(email)),
        Step("confirming", "Confirming your booking", submit(pay_button)),
        Step("confirmed", "Booking confirmed", wait_for_confirmation),
    ]


def choose_a_gift(buyer_email: str) -> Action:
    """The shop's form: another amount (£60) for someone, from the buyer, then on to pay."""

    async def fill(page: Page) -> None:
        await page.get_by_label("Another amount", exact=True).check()
        await page.get_by_label("Another amount, in pounds").fill("60")
        await page.get_by_label("Their name").fill("Bench Recipient")
        await page.get_by_label("Their email address").fill(f"recipient.{buyer_email}")
        await page.get_by_label("Your full name").fill("Bench Buyer")
        await page.get_by_label("Your email address").fill(buyer_email)
        await submit(lambda p: p.get_by_role("button", name="Continue to payment"))(page)

    return fill


def voucher_walk(clinic: str, buyer_email: str) -> list[Step]:
    """The voucher shop's pages in order: the shop, its pay page once the form is sent, and the thank-you page
    once the offline test card pays."""
    return [
        Step("voucher shop", "Buy a gift voucher", goto(f"/c/{clinic}/vouchers")),
        Step("voucher pay", "Pay for the gift voucher", choose_a_gift(buyer_email)),
        Step("voucher thanks", "Thank you for your gift", submit(pay_button)),
    ]


async def weigh(page: Page, step: Step) -> PageWeight:
    await step.go(page)
    title = (await page.title()).split(" – ")[0]
    if title != step.title:
        raise RuntimeError(
            f"page weight: expected the page {step.title!r} at step {step.name}, got {title!r} ({page.url})"
        )
    files = tuple(Loaded(**entry) for entry in await page.evaluate(RESOURCE_TIMING))
    return PageWeight(step.name, urlsplit(page.url).path, files)


async def walk_weights(base_url: str, steps: list[Step], label: str = "web") -> list[PageWeight]:
    """Each step's page weight, in one fresh browser context (JavaScript on, as most customers have it)."""
    from playwright.async_api import async_playwright

    from tests.support.browser import launch_chromium

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            context = await browser.new_context(base_url=assert_loopback(base_url))
            page = await context.new_page()
            weights = []
            for step in steps:
                weights.append(await weigh(page, step))
                log(f"{label}: page weight: {step.name}: {weights[-1].bytes:,} bytes")
            return weights
        finally:
            await browser.close()
