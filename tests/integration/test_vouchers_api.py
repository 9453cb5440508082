"""Gift vouchers: bought with Stripe, issued with an unguessable code, a ledger balance that never goes
negative, redeemed against bookings in part or in full, released, refunded, expired and reactivated."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest

from services.booking.seed import stable_id
from services.payments import voucher_service
from services.payments.app import create_app as create_payments_app
from tests.support.booking import OTHER_THERAPIST, booking_body, free_slots, hold, next_weekday
from tests.support.vouchers import buy_voucher, purchase_body


async def ledger(pool, voucher_id) -> list[tuple[str, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT entry, units FROM voucher_ledger WHERE voucher_id = $1 ORDER BY id", uuid.UUID(voucher_id)
        )
    return [(r["entry"], r["units"]) for r in rows]


async def balance_of(pool, voucher_id) -> int:
    async with pool.acquire() as conn:
        cached = await conn.fetchval("SELECT balance FROM vouchers WHERE id = $1", uuid.UUID(voucher_id))
        summed = await conn.fetchval(
            "SELECT sum(units) FROM voucher_ledger WHERE voucher_id = $1", uuid.UUID(voucher_id)
        )
    assert cached == summed, "the balance is the sum of the ledger"
    return cached


async def test_a_bought_voucher_is_issued_when_paid_with_a_code_no_dump_reveals(
    payments, payments_pool, checkout, settings
):
    resp = await payments.post("/api/v1/vouchers", json=purchase_body())
    assert resp.status == 201, await resp.text()
    voucher = await resp.json()
    assert voucher["status"] == "awaiting_payment" and voucher["payment"]["amount"] == 6000
    assert voucher["vat_class"] == "multi_purpose"

    await checkout.pay(voucher)

    from tests.support.vouchers import issued_code

    code = await issued_code(payments_pool, voucher["id"], settings)
    assert len(code) == 19 and code.count("-") == 3
    async with payments_pool.acquire() as conn:
        dump = " ".join(str(dict(r)) for r in await conn.fetch("SELECT * FROM vouchers"))
        outbox = " ".join(str(r["envelope"]) for r in await conn.fetch("SELECT envelope FROM outbox"))
        purchased = await conn.fetchval("SELECT envelope FROM outbox WHERE envelope->>'type' = 'voucher.purchased'")
    assert code.replace("-", "") not in dump.replace("-", "") and code not in outbox
    assert purchased["data"]["recipient"]["email"] == "grace@example.com"
    assert purchased["data"]["clinic"] == {
        "id": str(stable_id("urban-therapy")),
        "slug": "urban-therapy",
        "name": "Urban Therapy Clinic, London",
        "timezone": "Europe/London",
    }
    from tests.support.audit import charges_without_booking

    async with payments_pool.acquire() as conn:
        assert await charges_without_booking(conn) == [], "a paid voucher is issued"
    assert purchased["data"]["code_hint"] == f"…{code[-4:]}"
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000)]

    resp = await payments.post("/api/v1/vouchers/balance", json={"code": code.lower()})
    assert resp.status == 200
    balance = await resp.json()
    assert balance["remaining"] == {"amount": 6000, "currency": "GBP"} and balance["kind"] == "amount"
    expires = datetime.fromisoformat(balance["expires_at"])
    assert timedelta(days=729) < expires - datetime.now(timezone.utc) <= timedelta(days=731)


async def test_treatment_and_course_vouchers_count_sessions(payments, payments_pool, checkout, settings):
    treatment, _ = await buy_voucher(
        payments,
        checkout,
        payments_pool,
        settings,
        kind="treatment",
        treatment=str(stable_id("urban-therapy", "treatment", "swedish-60")),
    )
    course, course_code = await buy_voucher(
        payments,
        checkout,
        payments_pool,
        settings,
        kind="course",
        course=str(stable_id("urban-therapy", "course", "sciatica-course")),
    )
    assert (treatment["price"]["amount"], treatment["vat_class"]) == (6000, "single_purpose")
    assert course["price"]["amount"] == 34500
    resp = await payments.post("/api/v1/vouchers/balance", json={"code": course_code})
    assert (await resp.json())["remaining"] == {"sessions": 6}


@pytest.mark.parametrize(
    "overrides, status, code",
    [
        ({"amount": {"amount": 1000, "currency": "GBP"}}, 422, "amount_out_of_range"),
        ({"amount": {"amount": 6000, "currency": "EUR"}}, 422, "currency_mismatch"),
        ({"clinic": "nowhere"}, 404, "clinic_not_found"),
        ({"kind": "treatment", "amount": None, "treatment": str(uuid.uuid4())}, 404, "treatment_not_found"),
        ({"deliver_on": (date.today() - timedelta(days=1)).isoformat()}, 422, "delivery_date_in_past"),
        ({"kind": "course"}, 422, "validation_failed"),
        ({"recipient": {"name": "No Email"}}, 422, "validation_failed"),
    ],
)
async def test_bad_purchases_write_nothing(payments, payments_pool, overrides, status, code):
    body = purchase_body(**overrides)
    if body.get("amount") is None:
        body.pop("amount", None)
    resp = await payments.post("/api/v1/vouchers", json=body)
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM vouchers") == 0
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0


async def test_guessing_codes_is_rate_limited(payments):
    answers = []
    for i in range(7):
        resp = await payments.post("/api/v1/vouchers/balance", json={"code": f"ABCD-EFGH-JKLM-NP{i}Q"})
        answers.append(resp.status)
    assert answers[:5] == [404] * 5
    assert answers[5:] == [429, 429]
    assert int(resp.headers["Retry-After"]) > 0 and resp.headers["RateLimit-Limit"]
    assert (await resp.json())["error"]["code"] == "rate_limited"


async def test_balance_checks_per_client_follow_their_setting(settings, aiohttp_client):
    """VOUCHER_BALANCE_CHECKS_PER_MINUTE (20 by default; the bench's stack raises it): here 3, so the fourth
    check in a minute is refused before the misses' own limit (5) is reached."""
    payments = await aiohttp_client(
        create_payments_app(settings.with_overrides(voucher_balance_checks_per_minute=3), reconciler=False)
    )
    answers = [
        (await payments.post("/api/v1/vouchers/balance", json={"code": f"ABCD-EFGH-JKLM-NP{i}Q"})).status
        for i in range(4)
    ]
    assert answers == [404, 404, 404, 429]


async def book_with_voucher(booking, code: str, *, rest_by_card: bool = True, day=None, slot_index: int = 0):
    slot = (await free_slots(booking, day))[slot_index]
    held = await hold(booking, slot["start"])
    resp = await booking.post(
        "/api/v1/bookings", json=booking_body(held["id"], voucher_code=code, pay_rest_by_card=rest_by_card)
    )
    return held, resp


async def test_a_voucher_pays_part_and_the_card_the_rest(
    booking, payments, payments_pool, booking_pool, checkout, settings
):
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)  # £60 on a £65 massage
    held, resp = await book_with_voucher(booking, code)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["status"] == "pending_payment" and body["amount_due"] == {"amount": 500, "currency": "GBP"}
    assert body["payment"]["voucher"]["value"] == {"amount": 6000, "currency": "GBP"}
    assert body["payment"]["voucher"]["remaining"] == {"amount": 0, "currency": "GBP"}
    await checkout.pay(body)
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(held["id"])) == "confirmed"
    assert await balance_of(payments_pool, voucher["id"]) == 0
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("redeem", -6000)]


