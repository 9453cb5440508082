"""Debian's Chromium driven by Playwright (HANDBOOK §3): never a browser Playwright downloads itself.

Bounded browser steps: `step("name")` wraps a part of a browser test so that any wait inside it that never
ends (a Playwright call without a timeout of its own: keyboard presses, `new_context`, `close`; or a frame,
popup or email that never comes) fails within a few seconds naming that part, instead of pytest-timeout
killing the whole test at 120 s with only the event loop's idle stack to show. `bounded_context` opens a
context whose actions and navigations give up well inside a step's bound, so the Playwright error (which
names the locator) is the one reported, prefixed with the step."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A step's bound, and an action's or navigation's inside it: both far under pytest-timeout's 120 s for the
# whole test, and far over what they take on a busy two-core machine (a few seconds at most).
STEP_SECONDS = 45.0
ACTION_MS = 20_000
# What a step that fails leaves behind to look at (git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "failed-steps"
EVIDENCE_SECONDS = 5.0


async def launch_chromium(playwright):
    """`playwright` is a started `async_playwright()`; the browser is the caller's to close."""
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.asynccontextmanager
async def step(name: str, page: Page | None = None, seconds: float = STEP_SECONDS) -> AsyncIterator[None]:
    """Run the block within `seconds`; if it hangs, times out or fails an expectation, fail naming `name`
    (with, given the `page`, the address of each of its frames and a screenshot in ARTIFACTS)."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:  # asyncio's: a wait with no bound of its own never ended
        raise AssertionError(f"step {name!r} hung: not done within {seconds:g} s{await _evidence(name, page)}") from exc
    except (PlaywrightTimeout, AssertionError) as exc:
        raise AssertionError(f"step {name!r} failed: {exc}{await _evidence(name, page)}") from exc


async def _evidence(name: str, page: Page | None) -> str:
    """Where the page was (Playwright's own record of its frames: no round trip to a renderer that may be
    stuck), and a screenshot if the browser gives one quickly."""
    if page is None:
        return ""
    frames = "; ".join(f"{frame.name or '-'} at {frame.url}" for frame in page.frames)
    shot = ARTIFACTS / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".png")
    with contextlib.suppress(Exception):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        async with asyncio.timeout(EVIDENCE_SECONDS):
            await page.screenshot(path=shot, timeout=EVIDENCE_SECONDS * 1000)
    return f"\n  frames: {frames}" + (f"\n  screenshot: {shot}" if shot.exists() else "")


@contextlib.asynccontextmanager
async def bounded_context(browser: Browser, **options) -> AsyncIterator[BrowserContext]:
    """A new context (`options` as for `browser.new_context`) whose actions and navigations give up after
    ACTION_MS, opened and closed within a step's bound each."""
    async with step("open a browser context"):
        context = await browser.new_context(**options)
    context.set_default_timeout(ACTION_MS)
    context.set_default_navigation_timeout(ACTION_MS)
    try:
        yield context
    finally:
        async with step("close the browser context"):
            await context.close()
