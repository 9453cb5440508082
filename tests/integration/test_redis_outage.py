"""Redis down, then restarted (the tests' own redis-server): every request that needs it is answered 503 in
our error shape (a page, for the customer pages) with Retry-After, never 500; and the first request after
the restart, on a pooled connection that died with the old server, is served."""

from __future__ import annotations

import contextlib
import re

from tests.integration.test_web_booking import choose_a_slot, page, site  # noqa: F401  (site: the fixture)
from tests.support import dashboard as dashboard_pages
from tests.support.booking import CLINIC
from tests.support.dashboard import dashboard, owner, signed_in  # noqa: F401  (dashboard, owner: fixtures)


@contextlib.contextmanager
def redis_down(private_redis):
    private_redis.stop()
    try:
        yield
    finally:
        private_redis.start()  # the session's other tests need it: back, empty, as after a crash


async def balance(payments):
    return await payments.post("/api/v1/vouchers/balance", json={"code": "AAAA-BBBB-CCCC-DDDD"})


async def test_the_voucher_balance_is_503_while_redis_is_down_and_served_after_its_restart(payments, private_redis):
    assert (await balance(payments)).status == 404  # a pooled connection, before the crash
    with redis_down(private_redis):
        down = await balance(payments)
        assert down.status == 503 and down.headers["Retry-After"]
        assert (await down.json())["error"]["code"] == "service_unavailable"
    assert (await balance(payments)).status == 404, "the dead pooled connection is replaced, not answered 500"


async def test_a_customer_page_that_needs_redis_is_a_page_saying_so(site, private_redis):
    _, fields = await choose_a_slot(site)
    assert "Before your treatment" in await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))
    with redis_down(private_redis):
        resp = await site.get(f"/c/{CLINIC}/book/screening")
        text = await page(resp, 503)
        assert "Sorry, there is a problem with the service" in text and resp.headers["Retry-After"]
        assert not re.search(r"Traceback|internal_error", text)
    # After the restart the flow kept in Redis is gone (Redis here keeps nothing): the customer starts again.
    resp = await site.get(f"/c/{CLINIC}/book/screening", allow_redirects=False)
    assert resp.status == 303 and "Your booking session has ended" in await page(
        await site.get(resp.headers["Location"])
    )


async def test_the_gateway_without_redis_serves_the_public_api_and_says_it_is_degraded(gateway, keys, private_redis):
    assert (await (await gateway.get("/readyz")).json())["status"] == "ready"
    with redis_down(private_redis):
        ready = await gateway.get("/readyz")
        body = await ready.json()
        assert ready.status == 200 and body["status"] == "degraded" and body["checks"]["redis"].startswith("error")
        assert (await gateway.get("/api/v1/clinics")).status == 200, "the limits fail open"
        clinic_api = await gateway.get(
            "/api/v1/clinic/bookings", headers={"Authorization": f"Bearer {keys['urban-therapy']}"}
        )
        assert clinic_api.status == 200, "the clinic API needs no Redis at the gateway"
    assert (await (await gateway.get("/readyz")).json())["status"] == "ready"


async def test_the_dashboard_without_redis_is_a_page_saying_so_and_after_it_sign_in_again(
    dashboard, owner, private_redis
):
    """The dashboard's sessions live in web's Redis: while it is down every dashboard page is a 503 page (never a
    500, never a signed-out page that would lose what was typed); Redis here keeps nothing, so after the restart
    everyone signs in again."""
    await signed_in(dashboard)
    with redis_down(private_redis):
        for resp in (
            await dashboard.get("/clinic"),
            await dashboard.get("/clinic/staff"),
            await dashboard.get("/clinic/sign-in"),
        ):
            text = await dashboard_pages.page(resp, 503)
            assert "Sorry, there is a problem with the service" in text and resp.headers["Retry-After"]
            assert not re.search(r"Traceback|internal_error", text)
    resp = await dashboard.get("/clinic", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/clinic/sign-in"