async def test_a_voucher_that_covers_the_booking_confirms_it_at_once(
    booking, payments, payments_pool, checkout, settings
):
    voucher, code = await buy_voucher(
        payments, checkout, payments_pool, settings, amount={"amount": 10000, "currency": "GBP"}
    )
    _, resp = await book_with_voucher(booking, code)
    body = await resp.json()
    assert resp.status == 201 and body["status"] == "confirmed"
    assert body["amount_due"]["amount"] == 0 and body["payment"]["covered"] is True
    assert await balance_of(payments_pool, voucher["id"]) == 3500
    assert body["payment"]["voucher"]["remaining"] == {"amount": 3500, "currency": "GBP"}


async def test_voucher_only_that_does_not_cover_is_402_and_changes_nothing(
    booking, payments, payments_pool, booking_pool, checkout, settings
):
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    held, resp = await book_with_voucher(booking, code, rest_by_card=False)
    assert resp.status == 402
    error = (await resp.json())["error"]
    assert error["code"] == "voucher_insufficient" and error["details"]["rest"] == 500
    assert await balance_of(payments_pool, voucher["id"]) == 6000
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(held["id"])) == "held"


async def test_unknown_or_expired_codes_at_booking(booking, payments, payments_pool, checkout, settings):
    _, resp = await book_with_voucher(booking, "ABCD-EFGH-JKLM-NPQR")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "voucher_not_found"
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second'")
    _, resp = await book_with_voucher(booking, code, slot_index=1)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "voucher_expired"


