"""What a customer and a receptionist read when things are not as they left them: a pay page whose time ran out
(said in words, the way on, no card form, nothing charged)."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.web.dashboard import session as sessions
from tests.integration.test_web_booking import (  # noqa: F401  (site: a fixture)
    ALL_CLEAR,
    csrf_of,
    hold_first_slot,
    page,
    post_details,
    site,
)
from tests.integration.test_web_resubmits import details_page
from tests.integration.test_web_waitlist import join, offer_row, offered
from tests.support.booking import CLINIC
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner: fixtures)
    OWNER_EMAIL,
    PASSWORD,
    dashboard,
    form_fields,
    kept_session,
    owner,
    sign_in,
)
from tests.support.dashboard import page as dashboard_page
from tests.support.dashboard import signed_in as dashboard_signed_in

# --- a customer's pay page after its pay-by time --------------------------------------------------------------


async def pay_page(site) -> str:
    return await page(await post_details(site, await details_page(site)))


async def pay_by_passes(booking_pool, status: str = "pending_payment") -> None:
    async with booking_pool.acquire() as conn:  # the pay-by time passed (the sweeper may not have run yet)
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 minute', status = $1 WHERE customer_email IS NOT NULL",
            status,
        )


async def payment_statuses(payments_pool) -> list[str]:
    async with payments_pool.acquire() as conn:
        return [row["status"] for row in await conn.fetch("SELECT status FROM payments WHERE purpose = 'booking'")]


def says_the_time_ran_out(shown: str) -> None:
    assert "<title>The time ran out" in shown and "nothing has\n  been charged" in shown
    assert "Test mode." not in shown and not re.search(r'action="/c/urban-therapy/book/pay"', shown), "no card form"
    assert "We are holding" not in shown and "until" not in shown, "no time that has passed offered as held"
    assert re.search(r'href="/c/urban-therapy/book\?[^"]*treatment=[^"]*"', shown), "the choices kept"


async def test_the_pay_page_shows_the_booking_services_pay_by_time(site):
    shown = await pay_page(site)
    assert "Test mode." in shown
    assert re.search(r"until\s*<strong>\d\d:\d\d \(UK time, (GMT|BST)\)</strong>", shown)


@pytest.mark.parametrize("status", ["pending_payment", "expired"])
async def test_a_pay_page_past_its_pay_by_time_says_so_and_offers_no_card(
    site, checkout, booking_pool, payments_pool, status
):
    pay = await pay_page(site)
    await pay_by_passes(booking_pool, status)
    says_the_time_ran_out(await page(await site.get(f"/c/{CLINIC}/book/pay"), 409))
    paid = await page(await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "visa"}), 409)
    says_the_time_ran_out(paid)
    await checkout.reconcile()  # a card paid at the fake Stripe would show here
    assert await payment_statuses(payments_pool) == ["requires_payment"], "nothing charged"


# --- signing in again goes back to the page the session ended on ------------------------------------------------

HOSTILE_NEXT = (
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "/clinic/../x",
    "/clinic//evil.example",
    "/clinic/%2F%2Fevil.example",
    "/clinic/settings\r\nSet-Cookie: x=1",
    "/clinic/settings\x00",
    "javascript:alert(1)",
    "/clinic/sign-in",
    "/elsewhere",
)


async def session_ended_by_the_api(dashboard, redis, settings) -> None:
    cookie = (await sign_in(dashboard)).cookies[sessions.COOKIE].value
    token = (await kept_session(redis, settings, cookie)).token
    ended = await dashboard.delete("/api/v1/clinic/session", headers={"Authorization": f"Bearer {token}"})
    assert ended.status == 204  # signed out elsewhere: this browser's session has ended


def sign_in_query(resp) -> dict[str, str]:
    """What a redirect to the sign-in page says in its query (the gateway may re-quote it: its meaning counts)."""
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/clinic/sign-in", resp.headers["Location"]
    return dict(parse_qsl(location.query))


async def signing_in(dashboard, **fields: str):
    form = await dashboard_page(await dashboard.get("/clinic/sign-in"))
    data = {"email": OWNER_EMAIL, "password": PASSWORD, "csrf": csrf_of(form), **fields}
    return await dashboard.post("/clinic/sign-in", data=data, allow_redirects=False)


async def test_after_the_session_ended_signing_in_goes_back_to_the_page_the_person_was_on(
    dashboard, owner, redis, settings
):
    await session_ended_by_the_api(dashboard, redis, settings)
    left = await dashboard.get("/clinic/waitlist?done=removed", allow_redirects=False)
    assert left.status == 303 and sign_in_query(left) == {"m": "expired", "next": "/clinic/waitlist?done=removed"}
    form = await dashboard_page(await dashboard.get(left.headers["Location"]))
    assert "Your session has ended" in form
    assert '<input type="hidden" name="next" value="/clinic/waitlist?done=removed">' in form
    back = await signing_in(dashboard, next="/clinic/waitlist?done=removed")
    assert back.status == 303 and back.headers["Location"] == "/clinic/waitlist?done=removed"
    assert "Waitlist" in await dashboard_page(await dashboard.get(back.headers["Location"]))
    # Already signed in, the sign-in page's own address with a `next` goes there too.
    again = await dashboard.get("/clinic/sign-in?next=/clinic/settings", allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == "/clinic/settings"


async def test_a_form_sent_after_the_session_ended_goes_back_to_the_page_it_was_on(dashboard, owner):
    await sign_in(dashboard)
    form = await dashboard_page(await dashboard.get("/clinic/settings"))
    dashboard.session.cookie_jar.clear(lambda cookie: cookie.key == sessions.COOKIE)  # its max-age ran out
    sent = await dashboard.post("/clinic/settings", data={"csrf": csrf_of(form)}, allow_redirects=False)
    assert sent.status == 303 and sign_in_query(sent) == {"m": "expired-unsaved", "next": "/clinic/settings"}
    # A form whose own address is no page (a button's action): signing in goes home, as before.
    removed = await dashboard.post(f"/clinic/waitlist/{uuid.uuid4()}/remove", data={"csrf": "x"}, allow_redirects=False)
    assert removed.status == 303 and sign_in_query(removed) == {"m": "expired-unsaved"}


@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
async def test_signing_in_never_goes_to_another_site(dashboard, owner, hostile):
    shown = await dashboard.get("/clinic/sign-in", params={"next": hostile}, allow_redirects=False)
    if shown.status != 422:  # (the gateway refuses a line break or NUL in any query before the page is asked)
        assert 'name="next"' not in await dashboard_page(shown), "not carried by the form"
    signed = await signing_in(dashboard, next=hostile)
    assert signed.status == 303 and signed.headers["Location"] == "/clinic", "home instead"
    already = await dashboard.get("/clinic/sign-in", params={"next": hostile}, allow_redirects=False)
    assert already.status in (303, 422) and already.headers.get("Location", "/clinic") == "/clinic"


# --- removing someone from the waitlist: the question first --------------------------------------------------


async def test_remove_from_the_waitlist_asks_first_and_the_question_changes_nothing(
    dashboard, owner, booking_pool, settings
):
    await join(dashboard)  # Ada, offered a time
    offer = await offered(booking_pool, settings)
    dashboard.session.cookie_jar.clear()
    await dashboard_signed_in(dashboard)
    listed = await dashboard_page(await dashboard.get("/clinic/waitlist"))
    action = f"/clinic/waitlist/{offer['entry_id']}/remove"
    question = await dashboard_page(await dashboard.post(action, data={"csrf": csrf_of(listed)}))
    assert "<h1>Remove Ada Lovelace from the waitlist?</h1>" in question
    assert "held for them until" in question and "is\n    released" in question, "what removing lets go"
    assert form_fields(question, action)["confirm"] == "yes" and 'href="/clinic/waitlist">No, keep them' in question
    row = await offer_row(booking_pool, offer["offer_id"])
    assert (row["entry_status"], row["status"], row["hold_status"]) == ("offered", "open", "held"), "nothing changed"

    confirmed = await dashboard.post(action, data=form_fields(question, action), allow_redirects=False)
    assert confirmed.status == 303 and confirmed.headers["Location"] == "/clinic/waitlist?done=removed"
    row = await offer_row(booking_pool, offer["offer_id"])
    assert (row["entry_status"], row["status"]) == ("removed", "withdrawn")
    # The question asked again (Back, then Remove): nothing to ask about, said in words.
    again = await dashboard.post(action, data={"csrf": csrf_of(listed)}, allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == "/clinic/waitlist?done=gone"
    assert "nothing to remove" in await dashboard_page(await dashboard.get(again.headers["Location"]))
    unknown = await dashboard.post(f"/clinic/waitlist/{uuid.uuid4()}/remove", data={"csrf": csrf_of(listed)})
    assert unknown.status == 404
