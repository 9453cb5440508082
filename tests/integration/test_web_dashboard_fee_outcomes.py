"""The diary's booking page says what became of each fee (issue 20), from payments' clinic API: charged to the saved
card, or declined by the bank with why (the customer emailed a pay link); owner and reception alike. Without an
answer from payments the page still shows the booking, saying the fee status is unavailable. Bookings are made and
marked no-shows through the pages, as test_web_fees.py does, on the real services and the fake Stripe."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.payments import store as payments_store
from tests.integration.test_web_fees import FEES, book_with_saved_card, set_policy
from tests.support.booking import move_visit
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    STAFF_EMAIL,
    csrf_of,
    dashboard,
    owner,
    receptionist,
    signed_in,
)
from tests.support.dashboard import page as dashboard_page

CHARGED = "<dt>Fee outcome</dt><dd>No-show fee £32.50: charged to the saved card</dd>"
DECLINED = (
    "<dt>Fee outcome</dt><dd>No-show fee £32.50: not charged (Your card was declined); the customer was "
    "emailed a link to pay it</dd>"
)
UNAVAILABLE = "<dt>Fee outcome</dt><dd>Fee status unavailable</dd>"


async def a_no_show(dashboard, checkout, booking_pool, card: str, weeks_ahead: int) -> str:
    """A booking that saved `card`, marked a no-show from its page once its time has passed; its page's path."""
    booking_id, _ = await book_with_saved_card(dashboard, checkout, card=card, weeks_ahead=weeks_ahead)
    await move_visit(booking_pool, booking_id, datetime.now(timezone.utc) - timedelta(hours=3))
    path = f"/clinic/bookings/{booking_id}"
    before = await dashboard_page(await dashboard.get(path))
    assert "Fee outcome" not in before, "nothing charged yet: no outcome to say"
    marked = await dashboard.post(f"{path}/no-show", data={"csrf": csrf_of(before)}, allow_redirects=False)
    assert marked.status == 303, await marked.text()
    await checkout.event_path.drain()  # payments charges the fee
    return path


async def test_the_booking_page_says_charged_or_declined_to_owner_and_reception(
    dashboard, owner, receptionist, checkout, booking_pool, payments_pool
):
    await signed_in(dashboard)
    await set_policy(dashboard, {"payment_mode": "card", **FEES})
    charged = await a_no_show(dashboard, checkout, booking_pool, "visa", weeks_ahead=1)
    declined = await a_no_show(dashboard, checkout, booking_pool, "declined", weeks_ahead=2)
    async with payments_pool.acquire() as conn:
        assert sorted(await conn.fetchval("SELECT array_agg(status) FROM booking_fees")) == ["charged", "failed"]

    shown = await dashboard_page(await dashboard.get(charged))
    assert CHARGED in shown and "declined" not in shown and "Fee status unavailable" not in shown
    shown = await dashboard_page(await dashboard.get(declined))
    assert DECLINED in shown and "charged to the saved card</dd>" not in shown

    dashboard.session.cookie_jar.clear()  # reception signs in: the same outcomes
    await signed_in(dashboard, STAFF_EMAIL)
    assert CHARGED in await dashboard_page(await dashboard.get(charged))
    assert DECLINED in await dashboard_page(await dashboard.get(declined))


async def test_without_payments_answer_the_page_still_shows_the_booking(
    dashboard, owner, checkout, booking_pool, monkeypatch
):
    await signed_in(dashboard)
    await set_policy(dashboard, {"payment_mode": "card", **FEES})
    path = await a_no_show(dashboard, checkout, booking_pool, "visa", weeks_ahead=1)

    async def broken(*args, **kwargs):
        raise ConnectionError("payments' database is gone")

    monkeypatch.setattr(payments_store, "clinic_fees", broken)  # payments answers 500
    shown = await dashboard_page(await dashboard.get(path))
    assert UNAVAILABLE in shown and "charged to the saved card</dd>" not in shown
    assert "<dt>No-show fee</dt><dd>£32.50" in shown and "<h2>Customer</h2>" in shown