async def test_fifty_concurrent_redemptions_of_one_voucher_only_one_succeeds(
    booking, booking_pool, payments, payments_pool, checkout, settings
):
    async with booking_pool.acquire() as conn:  # £50 bookings against a £60 voucher
        await conn.execute("UPDATE treatments SET price_amount = 5000")
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    holds = []
    for weeks in (1, 2, 3):
        for weekday in range(5):
            for therapist in (None, OTHER_THERAPIST):
                day = next_weekday(weekday, weeks_ahead=weeks)
                slots = await free_slots(booking, day, **({"therapist": therapist} if therapist else {}))
                for slot in slots[::8][:2]:
                    holds.append(await hold(booking, slot["start"], **({"therapist": therapist} if therapist else {})))
    holds = holds[:50]
    assert len(holds) == 50

    async def redeem(held):
        resp = await booking.post(
            "/api/v1/bookings", json=booking_body(held["id"], voucher_code=code, pay_rest_by_card=False)
        )
        return resp.status, (await resp.json()).get("error", {}).get("code")

    outcome = Counter(await asyncio.gather(*(redeem(h) for h in holds)))
    assert outcome[(201, None)] == 1, outcome
    assert sum(n for (status, _), n in outcome.items() if status >= 500) == 0
    assert sum(outcome.values()) == 50
    assert await balance_of(payments_pool, voucher["id"]) == 1000
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("redeem", -5000)]


async def test_an_unpaid_booking_gives_the_voucher_back_when_it_expires(
    booking, booking_pool, payments, payments_pool, checkout, settings
):
    from services.booking import service as booking_service
    from services.booking.unit_of_work import PostgresUnitOfWork

    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    held, resp = await book_with_voucher(booking, code)  # £5 still to pay by card, never paid
    assert resp.status == 201
    async with booking_pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE bookings SET expires_at = now() - interval '1 second'")
        await booking_service.expire_lapsed(PostgresUnitOfWork.on(conn))
    await checkout.event_path.drain()
    assert await balance_of(payments_pool, voucher["id"]) == 6000
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("redeem", -6000), ("release", 6000)]


async def test_cancelling_a_voucher_paid_booking_refunds_the_voucher(
    booking, payments, payments_pool, checkout, settings
):
    voucher, code = await buy_voucher(
        payments, checkout, payments_pool, settings, amount={"amount": 10000, "currency": "GBP"}
    )
    _, resp = await book_with_voucher(booking, code)
    body = await resp.json()
    token = body["manage_url"].split("token=")[1]
    assert (await booking.post(f"/api/v1/bookings/{body['id']}/cancel", json={"token": token})).status == 200
    await checkout.event_path.drain()
    assert await balance_of(payments_pool, voucher["id"]) == 10000
    assert [e for e, _ in await ledger(payments_pool, voucher["id"])] == ["issue", "redeem", "refund"]


async def test_expiry_and_reactivation_are_ledger_entries(payments, payments_pool, checkout, settings):
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    async with payments_pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second'")
        assert await voucher_service.expire_due(conn) == 1
    assert await balance_of(payments_pool, voucher["id"]) == 0
    resp = await payments.post("/api/v1/vouchers/balance", json={"code": code})
    assert (await resp.json())["status"] == "expired"
    async with payments_pool.acquire() as conn, conn.transaction():
        again = await voucher_service.reactivate(
            conn,
            uuid.UUID(voucher["id"]),
            units=6000,
            actor="staff:jo",
            reason="customer was in hospital",
            now=datetime.now(timezone.utc),
            extend=timedelta(days=90),
        )
    assert again["status"] == "active" and again["remaining"]["amount"] == 6000
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("expire", -6000), ("adjust", 6000)]
    async with payments_pool.acquire() as conn:
        assert "hospital" in await conn.fetchval("SELECT note FROM voucher_ledger WHERE entry = 'adjust'")


async def test_expiring_vouchers_are_announced_once(payments, payments_pool, checkout, settings):
    await buy_voucher(payments, checkout, payments_pool, settings)
    async with payments_pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE vouchers SET expires_at = now() + interval '20 days'")
        assert await voucher_service.announce_expiring(conn) == 1
        assert await voucher_service.announce_expiring(conn) == 0
        event = await conn.fetchval("SELECT envelope FROM outbox WHERE envelope->>'type' = 'voucher.expiring'")
    assert event["data"]["recipient"]["email"] == "grace@example.com" and "code" not in event["data"]


