"""A form sent again, as people do it: a double click, or the browser's Back then the same button once more. The
second answer says where things stand, in words, with a way on; it never says something that did not happen (a
time run out, nothing charged) and never asks a question about a booking that is already over."""

from __future__ import annotations

import asyncio
import re
import uuid

from tests.integration.test_web_booking import (  # noqa: F401  (site: a fixture)
    ALL_CLEAR,
    booked_by_api,
    csrf_of,
    hold_first_slot,
    page,
    post_details,
    site,
    token_of,
)
from tests.support.booking import CLINIC


async def details_page(site) -> str:
    screening = await hold_first_slot(site)
    return await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))


async def customer_bookings(booking_pool) -> list[str]:
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch("SELECT status FROM bookings WHERE customer_email IS NOT NULL")
    return [row["status"] for row in rows]


async def test_details_sent_again_after_the_booking_was_made_go_on_to_paying_for_it(site, booking_pool):
    details = await details_page(site)
    first = await page(await post_details(site, details))
    assert "£65.00" in first
    again = await page(await post_details(site, details))  # Back, then "Continue" once more
    assert "ran out" not in again and "Choose a time" not in again
    assert "Pay £65.00" in again
    assert await customer_bookings(booking_pool) == ["pending_payment"]


async def test_details_sent_twice_at_once_make_one_booking_and_both_answers_go_on_to_paying(site, booking_pool):
    details = await details_page(site)
    answers = await asyncio.gather(post_details(site, details), post_details(site, details))
    for answer in answers:
        shown = await page(answer)
        assert "Pay £65.00" in shown and "ran out" not in shown
    assert await customer_bookings(booking_pool) == ["pending_payment"]


async def test_pay_pressed_again_after_the_card_paid_says_the_booking_is_being_confirmed(site, checkout, booking_pool):
    pay = await page(await post_details(site, await details_page(site)))
    first = await page(await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    assert "Confirming your booking" in first
    again = await page(await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    assert "Nothing was charged" not in again and "Confirming your booking" in again
    await checkout.reconcile()
    assert "Booking confirmed" in await page(await site.get(f"/c/{CLINIC}/book/confirming"))


async def test_cancel_pressed_again_on_a_cancelled_booking_says_it_is_cancelled_and_asks_nothing(site, checkout):
    booking_id, link = await booked_by_api(site, checkout)
    shown = await page(await site.get(link))
    form = {"csrf": csrf_of(shown), "token": token_of(link)}
    await page(await site.post(f"/manage/{booking_id}/cancel", data={**form, "confirm": "yes"}))
    again = await page(await site.post(f"/manage/{booking_id}/cancel", data=form), 409)
    assert "Cancel your booking?" not in again and "Yes, cancel it" not in again
    assert "This booking has been cancelled" in again
    twice = await page(await site.post(f"/manage/{booking_id}/cancel", data={**form, "confirm": "yes"}), 409)
    assert "This booking has been cancelled" in twice and "Yes, cancel it" not in twice


async def test_a_time_chosen_for_a_booking_cancelled_meanwhile_is_refused_in_words(site, checkout, booking_pool):
    booking_id, link = await booked_by_api(site, checkout)
    shown = await page(await site.get(link))
    form = {"csrf": csrf_of(shown), "token": token_of(link)}
    week = await page(await site.post(f"/manage/{booking_id}/move", data=form))
    start = week.split('name="start" value="', 1)[1].split('"', 1)[0]
    await page(await site.post(f"/manage/{booking_id}/cancel", data={**form, "confirm": "yes"}))  # another tab
    refused = await page(await site.post(f"/manage/{booking_id}/move", data={**form, "start": start}), 409)
    assert "This booking has been cancelled" in refused and "Choose a new time" not in refused
    assert 'name="start"' not in refused
    async with booking_pool.acquire() as conn:
        status = await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(booking_id))
    assert status == "cancelled"


async def test_a_booking_whose_time_ran_out_before_its_payment_says_so_with_the_way_on(site, booking_pool):
    await page(await post_details(site, await details_page(site)))
    async with booking_pool.acquire() as conn:  # the pay-by time passed: the booking service let the time go
        await conn.execute("UPDATE bookings SET status = 'expired' WHERE customer_email IS NOT NULL")
    resp = await site.get(f"/c/{CLINIC}/book/confirming")
    shown = await page(resp)
    assert "Refresh" not in resp.headers, "no page asking again forever"
    assert "<title>Booking not confirmed" in shown and "Your payment has gone through" not in shown
    assert "refund the payment in full" in shown and re.search(r'href="/c/urban-therapy/book\?[^"]*treatment=', shown)


async def test_the_time_kept_for_the_customer_names_its_zone(site):
    screening = await hold_first_slot(site)
    assert re.search(r"until\s*<strong>\d\d:\d\d \(UK time, (GMT|BST)\)</strong>", screening), screening


async def test_details_refused_for_a_voucher_code_then_sent_corrected_book_with_the_correction(site, booking_pool):
    """The same hold, so the same Idempotency-Key: the refused first answer must not be what the second gets."""
    details = await details_page(site)
    refused = await page(await post_details(site, details, voucher_code="NOT-A-REAL-CODE-1234"), 400)
    assert "voucher" in refused.lower() and await customer_bookings(booking_pool) == []  # still only a hold
    corrected = await page(await post_details(site, refused, voucher_code=""))
    assert "Pay £65.00" in corrected
    assert await customer_bookings(booking_pool) == ["pending_payment"]


async def test_wrong_voucher_codes_past_the_limit_are_refused_at_the_field_with_when_to_try_again(site, booking_pool):
    """Guessing codes through the booking form counts as the balance check's misses do (5 per client a quarter
    hour): the sixth try is refused in words at the code's field, the time still held, nothing booked."""
    details = await details_page(site)
    for n in range(5):
        details = await page(await post_details(site, details, voucher_code=f"WRONG-CODE-{n:04d}-XYZ"), 400)
    refused = await page(await post_details(site, details, voucher_code="WRONG-CODE-9999-XYZ"), 429)
    assert 'href="#voucher_code"' in refused and "Too many voucher codes have been tried. Try again in" in refused
    assert 'value="WRONG-CODE-9999-XYZ"' in refused, "what was typed stays"
    assert await customer_bookings(booking_pool) == []
    without = await page(await post_details(site, refused, voucher_code=""))
    assert "Pay £65.00" in without, "a booking without a code goes ahead"
