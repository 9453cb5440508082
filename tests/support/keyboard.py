"""A keyboard user's moves in a Playwright page: Tab to a control, arrows within a radio group, Enter to go on."""

from __future__ import annotations

from playwright.async_api import Page

# What the focused control says (its text, or its label's).
FOCUSED_NAME = """(() => { const e = document.activeElement; if (!e) return "";
    const label = e.labels && e.labels[0]; return (label ? label.innerText : e.innerText || "").trim(); })()"""


async def focused_name(page: Page) -> str:
    return await page.evaluate(FOCUSED_NAME)


async def tab_to(page: Page, name: str, presses: int = 150) -> None:
    """Press Tab until the focus is on the control whose name starts so, as a keyboard user would."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if (await focused_name(page)).startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def choose_with_arrows(page: Page, name: str, presses: int = 12) -> None:
    """Within the focused radio group, the arrows move to (and choose) the option so named."""
    for _ in range(presses):
        if (await focused_name(page)).startswith(name):
            return
        await page.keyboard.press("ArrowDown")
    raise AssertionError(f"the arrows never reached {name!r}")


async def press_and_load(page: Page, key: str) -> None:
    async with page.expect_navigation():
        await page.keyboard.press(key)