async def test_the_delivery_endpoint_gives_the_code_to_internal_callers_only(
    payments, payments_pool, checkout, settings
):
    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    path = f"/internal/v1/vouchers/{voucher['id']}/delivery"
    assert (await payments.get(path)).status == 401
    resp = await payments.get(path, headers={"X-Internal-Token": settings.internal_token})
    body = await resp.json()
    assert resp.status == 200 and body["code"] == code and body["recipient"]["email"] == "grace@example.com"
    missing = await payments.get(
        f"/internal/v1/vouchers/{uuid.uuid4()}/delivery", headers={"X-Internal-Token": settings.internal_token}
    )
    assert missing.status == 404


async def test_a_clinic_lists_its_own_vouchers_without_codes(payments, payments_pool, checkout, settings):
    from services.booking.seed import stable_id
    from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER

    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    headers = {CLINIC_ID_HEADER: str(stable_id("urban-therapy")), INTERNAL_TOKEN_HEADER: settings.internal_token}
    resp = await payments.get("/api/v1/clinic/vouchers", headers=headers)
    [listed] = (await resp.json())["vouchers"]
    assert listed["id"] == voucher["id"] and listed["code_hint"] == f"…{code[-4:]}"
    assert code not in await resp.text()
    other = {**headers, CLINIC_ID_HEADER: str(stable_id("spinecare"))}
    assert (await (await payments.get("/api/v1/clinic/vouchers", headers=other)).json())["vouchers"] == []
    assert (await payments.get("/api/v1/clinic/vouchers")).status == 401


async def test_staff_reactivate_an_expired_voucher_through_the_clinic_api(payments, payments_pool, checkout, settings):
    from services.booking.seed import stable_id
    from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER

    voucher, code = await buy_voucher(payments, checkout, payments_pool, settings)
    async with payments_pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE vouchers SET expires_at = now() - interval '1 second'")
        await voucher_service.expire_due(conn)
    path = f"/api/v1/clinic/vouchers/{voucher['id']}/reactivate"
    other = {CLINIC_ID_HEADER: str(stable_id("spinecare")), INTERNAL_TOKEN_HEADER: settings.internal_token}
    assert (await payments.post(path, headers=other, json={"reason": "goodwill"})).status == 404
    mine = {**other, CLINIC_ID_HEADER: str(stable_id("urban-therapy"))}
    resp = await payments.post(path, headers=mine, json={"reason": "customer was in hospital", "extend_days": 30})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["remaining"]["amount"] == 6000
    assert await ledger(payments_pool, voucher["id"]) == [("issue", 6000), ("expire", -6000), ("adjust", 6000)]
    async with payments_pool.acquire() as conn:
        actor = await conn.fetchval("SELECT actor FROM voucher_ledger WHERE entry = 'adjust'")
    assert actor == f"clinic:{stable_id('urban-therapy')}"
    again = await payments.post(path, headers=mine, json={"reason": "twice"})
    assert again.status == 409


async def test_expiry_follows_the_clinics_setting(payments, payments_pool, booking_pool, checkout, settings):
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE clinics SET voucher_validity_months = 12")
    _, code = await buy_voucher(payments, checkout, payments_pool, settings)
    balance = await (await payments.post("/api/v1/vouchers/balance", json={"code": code})).json()
    left = datetime.fromisoformat(balance["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(days=364) < left <= timedelta(days=366)


@pytest.mark.parametrize("slug", ["urban-therapy/treatments", "\x00", "../booking"])
async def test_clinic_slugs_are_validated_before_any_lookup(payments, slug):
    resp = await payments.post("/api/v1/vouchers", json=purchase_body(clinic=slug))
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "validation_failed"


async def test_the_options_a_shop_offers_are_the_limits_a_purchase_is_checked_against(payments, payments_pool):
    options = await (await payments.get("/api/v1/vouchers/options")).json()
    amount = options["amount"]
    assert amount["currency"] == "GBP" and amount["min"] < amount["max"]
    assert amount["presets"] and all(amount["min"] <= p <= amount["max"] for p in amount["presets"])
    for value, status in (
        (amount["min"], 201),
        (amount["max"], 201),
        (amount["min"] - 1, 422),
        (amount["max"] + 1, 422),
    ):
        resp = await payments.post("/api/v1/vouchers", json=purchase_body(amount={"amount": value, "currency": "GBP"}))
        assert resp.status == status, (value, await resp.text())
    too_long = purchase_body(message="x" * (options["message_max_length"] + 1))
    assert (await payments.post("/api/v1/vouchers", json=too_long)).status == 422
    assert (
        await payments.post("/api/v1/vouchers", json=purchase_body(message="x" * options["message_max_length"]))
    ).status == 201
    too_far = (date.today() + timedelta(days=options["deliver_within_days"] + 2)).isoformat()
    assert (await payments.post("/api/v1/vouchers", json=purchase_body(deliver_on=too_far))).status == 422
