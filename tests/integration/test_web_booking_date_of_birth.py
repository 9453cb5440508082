"""The booking pages' optional date of birth (GOV.UK's date input: day, month and year boxes), as a browser without
JavaScript sends it through the gateway: a date given reaches the booking API and is stored with the booking (it
decides how long a child's health answers are kept); none given, none stored; a wrong one is named in a sentence,
linked from the error summary to the box at fault, with everything typed kept and nothing booked."""

from __future__ import annotations

import re
from datetime import date, timedelta

from tests.integration.test_web_booking import (  # noqa: F401  (site: a fixture)
    ALL_CLEAR,
    CLINIC,
    csrf_of,
    hold_first_slot,
    page,
    post_details,
    site,
)

HINT = "We ask for under-18s: the law says a child's health answers are kept until they turn 25."


async def details_page(site) -> str:  # noqa: F811
    screening = await hold_first_slot(site)
    return await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))


async def stored(booking_pool) -> list[tuple]:
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT customer_email, customer_birth_date FROM bookings WHERE customer_email IS NOT NULL"
        )
    return [tuple(r) for r in rows]


async def test_the_details_step_asks_for_a_date_of_birth_in_three_labelled_boxes(site):  # noqa: F811
    details = await details_page(site)
    fieldset = re.search(r'<fieldset role="group"[^>]*>(.*?)</fieldset>', details, re.S)
    assert fieldset and "<legend>Date of birth (optional)</legend>" in fieldset.group(1) and HINT in fieldset.group(1)
    assert 'aria-describedby="dob-hint"' in fieldset.group(0)
    for part, label in (("day", "Day"), ("month", "Month"), ("year", "Year")):
        assert f'<label for="dob_{part}">{label}</label>' in details
        box = re.search(rf'<input id="dob_{part}"[^>]*>', details).group(0)
        assert f'name="dob_{part}"' in box and 'inputmode="numeric"' in box and f'autocomplete="bday-{part}"' in box


async def test_a_date_of_birth_given_is_stored_with_the_booking(site, booking_pool):  # noqa: F811
    details = await details_page(site)
    pay = await page(await post_details(site, details, dob_day=" 7 ", dob_month="3", dob_year="2010"))
    assert "£65.00" in pay
    assert await stored(booking_pool) == [("ada@example.com", date(2010, 3, 7))]


async def test_no_date_of_birth_books_without_one(site, booking_pool):  # noqa: F811
    details = await details_page(site)
    await page(await post_details(site, details, dob_day="", dob_month="", dob_year=""))
    assert await stored(booking_pool) == [("ada@example.com", None)]


async def test_a_wrong_date_of_birth_is_named_and_everything_typed_is_kept(site, booking_pool):  # noqa: F811
    details = await details_page(site)
    later = date.today() + timedelta(days=2)
    for typed, link, message, marked in (
        (("31", "2", "1990"), "dob_day", "Date of birth must be a real date, like 27 3 2010", {"day", "month", "year"}),
        (("12", "", ""), "dob_month", "Date of birth must include a month and year", {"month", "year"}),
        (
            (str(later.day), str(later.month), str(later.year)),
            "dob_day",
            "Date of birth must be in the past",
            {"day", "month", "year"},
        ),
        (("12", "3", "90"), "dob_year", "Year of birth must include 4 numbers, like 2010", {"year"}),
    ):
        day, month, year = typed
        refused = await page(
            await post_details(
                site, details, phone="07700 900123", voucher_code="", dob_day=day, dob_month=month, dob_year=year
            ),
            400,
        )
        assert f'<li><a href="#{link}">{message}</a></li>' in refused, (typed, refused[:2000])
        assert (
            f'<p class="field-error" id="dob-error"><span class="visually-hidden">Error:</span> {message}</p>'
            in refused
        )
        assert 'aria-describedby="dob-hint dob-error"' in refused
        for part, value in zip(("day", "month", "year"), typed, strict=True):
            box = re.search(rf'<input id="dob_{part}"[^>]*>', refused).group(0)
            assert f'value="{value}"' in box, (part, box)
            assert ("input--error" in box) == (part in marked), (typed, part, box)
        for kept in ('value="Ada Lovelace"', 'value="ada@example.com"', 'value="07700 900123"'):
            assert kept in refused, kept
        assert " checked" in re.search(r'<input id="policy"[^>]*>', refused).group(0), "the policy stays ticked"
    assert await stored(booking_pool) == [], "nothing booked"


async def test_the_policy_left_unticked_is_named_at_its_box_which_says_so_to_a_screen_reader(site):  # noqa: F811
    details = await details_page(site)
    refused = await page(await post_details(site, details, policy=""), 400)
    box = re.search(r'<input id="policy"[^>]*>', refused).group(0)
    assert 'aria-describedby="policy-error"' in box and " checked" not in box
    assert '<p class="field-error" id="policy-error">' in refused
