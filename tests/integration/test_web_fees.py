"""Issue 20's saved cards and fees on the pages, as a browser without JavaScript uses them, through the gateway, on
the real booking and payments services and the fake Stripe: the owner sets "card saved only" and the fees on the
Settings page (errors beside their inputs, nothing changed on an error); a customer reads the fees where the
treatment is chosen, saves her card (nothing charged) and is confirmed; the diary's booking page shows the fees and
what marking a no-show does; a declined fee's link pays it (a token not the fee's is the 404 page); the manage page
warns of the late-cancellation fee inside the change window, still offers cancelling, and says the fee once done."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

from tests.integration.test_web_booking import ALL_CLEAR, DETAILS, choose_a_slot, page
from tests.integration.test_web_payment_policy import clinic_policy, settings_form
from tests.support.booking import CLINIC, move_visit, next_weekday
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner: fixtures)
    csrf_of,
    dashboard,
    owner,
    signed_in,
)
from tests.support.dashboard import (
    page as dashboard_page,  # every dashboard page is no-store
)

SETTINGS = "/clinic/settings"
# Deep tissue massage (60 min), £65.00, the demo treatment choose_a_slot books.
CARD_WORDS = "Nothing to pay now; your card is saved and the £65.00 is paid at the clinic."
NO_SHOW_WORDS = "If you miss the appointment, a no-show fee of £32.50 is charged to your saved card."
LATE_WORDS = "Cancelling less than 24 hours before costs a late-cancellation fee of £20.00."
FEES = {
    "no_show_fee": "percent",
    "no_show_fee_percent": "50",
    "late_cancellation_fee": "amount",
    "late_cancellation_fee_amount": "20",
}


async def set_policy(site, fields: dict[str, str]) -> None:
    form = settings_form(await dashboard_page(await site.get(SETTINGS)))
    resp = await site.post(SETTINGS, data={**form, **fields}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"{SETTINGS}?done=saved", await resp.text()


async def book_with_saved_card(site, checkout, card: str = "visa", weeks_ahead: int = 1) -> tuple[str, str]:
    """Through the pages under the clinic's card-saved-only policy: the card saved, the booking confirmed; its
    id and manage path (with the token)."""
    _, fields = await choose_a_slot(site, next_weekday(1, weeks_ahead=weeks_ahead))
    screening = await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    pay = await page(
        await site.post(f"/c/{CLINIC}/book/details", data={"csrf": csrf_of(details), **ALL_CLEAR, **DETAILS})
    )
    assert "<h1>Save your card</h1>" in pay
    assert "Nothing to pay now. Your card is saved for this booking" in pay
    assert "<dt>To pay now</dt><dd><strong>£0.00</strong></dd>" in pay and "(deposit)" not in pay
    assert "<dt>To pay at the clinic</dt><dd>£65.00</dd>" in pay, re.search(
        r"<dl class=\"summary\">.*?</dl>", pay, re.S
    ).group(0)
    assert NO_SHOW_WORDS in pay and ">Save card</button>" in pay
    confirming = await page(await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": card}))
    assert "Your card is saved; nothing has been charged." in confirming or "Booking confirmed" in confirming
    # The pages ask payments to look at the SetupIntent (the fake Stripe sends no event for it): no reconciler here.
    await checkout.event_path.drain()
    confirmed = await page(await site.get(f"/c/{CLINIC}/book/confirming"))
    assert "Booking confirmed" in confirmed and "To pay at the clinic: £65.00." in confirmed
    manage = re.search(r'href="http[^"]*(/manage/[0-9a-f-]+\?token=[^"]+)"', confirmed).group(1)
    return manage.split("/")[2].split("?")[0], manage


async def test_the_owner_sets_card_saved_only_and_the_fees_and_reads_them_back(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    shown = await dashboard_page(await dashboard.get(SETTINGS))
    assert "Card saved only" in shown and "No-show fee" in shown and "Late-cancellation fee" in shown
    assert 'name="no_show_fee" type="radio" value="none" checked' in shown, "no fee unless one is set"
    await set_policy(dashboard, {"payment_mode": "card", **FEES})
    assert await clinic_policy(booking_pool) == {
        "mode": "card",
        "no_show_fee": {"percent": 50},
        "late_cancellation_fee": {"amount": {"amount": 2000, "currency": "GBP"}},
    }
    again = await dashboard_page(await dashboard.get(SETTINGS))
    assert 'value="card" checked' in again
    assert 'name="no_show_fee" type="radio" value="percent" checked' in again
    assert 'name="no_show_fee_percent" type="text" value="50"' in again
    assert 'name="late_cancellation_fee" type="radio" value="amount" checked' in again
    assert 'name="late_cancellation_fee_amount" type="text" value="20.00"' in again
    await set_policy(dashboard, {"payment_mode": "full", "no_show_fee": "none", "late_cancellation_fee": "none"})
    assert await clinic_policy(booking_pool) == {"mode": "full"}


async def test_a_fee_typed_wrong_is_said_beside_its_input_kept_and_changes_nothing(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    form = settings_form(await dashboard_page(await dashboard.get(SETTINGS)))
    typed = {"payment_mode": "card", "no_show_fee": "percent", "no_show_fee_percent": "half"}
    ours = await dashboard_page(await dashboard.post(SETTINGS, data={**form, **typed}), 400)
    assert 'href="#no_show_fee_percent">Enter the no-show fee as a whole number percent, like 50</a>' in ours
    assert 'id="no_show_fee_percent-error"' in ours and 'value="half"' in ours and 'value="card" checked' in ours
    # The API's own refusal (a fee over 100%) beside the fee's input too.
    typed = {"payment_mode": "full", "no_show_fee": "percent", "no_show_fee_percent": "150"}
    theirs = await dashboard_page(await dashboard.post(SETTINGS, data={**form, **typed}), 400)
    assert re.search(r'href="#no_show_fee_percent">[^<]+</a>', theirs), theirs
    assert await clinic_policy(booking_pool) == {"mode": "full"}


async def test_a_card_saved_only_booking_saves_the_card_and_the_diary_says_what_a_no_show_costs(
    dashboard, owner, checkout, booking_pool, payments_pool
):
    await signed_in(dashboard)
    await set_policy(dashboard, {"payment_mode": "card", **FEES})
    choosing = await page(await dashboard.get(f"/c/{CLINIC}/book"))
    assert CARD_WORDS in choosing and NO_SHOW_WORDS in choosing and LATE_WORDS in choosing
    booking_id, manage = await book_with_saved_card(dashboard, checkout)
    async with payments_pool.acquire() as conn:
        saved = await conn.fetchval("SELECT count(*) FROM saved_cards WHERE reference_id = $1", uuid.UUID(booking_id))
    assert saved == 1, "the card is saved for the booking"

    managed = await page(await dashboard.get(manage))
    assert "<dt>If you miss it</dt><dd>A no-show fee of £32.50, charged to your saved card</dd>" in managed
    assert (
        "<dt>If you cancel late</dt><dd>A late-cancellation fee of £20.00, charged to your saved card</dd>" in managed
    )

    path = f"/clinic/bookings/{booking_id}"
    diary = await dashboard_page(await dashboard.get(path))
    assert "<dt>No-show fee</dt><dd>£32.50, charged to the customer's saved card if they are marked a no-show" in diary
    assert "<dt>Late-cancellation fee</dt><dd>£20.00," in diary
    assert 'id="no-show-fee-hint">Marking a no-show charges the no-show fee of £32.50' in diary
    assert re.search(r'aria-describedby="[^"]*no-show-fee-hint[^"]*">Mark as a no-show', diary)
    await move_visit(booking_pool, booking_id, datetime.now(timezone.utc) - timedelta(hours=3))
    marked = await dashboard.post(f"{path}/no-show", data={"csrf": csrf_of(diary)}, allow_redirects=False)
    assert marked.status == 303, await marked.text()
    after = await dashboard_page(await dashboard.get(marked.headers["Location"]))
    assert "Marked as a no-show. The no-show fee of £32.50 is being charged to the customer's saved card" in after


async def _fee_link(payments_pool) -> tuple[str, str]:
    """The fee id and pay token of the last `fee.failed` event payments wrote (what the email links to)."""
    async with payments_pool.acquire() as conn:
        raw = await conn.fetchval(
            "SELECT envelope FROM outbox WHERE envelope->>'type' = 'fee.failed' ORDER BY seq DESC LIMIT 1"
        )
    data = (json.loads(raw) if isinstance(raw, str) else raw)["data"]
    return data["fee_id"], data["pay_token"]


async def test_a_declined_fee_is_paid_from_its_link_and_the_link_then_says_it_is_paid(
    dashboard, owner, checkout, booking_pool, payments_pool
):
    await signed_in(dashboard)
    await set_policy(dashboard, {"payment_mode": "card", **FEES})
    booking_id, _ = await book_with_saved_card(dashboard, checkout, card="declined")  # saved; the bank says no later
    await move_visit(booking_pool, booking_id, datetime.now(timezone.utc) - timedelta(hours=3))
    diary = await dashboard_page(await dashboard.get(f"/clinic/bookings/{booking_id}"))
    marked = await dashboard.post(f"/clinic/bookings/{booking_id}/no-show", data={"csrf": csrf_of(diary)})
    assert marked.status == 200
    await checkout.event_path.drain()
    fee_id, token = await _fee_link(payments_pool)

    for wrong in (f"/fees/{fee_id}?token=not-the-token", f"/fees/{fee_id}", f"/fees/{uuid.uuid4()}?token={token}"):
        assert "Page not found" in await page(await dashboard.get(wrong), 404), wrong
    resp = await dashboard.get(f"/fees/{fee_id}?token={token}")
    shown = await page(resp)
    assert resp.headers["Referrer-Policy"] == "no-referrer", "the token never leaves in a Referer"
    assert "<h1>Pay your no-show fee</h1>" in shown
    assert "could not charge the no-show fee of £32.50 to your saved card. Your card was declined." in shown
    assert "<dt>What</dt><dd>No-show fee, for missing the appointment</dd>" in shown
    # The form carries its CSRF token: without it, nothing.
    refused = await dashboard.post(f"/fees/{fee_id}/pay", data={"token": token}, allow_redirects=False)
    assert refused.status == 403
    paying = await dashboard.post(f"/fees/{fee_id}/pay", data={"csrf": csrf_of(shown), "token": token})
    pay = await page(paying)
    assert str(paying.url).endswith(f"/fees/{fee_id}/pay") and "token" not in str(paying.url)
    assert ">Pay £32.50</button>" in pay and "Test mode." in pay
    # (A declined test card is said as on the booking's pay page; the fake Stripe cannot retry that intent.)
    done = await dashboard.post(f"/fees/{fee_id}/pay/card", data={"csrf": csrf_of(pay), "card": "visa"})
    waiting = await page(done)
    assert "Confirming your payment" in waiting or "Thank you, paid" in waiting
    await checkout.reconcile()
    thanks = await page(await dashboard.get(f"/fees/{fee_id}/paid"))
    assert "<h1>Thank you, paid</h1>" in thanks and "We have your payment of £32.50 for the no-show fee." in thanks
    again = await page(await dashboard.get(f"/fees/{fee_id}?token={token}"))
    assert "This fee has been paid. Thank you." in again and "/pay" not in again


async def test_inside_the_change_window_the_manage_page_warns_of_the_late_fee_and_still_cancels(
    dashboard, owner, checkout, booking_pool
):
    await signed_in(dashboard)
    await set_policy(dashboard, {"payment_mode": "card", **FEES})
    booking_id, manage = await book_with_saved_card(dashboard, checkout)
    managed = await page(await dashboard.get(manage))
    assert "You can cancel or move this booking until" in managed and "Cancelling now costs" not in managed
    await move_visit(booking_pool, booking_id, datetime.now(timezone.utc) + timedelta(hours=3))
    late = await page(await dashboard.get(manage))
    assert "It is too late to move this booking online. You can still cancel it" in late
    assert "late-cancellation fee of <strong>£20.00</strong>, charged to your saved card" in late
    assert "Move this booking" not in late
    token = manage.split("token=", 1)[1]
    question = await page(
        await dashboard.post(f"/manage/{booking_id}/cancel", data={"csrf": csrf_of(late), "token": token})
    )
    assert (
        "Cancelling now costs a late-cancellation fee of <strong>£20.00</strong>, charged to your saved card; "
        "what you paid is refunded." in question
    )
    done = await page(
        await dashboard.post(
            f"/manage/{booking_id}/cancel", data={"csrf": csrf_of(question), "token": token, "confirm": "yes"}
        )
    )
    assert "<h1>Booking cancelled</h1>" in done
    assert "A late-cancellation fee of <strong>£20.00</strong> is charged to your saved card." in done


async def test_without_a_late_fee_inside_the_window_the_manage_page_offers_no_cancel(
    dashboard, owner, checkout, booking_pool
):
    await signed_in(dashboard)
    await set_policy(dashboard, {"payment_mode": "card", "no_show_fee": "percent", "no_show_fee_percent": "50"})
    booking_id, manage = await book_with_saved_card(dashboard, checkout)
    await move_visit(booking_pool, booking_id, datetime.now(timezone.utc) + timedelta(hours=3))
    late = await page(await dashboard.get(manage))
    assert "It is too late to cancel or move this booking online." in late
    assert "Cancel this booking" not in late and "late-cancellation" not in late
