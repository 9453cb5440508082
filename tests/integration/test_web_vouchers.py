"""The voucher shop, as a browser without JavaScript uses it, through the gateway: choose, say whom it is
for and when it goes, pay with the test card, and a page that says when the gift goes, in words."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from services.payments.voucher_service import CodeKeys
from services.payments.vouchers import MAX_AMOUNT, MESSAGE_MAX_LENGTH, MIN_AMOUNT
from shared import gift_delivery
from tests.integration.test_web_booking import (  # noqa: F401 (site:
    ALL_CLEAR,
    choose_a_slot,
    csrf_of,
    page,
    site,  # the fixture)
)
from tests.support.booking import CLINIC, TREATMENT
from tests.support.vouchers import buy_voucher, purchase_body

LONDON = ZoneInfo("Europe/London")
SHOP = f"/c/{CLINIC}/vouchers"


def order(text: str, **fields) -> dict:
    """The shop's form as filled in: its hidden fields, then the answers given."""
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', text))
    answers = {
        "what": "amount:other",
        "custom_amount": "60",
        "recipient_name": "Sam Carter",
        "recipient_email": "sam@example.com",
        "message": "Happy birthday, Sam!",
        "deliver_on": date.today().isoformat(),
        "buyer_name": "Ada Lovelace",
        "buyer_email": "ada@example.com",
    }
    return {**hidden, **answers, **fields}


async def vouchers_written(payments_pool) -> int:
    async with payments_pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM vouchers")


async def test_the_shop_offers_amounts_treatments_and_courses_each_with_its_worth_and_validity(site):
    text = await page(await site.get(SHOP))
    for shown in (
        "Buy a gift voucher",
        "£25.00",
        "£50.00",
        "Another amount",
        "From £25.00 to £500.00",
        "Deep tissue massage (60 min)",
        "One session, worth £65.00",
        "Sciatica course: 6 sessions",
        "6 sessions, worth",
        "Valid for 24 months",
        "You can enter up to 1000 characters",
        "Send it to me instead, to give in person",
        "emailed at 08:00 (UK time)",
    ):
        assert shown in text, shown
    assert f'value="treatment:{TREATMENT}"' in text
    assert re.search(r'name="deliver_on" type="date" value="\d{4}-\d\d-\d\d"', text)
    # One h1, the page's; the first question is a section of it, like "Who is it for?"
    assert re.findall(r"<h1>([^<]*)</h1>", text) == ["Buy a gift voucher"]
    assert '<legend class="legend-heading"><h2>What would you like to give?</h2></legend>' in text


async def test_an_empty_order_names_every_missing_answer_and_writes_nothing(site, payments_pool):
    shop = await page(await site.get(SHOP))
    empty = {k: "" for k in order(shop) if k not in ("csrf", "purchase")}
    text = await page(await site.post(SHOP, data={**order(shop), **empty}), 400)
    assert "There is a problem" in text
    for message, field in (
        ("Choose an amount, a treatment or a course", "what"),
        ("Enter the name of the person the voucher is for", "recipient_name"),
        ("Enter their email address", "recipient_email"),
        ("Enter your full name", "buyer_name"),
        ("Enter your email address", "buyer_email"),
        ("Enter the day to send it", "deliver_on"),
    ):
        assert re.search(rf'<a href="#{field}">{message}', text), (field, message)
    assert await vouchers_written(payments_pool) == 0


async def test_each_wrong_answer_is_said_in_words_and_what_was_typed_is_kept(site, payments_pool):
    shop = await page(await site.get(SHOP))
    cases = [
        ({"custom_amount": "lots"}, "custom_amount", "Enter an amount in pounds, like 60 or 60.50"),
        ({"custom_amount": f"{(MIN_AMOUNT - 1) / 100:.2f}"}, "custom_amount", "Enter an amount from £25.00 to £500.00"),
        ({"custom_amount": f"{(MAX_AMOUNT + 100) // 100}"}, "custom_amount", "Enter an amount from £25.00"),
        (
            {"message": "x" * (MESSAGE_MAX_LENGTH + 4)},
            "message",
            f"The message must be {MESSAGE_MAX_LENGTH} characters or fewer (it has {MESSAGE_MAX_LENGTH + 4})",
        ),
        ({"deliver_on": (date.today() - timedelta(days=2)).isoformat()}, "deliver_on", "must be today or later"),
        ({"deliver_on": (date.today() + timedelta(days=400)).isoformat()}, "deliver_on", "must be within a year"),
        ({"recipient_email": "sam at example"}, "recipient_email", "Enter their email address"),
        ({"what": "nonsense"}, "what", "Choose an amount, a treatment or a course"),
    ]
    for fields, field, message in cases:
        text = await page(await site.post(SHOP, data=order(shop, **fields)), 400)
        assert re.search(rf'<a href="#{field}">[^<]*{re.escape(message)}', text), (fields, text[:300])
        assert 'value="Sam Carter"' in text and 'value="ada@example.com"' in text  # kept
    assert await vouchers_written(payments_pool) == 0


