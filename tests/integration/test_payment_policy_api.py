"""Payment policies (issue 20): a clinic pays in full (as before) or a deposit when booking and the rest at the
clinic; a treatment may have its own. Set through the clinic API, shown in the public JSON, and a deposit booking
charged only the deposit (after any voucher), the rest recorded as due at the clinic and announced."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from services.booking.seed import stable_id
from tests.support.audit import charges_without_booking, parts_not_adding_up
from tests.support.booking import (
    CLINIC,
    COURSE,
    COURSE_DAYS,
    THERAPIST,
    TREATMENT,
    booking_body,
    free_slots,
    hold,
    next_weekday,
)
from tests.support.clinic_api import bearer
from tests.support.vouchers import buy_voucher

SETTINGS = "/api/v1/clinic/settings"
TREATMENTS = "/api/v1/clinic/treatments"
PERCENT_20 = {"mode": "deposit", "deposit": {"percent": 20}}
AMOUNT_15 = {"mode": "deposit", "deposit": {"amount": {"amount": 1500, "currency": "GBP"}}}
CLINIC_ID = stable_id(CLINIC)


async def set_policy(pool, policy: dict, treatment: str | None = None) -> None:
    """The clinic's policy (or a treatment's own), as its owner would set it."""
    async with pool.acquire() as conn:
        if treatment is None:
            await conn.execute("UPDATE clinics SET payment_policy = $2 WHERE id = $1", CLINIC_ID, policy)
        else:
            await conn.execute("UPDATE treatments SET payment_policy = $2 WHERE id = $1", uuid.UUID(treatment), policy)


async def confirmed_events(pool) -> list[dict]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT envelope FROM outbox ORDER BY seq")
    return [r["envelope"]["data"] for r in rows if r["envelope"]["type"] == "booking.confirmed"]


async def audit(settings) -> list:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [*await charges_without_booking(conn), *await parts_not_adding_up(conn)]
    finally:
        await conn.close()


async def create_booking(booking, voucher_code: str | None = None, slot_index: int = 0) -> dict:
    slot = (await free_slots(booking))[slot_index]
    held = await hold(booking, slot["start"])
    extra = {"voucher_code": voucher_code} if voucher_code else {}
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"], **extra))
    assert resp.status == 201, await resp.text()
    return await resp.json()


def gbp(amount: int) -> dict:
    return {"amount": amount, "currency": "GBP"}


# --- the clinic API -------------------------------------------------------------------------------


async def test_the_clinic_pays_in_full_until_its_owner_sets_a_deposit(gateway, keys):
    key = keys["urban-therapy"]
    settings = await (await gateway.get(SETTINGS, headers=bearer(key))).json()
    assert settings["payment_policy"] == {"mode": "full"}

    resp = await gateway.patch(SETTINGS, headers=bearer(key), json={"payment_policy": PERCENT_20})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["payment_policy"] == PERCENT_20
    # Another change keeps it; the policy is the clinic's own.
    resp = await gateway.patch(SETTINGS, headers=bearer(key), json={"hold_minutes": 12})
    assert (await resp.json())["payment_policy"] == PERCENT_20
    other = await (await gateway.get(SETTINGS, headers=bearer(keys["spinecare"]))).json()
    assert other["payment_policy"] == {"mode": "full"}

    clinic = await (await gateway.get("/api/v1/clinics/urban-therapy")).json()
    assert clinic["policies"]["payment_policy"] == {
        **PERCENT_20,
        "words": "Pay a deposit of 20% when booking; the rest at the clinic.",
    }
    listed = await (await gateway.get("/api/v1/clinics")).json()
    spinecare = next(c for c in listed["clinics"] if c["slug"] == "spinecare")
    assert spinecare["policies"]["payment_policy"] == {"mode": "full", "words": "Pay in full when booking."}


@pytest.mark.parametrize(
    "policy",
    [
        {"mode": "later"},
        {"mode": "deposit", "deposit": {"percent": 100}},
        {"mode": "deposit", "deposit": {"percent": 0}},
        {"mode": "deposit", "deposit": {"amount": {"amount": 0, "currency": "GBP"}}},
        {"mode": "deposit", "deposit": {"amount": {"amount": 1500, "currency": "EUR"}}},
        {"mode": "full", "no_show_fee": 500},
        "full",
    ],
)
async def test_a_policy_we_do_not_take_is_refused_in_a_sentence_and_nothing_changes(gateway, keys, policy):
    key = keys["urban-therapy"]
    resp = await gateway.patch(SETTINGS, headers=bearer(key), json={"payment_policy": policy, "hold_minutes": 12})
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_payment_policy" and error["message"].endswith(".")
    settings = await (await gateway.get(SETTINGS, headers=bearer(key))).json()
    assert settings["payment_policy"] == {"mode": "full"} and settings["hold_minutes"] != 12

    resp = await gateway.patch(f"{TREATMENTS}/{TREATMENT}", headers=bearer(key), json={"payment_policy": policy})
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "invalid_payment_policy"


async def test_a_treatment_has_its_own_policy_or_the_clinics(gateway, keys):
    key = keys["urban-therapy"]
    await gateway.patch(SETTINGS, headers=bearer(key), json={"payment_policy": PERCENT_20})

    resp = await gateway.patch(f"{TREATMENTS}/{TREATMENT}", headers=bearer(key), json={"payment_policy": AMOUNT_15})
    assert resp.status == 200, await resp.text()
    own = await resp.json()
    assert own["payment_policy"] == AMOUNT_15
    assert own["effective_payment_policy"]["deposit_amount"] == gbp(1500)
    # Public: the policy its bookings are paid by, with the deposit of its price in money and in words.
    treatments = (await (await gateway.get("/api/v1/clinics/urban-therapy/treatments")).json())["treatments"]
    by_slug = {t["slug"]: t for t in treatments}
    assert by_slug["deep-tissue-60"]["payment_policy"] == {
        **AMOUNT_15,
        "deposit_amount": gbp(1500),
        "no_show_fee": None,
        "late_cancellation_fee": None,
        "save_card": False,
        "words": "Pay a deposit of £15.00 now; the rest, £50.00, at the clinic.",
    }
    assert by_slug["swedish-60"]["payment_policy"] == {  # the clinic's: 20% of £60
        **PERCENT_20,
        "deposit_amount": gbp(1200),
        "no_show_fee": None,
        "late_cancellation_fee": None,
        "save_card": False,
        "words": "Pay a deposit of £12.00 now (20%); the rest, £48.00, at the clinic.",
    }
    # A course is paid by its treatment's policy, for the course's price.
    courses = (await (await gateway.get("/api/v1/clinics/urban-therapy/courses")).json())["courses"]
    assert courses[0]["payment_policy"]["deposit_amount"] == gbp(1500)

    # Left out: kept; null: the clinic's again.
    resp = await gateway.patch(f"{TREATMENTS}/{TREATMENT}", headers=bearer(key), json={"name": "Deep tissue"})
    assert (await resp.json())["payment_policy"] == AMOUNT_15
    resp = await gateway.patch(f"{TREATMENTS}/{TREATMENT}", headers=bearer(key), json={"payment_policy": None})
    cleared = await resp.json()
    assert cleared["payment_policy"] is None
    assert cleared["effective_payment_policy"]["deposit_amount"] == gbp(1300)

    # A new treatment may be given one.
    body = {
        "name": "Sports massage",
        "duration_minutes": 45,
        "price": gbp(5000),
        "payment_policy": {"mode": "full"},
    }
    resp = await gateway.post(TREATMENTS, headers=bearer(key), json=body)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["payment_policy"] == {"mode": "full"}
    assert made["effective_payment_policy"]["words"] == "Pay £50.00 now."
    resp = await gateway.post(TREATMENTS, headers=bearer(key), json={**body, "payment_policy": {"mode": "x"}})
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "invalid_payment_policy"


# --- booking under a deposit ----------------------------------------------------------------------


async def test_in_full_the_booking_is_as_before(booking, booking_pool, checkout, settings):
    body = await create_booking(booking)
    assert body["amount_due"] == gbp(6500) and body["due_at_clinic"] == gbp(0)
    await checkout.pay(body)
    [confirmed] = await confirmed_events(booking_pool)
    assert "due_at_clinic" not in confirmed and "payment_policy_words" not in confirmed
    assert await audit(settings) == []


async def test_a_deposit_booking_charges_only_the_deposit_and_records_the_rest_as_due_at_the_clinic(
    booking, booking_pool, payments_pool, checkout, settings
):
    await set_policy(booking_pool, PERCENT_20)
    body = await create_booking(booking)
    assert body["price"] == gbp(6500)
    assert body["amount_due"] == gbp(1300) and body["due_at_clinic"] == gbp(5200)
    assert body["payment"]["amount"] == 1300

    await checkout.pay(body)

    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT amount FROM payments WHERE purpose = 'booking'") == 1300
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, due_at_clinic FROM bookings WHERE id = $1", uuid.UUID(body["id"]))
    assert dict(row) == {"status": "confirmed", "due_at_clinic": 5200}
    [confirmed] = await confirmed_events(booking_pool)
    assert confirmed["due_at_clinic"] == gbp(5200)
    assert confirmed["payment_policy_words"] == "Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic."
    # The manage link's answer says it too.
    token = body["manage_url"].split("token=", 1)[1]
    seen = await (await booking.get(f"/api/v1/bookings/{body['id']}", params={"token": token})).json()
    assert seen["due_at_clinic"] == gbp(5200)
    assert await audit(settings) == []


async def test_the_treatments_own_policy_wins_over_the_clinics(booking, booking_pool, checkout, settings):
    await set_policy(booking_pool, PERCENT_20)
    await set_policy(booking_pool, AMOUNT_15, treatment=TREATMENT)
    body = await create_booking(booking)
    assert body["amount_due"] == gbp(1500) and body["due_at_clinic"] == gbp(5000)
    await set_policy(booking_pool, {"mode": "full"}, treatment=TREATMENT)
    body = await create_booking(booking, slot_index=-1)
    assert body["amount_due"] == gbp(6500) and body["due_at_clinic"] == gbp(0)


@pytest.mark.parametrize(
    ("voucher", "card", "at_clinic"),
    [
        (2500, 1300, 2700),  # the voucher leaves more than the deposit: the card pays the deposit
        (6000, 500, 0),  # the voucher leaves less than the deposit: the card pays what is left, nothing at the clinic
    ],
)
async def test_a_voucher_pays_first_then_the_card_the_deposit_then_the_clinic_the_rest(
    booking, booking_pool, payments, payments_pool, checkout, settings, voucher, card, at_clinic
):
    await set_policy(booking_pool, PERCENT_20)
    _, code = await buy_voucher(payments, checkout, payments_pool, settings, amount=gbp(voucher))
    body = await create_booking(booking, voucher_code=code)
    assert body["amount_due"] == gbp(card) and body["due_at_clinic"] == gbp(at_clinic)
    assert body["payment"]["voucher"]["value"] == gbp(voucher)

    await checkout.pay(body)

    [confirmed] = await confirmed_events(booking_pool)
    assert confirmed["due_at_clinic"] == gbp(at_clinic) and confirmed["voucher"]["value"] == gbp(voucher)
    assert await audit(settings) == []


async def test_a_course_under_a_deposit_pays_the_deposit_of_the_course_price(booking, booking_pool, checkout, settings):
    await set_policy(booking_pool, PERCENT_20)
    first = (await free_slots(booking, next_weekday(0, open_days=COURSE_DAYS)))[0]["start"]
    resp = await booking.post(
        "/api/v1/holds", json={"clinic": CLINIC, "course": COURSE, "therapist": THERAPIST, "start": first}
    )
    series = await resp.json()
    resp = await booking.post("/api/v1/bookings", json=booking_body(series["id"]))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["price"] == gbp(34500)
    assert body["amount_due"] == gbp(6900) and body["due_at_clinic"] == gbp(27600)

    await checkout.pay(body)

    confirmed = await confirmed_events(booking_pool)
    assert len(confirmed) == 6
    assert {c["due_at_clinic"]["amount"] for c in confirmed} == {27600}  # of the whole course, on each session
    assert await audit(settings) == []


async def test_a_deposit_too_small_for_a_card_is_raised_to_the_least_charge_not_refused(
    booking, booking_pool, payments_pool, checkout, settings
):
    # 1% of a £20 treatment is 20p, less than a card may be charged: every booking of it used to be refused.
    await set_policy(booking_pool, {"mode": "deposit", "deposit": {"percent": 1}})
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE treatments SET price_amount = 2000 WHERE id = $1", uuid.UUID(TREATMENT))
    body = await create_booking(booking)
    assert body["payment"]["amount"] == 50 and body["due_at_clinic"] == gbp(1950)
    await checkout.pay(body)
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(body["id"])) == "confirmed"
    assert await audit(settings) == []
