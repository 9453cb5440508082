"""Debian's Chromium driven by Playwright (HANDBOOK §3): never a browser Playwright downloads itself."""

from __future__ import annotations

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


async def launch_chromium(playwright):
    """`playwright` is a started `async_playwright()`; the browser is the caller's to close."""
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