async def test_a_gift_bought_and_paid_says_when_it_goes_and_is_issued(site, checkout, payments_pool):
    shop = await page(await site.get(SHOP))
    pay = await page(await site.post(SHOP, data=order(shop)))
    assert "Pay for the gift voucher" in pay and "£60.00 gift voucher" in pay and "Pay £60.00" in pay
    before = datetime.now(timezone.utc)
    thanks = await page(await site.post(f"{SHOP}/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    after = datetime.now(timezone.utc)
    said = {gift_delivery.in_words("Sam Carter", date.today(), LONDON, moment) for moment in (before, after)}
    assert "Thank you for your gift" in thanks and any(f"Your £60.00 gift voucher {words}." in thanks for words in said)
    assert "We have emailed your receipt to ada@example.com" in thanks
    await checkout.reconcile()
    async with payments_pool.acquire() as conn:
        voucher = await conn.fetchrow("SELECT status, balance, recipient_email, message FROM vouchers")
    assert dict(voucher) == {
        "status": "active",
        "balance": 6000,
        "recipient_email": "sam@example.com",
        "message": "Happy birthday, Sam!",
    }


async def test_pressing_continue_twice_orders_one_voucher(site, payments_pool):
    shop = await page(await site.get(SHOP))
    for _ in range(2):
        assert "Pay £60.00" in await page(await site.post(SHOP, data=order(shop)))
    assert await vouchers_written(payments_pool) == 1


async def test_a_course_sent_to_the_buyer_on_a_later_day(site, checkout, payments_pool):
    shop = await page(await site.get(SHOP))
    course = re.search(r'value="(course:[0-9a-f-]+)"', shop).group(1)
    later = date.today() + timedelta(days=10)
    pay = await page(
        await site.post(
            SHOP, data=order(shop, what=course, to_me="yes", recipient_email="", deliver_on=later.isoformat())
        )
    )
    assert "Sciatica course: 6 sessions" in pay
    thanks = await page(await site.post(f"{SHOP}/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    assert f"will be emailed to you at 08:00 on {later:%A} {later.day} {later:%B}" in thanks
    await checkout.reconcile()
    async with payments_pool.acquire() as conn:
        voucher = await conn.fetchrow("SELECT kind, balance, recipient_email, deliver_on FROM vouchers")
    assert dict(voucher) == {"kind": "course", "balance": 6, "recipient_email": "ada@example.com", "deliver_on": later}


async def test_a_declined_card_is_said_in_words_and_nothing_is_issued(site, payments_pool):
    shop = await page(await site.get(SHOP))
    pay = await page(await site.post(SHOP, data=order(shop)))
    declined = await page(await site.post(f"{SHOP}/pay", data={"csrf": csrf_of(pay), "card": "declined"}), 400)
    assert "Your card was declined. Nothing was charged." in declined
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM vouchers") == "awaiting_payment"


async def test_the_pay_and_thanks_pages_need_an_order_from_this_browser(site):
    for step in ("pay", "thanks"):
        resp = await site.get(f"{SHOP}/{step}", allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == SHOP


BALANCE = "/vouchers/balance"


async def check(site, code: str, status: int = 200) -> str:
    form = await page(await site.get(BALANCE))
    return await page(await site.post(BALANCE, data={"csrf": csrf_of(form), "code": code}), status)


async def test_the_balance_page_says_what_is_left_what_it_pays_for_and_until_when(
    site, checkout, payments_pool, settings
):
    _, code = await buy_voucher(site, checkout, payments_pool, settings, amount={"amount": 6000, "currency": "GBP"})
    text = await check(site, code.lower().replace("-", " "))  # as a person might type it
    assert "£60.00 towards any treatment at Urban Therapy Clinic, London." in text and "Valid until" in text
    assert code not in text and code[-4:] in text, "only the code's last characters are shown"
    assert 'href="/c/urban-therapy/book"' in text
    _, course_code = await buy_voucher(
        site,
        checkout,
        payments_pool,
        settings,
        kind="course",
        course=re.search(r'value="course:([0-9a-f-]+)"', await page(await site.get(SHOP))).group(1),
    )
    assert "6 sessions left of Sciatica course: 6 sessions at Urban Therapy Clinic, London." in await check(
        site, course_code
    )


async def test_a_spent_or_expired_voucher_says_so(site, checkout, payments_pool, settings):
    voucher, code = await buy_voucher(site, checkout, payments_pool, settings)
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE vouchers SET balance = 0")
    assert "Nothing is left on this voucher: it has all been spent." in await check(site, code)
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE vouchers SET status = 'expired'")
    text = await check(site, code)
    assert "This voucher has expired." in text and "hello@urbantherapy.example" in text and "Expired" in text


async def test_an_unknown_code_is_said_in_words_and_too_many_misses_say_when_to_try_again(site):
    text = await check(site, "AAAA-BBBB-CCCC-DDDD", 400)
    assert "We don't recognise that code." in text and 'value="AAAA-BBBB-CCCC-DDDD"' in text
    assert "Enter the code on your voucher" in await check(site, "", 400)
    for _ in range(10):
        form = await page(await site.get(BALANCE))
        resp = await site.post(BALANCE, data={"csrf": csrf_of(form), "code": "AAAA-BBBB-CCCC-DDDD"})
        if resp.status == 429:
            break
    text = await page(resp, 429)
    assert re.search(r"please try again in \d+ minutes", text), text[:2000]
    assert "There is a problem" not in text and "Traceback" not in text


async def issued(site, checkout, payments_pool, settings, **overrides) -> tuple[dict, str, str]:
    """A paid voucher, its code, and the token its gift email's links carry."""
    voucher, code = await buy_voucher(site, checkout, payments_pool, settings, **overrides)
    return voucher, code, CodeKeys(settings.voucher_code_key).holder_token(uuid.UUID(voucher["id"]))


async def test_the_api_gives_the_code_only_to_the_holder_of_the_email_link(site, checkout, payments_pool, settings):
    voucher, code, token = await issued(site, checkout, payments_pool, settings)
    resp = await site.get(f"/api/v1/vouchers/{voucher['id']}", params={"token": token})
    held = await resp.json()
    assert resp.status == 200 and held["code"] == code and held["clinic"] == "urban-therapy"
    assert "holder_token" not in held and resp.headers["Cache-Control"] == "no-store"
    for bad in ({"token": token[:-2] + "AA"}, {"token": ""}, {}):
        resp = await site.get(f"/api/v1/vouchers/{voucher['id']}", params=bad)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "voucher_not_found"
    unpaid = await (await site.post("/api/v1/vouchers", json=purchase_body())).json()
    unpaid_token = CodeKeys(settings.voucher_code_key).holder_token(uuid.UUID(unpaid["id"]))
    assert (await site.get(f"/api/v1/vouchers/{unpaid['id']}", params={"token": unpaid_token})).status == 404


async def test_the_printable_voucher_shows_the_gift_and_its_code_to_the_links_holder(
    site, checkout, payments_pool, settings
):
    voucher, code, token = await issued(site, checkout, payments_pool, settings)
    resp = await site.get(f"/vouchers/{voucher['id']}", params={"token": token})
    text = await page(resp)
    for shown in (
        code,
        "Urban Therapy Clinic, London",
        "£60.00 towards any treatment",
        "from Ada Lovelace",
        "Happy birthday!",
        "Valid until",
        "Book with this voucher",
    ):
        assert shown in text, shown
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"
    assert (
        "@media print"
        in await (await site.get(re.search(r'href="(/assets/site\.[0-9a-f]+\.css)"', text).group(1))).text()
    )
    assert f'href="/vouchers/{voucher["id"]}?token' not in text, "the page links its token nowhere"
    refused = await page(await site.get(f"/vouchers/{voucher['id']}", params={"token": "forged"}), 403)
    assert "This voucher link is not valid" in refused and code not in refused
    assert "not valid" in await page(await site.get("/vouchers/not-a-voucher", params={"token": token}), 403)


async def test_book_with_this_voucher_fills_the_code_in_at_the_details_step(site, checkout, payments_pool, settings):
    voucher, code, token = await issued(site, checkout, payments_pool, settings)
    resp = await site.get(f"/vouchers/{voucher['id']}/book", params={"token": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/c/urban-therapy/book?")
    assert token not in resp.headers["Location"] and code not in resp.headers["Location"]
    assert "Your gift voucher is ready" in await page(await site.get(resp.headers["Location"]))
    _, fields = await choose_a_slot(site)
    screening = await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    assert f'name="voucher_code" type="text" value="{code}"' in details


def buyer_token(settings, voucher: dict) -> str:
    return CodeKeys(settings.voucher_code_key).link_token("buyer", uuid.UUID(voucher["id"]))


async def test_until_it_is_sent_the_buyer_changes_whom_and_when_audited_and_ledger_neutral(
    site, checkout, payments_pool, settings
):
    tomorrow = date.today() + timedelta(days=1)
    voucher, _ = await buy_voucher(site, checkout, payments_pool, settings, deliver_on=tomorrow.isoformat())
    token, url = buyer_token(settings, voucher), f"/api/v1/vouchers/{voucher['id']}/delivery"
    gift = await (await site.get(url, params={"token": token})).json()
    assert gift["changeable"] and gift["recipient"]["email"] == "grace@example.com"
    async with payments_pool.acquire() as conn:
        ledger_before = await conn.fetch("SELECT entry, units FROM voucher_ledger ORDER BY id")
    later = tomorrow + timedelta(days=5)
    resp = await site.patch(
        url, json={"token": token, "recipient_email": "grace.new@example.com", "deliver_on": later.isoformat()}
    )
    assert resp.status == 200 and (await resp.json())["deliver_on"] == later.isoformat()
    async with payments_pool.acquire() as conn:
        changes = await conn.fetch("SELECT actor, field, old_value, new_value FROM voucher_changes ORDER BY field")
        assert await conn.fetch("SELECT entry, units FROM voucher_ledger ORDER BY id") == ledger_before
        announced = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'voucher.delivery_changed'"
        )
    assert [tuple(c) for c in changes] == [
        ("buyer", "deliver_on", tomorrow.isoformat(), later.isoformat()),
        ("buyer", "recipient_email", "grace@example.com", "grace.new@example.com"),
    ]
    assert announced == 1
    for body, status, code in (
        ({"token": "forged", "deliver_on": later.isoformat()}, 404, "voucher_not_found"),
        ({"token": token, "deliver_on": (date.today() - timedelta(days=1)).isoformat()}, 422, "delivery_date_in_past"),
        ({"token": token, "recipient_email": "not an email"}, 422, "validation_failed"),
    ):
        refused = await site.patch(url, json=body)
        assert refused.status == status and (await refused.json())["error"]["code"] == code, body


async def test_once_sent_the_gift_can_no_longer_change(site, checkout, payments_pool, settings):
    voucher, _ = await buy_voucher(site, checkout, payments_pool, settings, deliver_on=date.today().isoformat())
    async with payments_pool.acquire() as conn:  # bought for a day whose 08:00 has passed: it went at once
        await conn.execute("UPDATE vouchers SET deliver_on = current_date - 1")
    token, url = buyer_token(settings, voucher), f"/api/v1/vouchers/{voucher['id']}/delivery"
    assert (await (await site.get(url, params={"token": token})).json())["changeable"] is False
    resp = await site.patch(url, json={"token": token, "recipient_email": "other@example.com"})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "voucher_already_sent"
    text = await page(await site.get(f"/vouchers/{voucher['id']}/change", params={"token": token}))
    assert "The gift has been sent" in text and 'name="recipient_email"' not in text


async def test_the_receipts_link_opens_a_form_that_changes_the_gift(site, checkout, payments_pool, settings):
    tomorrow = date.today() + timedelta(days=1)
    voucher, _ = await buy_voucher(site, checkout, payments_pool, settings, deliver_on=tomorrow.isoformat())
    token = buyer_token(settings, voucher)
    form = await page(await site.get(f"/vouchers/{voucher['id']}/change", params={"token": token}))
    assert 'value="grace@example.com"' in form and f'value="{tomorrow.isoformat()}"' in form
    assert f"will be emailed to Grace Hopper at 08:00 on {tomorrow:%A} {tomorrow.day} {tomorrow:%B}" in form
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    wrong = await page(
        await site.post(
            f"/vouchers/{voucher['id']}/change",
            data={**fields, "recipient_email": "nope", "deliver_on": tomorrow.isoformat()},
        ),
        400,
    )
    assert '<a href="#recipient_email">Enter their email address' in wrong
    later = tomorrow + timedelta(days=2)
    done = await page(
        await site.post(
            f"/vouchers/{voucher['id']}/change",
            data={**fields, "recipient_email": "grace.new@example.com", "deliver_on": later.isoformat()},
        )
    )
    assert "Gift voucher changed" in done and "to grace.new@example.com" in done
    assert f"at 08:00 on {later:%A} {later.day} {later:%B}" in done
    assert "not valid" in await page(await site.get(f"/vouchers/{voucher['id']}/change", params={"token": "x"}), 403)


async def test_at_the_details_step_each_unusable_code_says_why_and_nothing_is_booked(
    site, checkout, payments_pool, booking_pool, settings
):
    _, spent = await buy_voucher(site, checkout, payments_pool, settings)
    _, expired = await buy_voucher(
        site, checkout, payments_pool, settings, recipient={"name": "E", "email": "e@example.com"}
    )
    _, elsewhere = await buy_voucher(site, checkout, payments_pool, settings, clinic="spinecare")
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE vouchers SET balance = 0 WHERE code_last4 = $1", spent.replace("-", "")[-4:])
        await conn.execute(
            "UPDATE vouchers SET status = 'expired' WHERE code_last4 = $1", expired.replace("-", "")[-4:]
        )
    for code, message in (
        (spent, "This voucher has already been used in full"),
        (expired, "This voucher has expired"),
        ("AAAA-BBBB-CCCC-DDDD", "We don't recognise that voucher code"),
        (elsewhere, "This voucher is for another clinic, so it cannot pay here"),
    ):
        _, fields = await choose_a_slot(site)
        screening = await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))
        details = await page(
            await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR})
        )
        refused = await page(
            await site.post(
                f"/c/{CLINIC}/book/details",
                data={
                    "csrf": csrf_of(details),
                    **ALL_CLEAR,
                    "name": "Sam Carter",
                    "email": "sam@example.com",
                    "policy": "yes",
                    "voucher_code": code,
                },
            ),
            400,
        )
        assert re.search(rf'<a href="#voucher_code">{re.escape(message)}', refused), (code, message)
        assert f'value="{code}"' in refused, "what was typed is kept"
    async with booking_pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM bookings WHERE customer_email = 'sam@example.com' "
                "AND status IN ('confirmed', 'pending_payment')"
            )
            == 0
        )


