"""Guessing voucher codes through bookings: every wrong code counts against the client's misses, the same budget as
the balance check's (payments' BALANCE_MISSES), so one hold no longer takes any number of guesses."""

from __future__ import annotations

from services.payments.routes import BALANCE_MISSES
from tests.support.booking import booking_body, free_slots, hold
from tests.support.vouchers import buy_voucher

GUESSER = {"X-Forwarded-For": "203.0.113.50"}
SOMEONE_ELSE = {"X-Forwarded-For": "198.51.100.60"}


async def try_code(booking, hold_id: str, code: str | None, client: dict):
    body = booking_body(hold_id, voucher_code=code) if code else booking_body(hold_id)
    return await booking.post("/api/v1/bookings", json=body, headers=client)


async def test_wrong_codes_on_bookings_spend_the_clients_misses_then_any_code_is_refused(
    booking, payments, payments_pool, checkout, settings
):
    """The wrong codes all on one hold (it goes back to held after each): the budget's worth answer 404, then even
    the right code answers 429 with Retry-After (a right code must not stand out from the guesses). The balance
    check shares the budget. A booking without a code still goes ahead."""
    _, code = await buy_voucher(payments, checkout, payments_pool, settings)
    held = await hold(booking, (await free_slots(booking))[0]["start"])

    for attempt in range(BALANCE_MISSES.limit):
        resp = await try_code(booking, held["id"], f"WRONG-CODE-{attempt:04d}", GUESSER)
        assert resp.status == 404, await resp.text()
        assert (await resp.json())["error"]["code"] == "voucher_not_found"

    refused = await try_code(booking, held["id"], code, GUESSER)
    assert refused.status == 429, await refused.text()
    assert int(refused.headers["Retry-After"]) > 0
    assert set((await refused.json())["error"]) <= {"code", "message", "details"}
    assert (await refused.json())["error"]["code"] == "rate_limited"
    balance = await payments.post("/api/v1/vouchers/balance", json={"code": code}, headers=GUESSER)
    assert balance.status == 429

    without_code = await try_code(booking, held["id"], None, GUESSER)
    assert without_code.status == 201, await without_code.text()


async def test_another_client_keeps_its_own_misses_and_a_right_code_works_under_the_limit(
    booking, payments, payments_pool, checkout, settings
):
    """One client spending its misses leaves another's alone: a wrong code is still 404 for it, and its right code
    pays for the booking."""
    _, code = await buy_voucher(payments, checkout, payments_pool, settings)
    held = await hold(booking, (await free_slots(booking))[0]["start"])
    for attempt in range(BALANCE_MISSES.limit):
        assert (await try_code(booking, held["id"], f"WRONG-CODE-{attempt:04d}", GUESSER)).status == 404
    assert (await try_code(booking, held["id"], "WRONG-CODE-9999", GUESSER)).status == 429

    wrong = await try_code(booking, held["id"], "WRONG-CODE-8888", SOMEONE_ELSE)
    assert wrong.status == 404, await wrong.text()
    assert (await wrong.json())["error"]["code"] == "voucher_not_found"

    right = await try_code(booking, held["id"], code, SOMEONE_ELSE)
    assert right.status == 201, await right.text()
    assert (await right.json())["payment"]["voucher"]["value"]["amount"] > 0