async def test_a_course_voucher_pays_for_the_whole_series_booked_in_the_pages(
    site, checkout, payments_pool, booking_pool, settings
):
    from tests.integration.test_web_booking import week_form
    from tests.support.booking import COURSE, THERAPIST, next_weekday

    voucher, code = await buy_voucher(site, checkout, payments_pool, settings, kind="course", course=COURSE)
    week = await page(
        await site.get(
            f"/c/{CLINIC}/book",
            params={"course": COURSE, "therapist": THERAPIST, "week": next_weekday(0, weeks_ahead=5).isoformat()},
        )
    )
    screening = await page(await site.post(f"/c/{CLINIC}/book/hold", data=week_form(week)))
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    confirmed = await page(
        await site.post(
            f"/c/{CLINIC}/book/details",
            data={
                "csrf": csrf_of(details),
                **ALL_CLEAR,
                "name": "Sam Carter",
                "email": "sam@example.com",
                "policy": "yes",
                "voucher_code": code,
            },
        )
    )
    assert "Booking confirmed" in confirmed, "no card asked"
    assert f"Your gift voucher …{code[-4:]} paid £345.00; nothing is left on it." in confirmed
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'") == 6
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT balance FROM vouchers WHERE id = $1", uuid.UUID(voucher["id"])) == 0
