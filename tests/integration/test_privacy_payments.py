"""Data protection, the payments side (issue 19): the internal API the booking service calls to export what
payments holds about a clinic's customer, and to erase it. Payments, refunds and a voucher sale's money are kept;
names, emails and gift messages go; a voucher still in progress blocks the erasure."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import asyncpg
import pytest

from services.booking.seed import stable_id
from services.payments import voucher_service
from services.payments.voucher_service import CodeKeys
from tests.support.booking import booking_body, free_slots, hold
from tests.support.vouchers import buy_voucher, purchase_body

URBAN = str(stable_id("urban-therapy"))
SPINECARE = str(stable_id("spinecare"))
EXPORT, ERASE = "/internal/v1/privacy/export", "/internal/v1/privacy/erase"
ADA, GRACE = "ada@example.com", "Grace@Example.com"
# Every table of the payments service that holds a customer's data or money.
TABLES = ("vouchers", "voucher_changes", "payments", "refunds", "voucher_ledger", "voucher_redemptions")
MONEY_TABLES = ("payments", "refunds", "voucher_ledger", "voucher_redemptions")


def internal(settings) -> dict[str, str]:
    return {"X-Internal-Token": settings.internal_token}


async def export(payments, settings, email: str, clinic: str = URBAN) -> dict:
    resp = await payments.post(EXPORT, json={"clinic_id": clinic, "email": email}, headers=internal(settings))
    assert resp.status == 200, await resp.text()
    return (await resp.json())["records"]


async def erase(payments, settings, email: str, *, dry_run: bool, clinic: str = URBAN):
    return await payments.post(
        ERASE, json={"clinic_id": clinic, "email": email, "dry_run": dry_run}, headers=internal(settings)
    )


async def erased(payments, settings, email: str, *, dry_run: bool = False, clinic: str = URBAN) -> dict:
    resp = await erase(payments, settings, email, dry_run=dry_run, clinic=clinic)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def snapshot(pool, tables=TABLES) -> dict[str, list[dict]]:
    async with pool.acquire() as conn:
        return {t: [dict(r) for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY 1")] for t in tables}


async def gift_sent(pool, voucher_id: str) -> None:
    """Time passes: the voucher's delivery day is over, so its gift email has gone."""
    async with pool.acquire() as conn:
        await conn.execute("UPDATE vouchers SET deliver_on = current_date - 2 WHERE id = $1", uuid.UUID(voucher_id))


async def book_with_voucher(booking, code: str, *, slot_index: int = 0) -> dict:
    slot = (await free_slots(booking))[slot_index]
    held = await hold(booking, slot["start"])
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"], ADA, voucher_code=code))
    assert resp.status == 201, await resp.text()
    return await resp.json()


@pytest.fixture
async def history(booking, payments, payments_pool, checkout, settings) -> dict:
    """Ada bought a £60 voucher for Grace (whose address she corrected before it went), then booked a £65 massage
    paying £60 with a voucher and £5 by card, and cancelled it: the card part refunded, the voucher given back."""
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    voucher, code = await buy_voucher(
        payments,
        checkout,
        payments_pool,
        settings,
        recipient={"name": "Grace Hopper", "email": "grace@old.example.com"},
        deliver_on=tomorrow,
    )
    token = CodeKeys(settings.voucher_code_key).link_token("buyer", uuid.UUID(voucher["id"]))
    changed = await payments.patch(
        f"/api/v1/vouchers/{voucher['id']}/delivery", json={"token": token, "recipient_email": GRACE}
    )
    assert changed.status == 200, await changed.text()
    await gift_sent(payments_pool, voucher["id"])
    paid = await book_with_voucher(booking, code)
    assert paid["amount_due"] == {"amount": 500, "currency": "GBP"}
    await checkout.pay(paid)
    manage = paid["manage_url"].split("token=")[1]
    assert (await booking.post(f"/api/v1/bookings/{paid['id']}/cancel", json={"token": manage})).status == 200
    await checkout.event_path.drain()
    return {"voucher": voucher, "code": code, "booking": paid}


async def test_an_export_lists_every_kind_and_never_a_code(payments, payments_pool, settings, history):
    voucher, code = history["voucher"], history["code"]
    records = await export(payments, settings, " ADA@Example.com ")
    assert sorted(records) == ["fees", "payments", "vouchers_bought", "vouchers_received"]

    purchase, booking_payment = records["payments"]
    assert purchase["purpose"] == "voucher" and purchase["reference_id"] == voucher["id"]
    assert purchase["amount"] == {"amount": 6000, "currency": "GBP"} and purchase["refunds"] == []
    assert booking_payment["reference_id"] == history["booking"]["id"]
    assert booking_payment["amount_refunded"] == {"amount": 500, "currency": "GBP"}
    [refund] = booking_payment["refunds"]
    assert refund["amount"] == {"amount": 500, "currency": "GBP"} and refund["reason"] == "cancelled_by_customer"
    assert booking_payment["customer_email"] == ADA and "client_secret" not in booking_payment

    [bought] = records["vouchers_bought"]
    assert bought["id"] == voucher["id"] and bought["code_last4"] == code[-4:] and bought["erased"] is False
    assert bought["buyer"] == {"name": "Ada Lovelace", "email": ADA}
    assert bought["recipient"] == {"name": "Grace Hopper", "email": GRACE}
    assert bought["message"] == "Happy birthday!" and bought["price"] == {"amount": 6000, "currency": "GBP"}
    assert [(e["entry"], e["change"]["amount"], e["balance_after"]["amount"]) for e in bought["ledger"]] == [
        ("issue", 6000, 6000),
        ("redeem", -6000, 0),
        ("refund", 6000, 6000),
    ]
    [redemption] = bought["redemptions"]
    assert redemption["reference_id"] == history["booking"]["id"] and redemption["status"] == "refunded"
    assert redemption["value"] == {"amount": 6000, "currency": "GBP"}
    assert [(c["field"], c["from"], c["to"]) for c in bought["changes"]] == [
        ("recipient_email", "grace@old.example.com", GRACE)
    ]
    assert records["vouchers_received"] == []

    grace = await export(payments, settings, "grace@example.com")
    assert grace["payments"] == [] and grace["vouchers_bought"] == []
    [received] = grace["vouchers_received"]
    assert received["id"] == voucher["id"]
    assert received["buyer"] == {"name": "Ada Lovelace", "email": None}, "the buyer's address is not the recipient's"
    assert [(c["from"], c["to"]) for c in received["changes"]] == [("[another address]", GRACE)]

    text = json.dumps([records, grace])
    assert code not in text and code.replace("-", "") not in text
    assert "code_hash" not in text and "code_ciphertext" not in text
    assert await export(payments, settings, ADA, clinic=SPINECARE) == {
        "payments": [],
        "vouchers_bought": [],
        "vouchers_received": [],
        "fees": [],
    }, "another clinic holds nothing of hers"


async def test_a_dry_run_counts_and_changes_nothing(payments, payments_pool, settings, history):
    before = await snapshot(payments_pool)
    ada = await erased(payments, settings, ADA, dry_run=True)
    assert ada == {
        "erase": {"vouchers_bought": 1, "vouchers_received": 0, "voucher_changes": 0, "stripe_customers": 0},
        "keep": {"payments": 2, "refunds": 1, "voucher_sales": 1, "fees": 0},
        "blockers": [],
    }
    grace = await erased(payments, settings, "GRACE@example.com", dry_run=True)
    assert grace["erase"] == {"vouchers_bought": 0, "vouchers_received": 1, "voucher_changes": 1, "stripe_customers": 0}
    assert grace["keep"] == {"payments": 0, "refunds": 0, "voucher_sales": 0, "fees": 0}
    assert await snapshot(payments_pool) == before


async def test_erasing_anonymises_the_people_and_keeps_the_money(
    booking, payments, payments_pool, checkout, settings, history
):
    voucher_id = uuid.UUID(history["voucher"]["id"])
    # Another buyer at this clinic, and Ada at another clinic: neither is touched.
    other, _ = await buy_voucher(
        payments, checkout, payments_pool, settings, buyer={"name": "Bob", "email": "bob@example.com"}
    )
    elsewhere, _ = await buy_voucher(payments, checkout, payments_pool, settings, clinic="spinecare")
    for v in (other, elsewhere):
        await gift_sent(payments_pool, v["id"])
    before = await snapshot(payments_pool)

    assert await erased(payments, settings, ADA) == {
        "erased": {"vouchers_bought": 1, "vouchers_received": 0, "voucher_changes": 0, "stripe_customers": 0},
        "kept": {"payments": 2, "refunds": 1, "voucher_sales": 1, "fees": 0},
    }
    async with payments_pool.acquire() as conn:
        mine = await conn.fetchrow("SELECT * FROM vouchers WHERE id = $1", voucher_id)
    assert (mine["buyer_name"], mine["buyer_email"], mine["message"]) == (None, None, ""), "her words go with her"
    assert (mine["recipient_name"], mine["recipient_email"]) == ("Grace Hopper", GRACE), "Grace is not erased yet"
    assert await erased(payments, settings, " grace@EXAMPLE.com") == {
        "erased": {"vouchers_bought": 0, "vouchers_received": 2, "voucher_changes": 1, "stripe_customers": 0},
        "kept": {"payments": 0, "refunds": 0, "voucher_sales": 0, "fees": 0},
    }

    after = await snapshot(payments_pool)
    for table in MONEY_TABLES:
        assert after[table] == before[table], f"{table} are kept whole"
    rows = {r["id"]: r for r in after["vouchers"]}
    mine = rows[voucher_id]
    assert (mine["buyer_name"], mine["buyer_email"], mine["recipient_name"], mine["recipient_email"]) == (None,) * 4
    assert mine["message"] == "" and mine["erased_at"] is not None
    assert (mine["balance"], mine["price_amount"], mine["vat_class"], mine["status"]) == (
        6000,
        6000,
        "multi_purpose",
        "active",
    )
    [change] = after["voucher_changes"]
    assert (change["old_value"], change["new_value"]) == ("grace@old.example.com", "[erased]")
    # Bob's voucher went to Grace too: she is gone from it, Bob is not. At the other clinic nothing changed.
    bob = rows[uuid.UUID(other["id"])]
    assert (bob["buyer_email"], bob["recipient_email"], bob["message"]) == ("bob@example.com", None, "")
    assert rows[uuid.UUID(elsewhere["id"])] in before["vouchers"]

    # With no address left, no expiry notice is ever attempted for Grace's vouchers.
    async with payments_pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE vouchers SET expires_at = now() + interval '20 days' WHERE clinic_id = $1", uuid.UUID(URBAN)
        )
        assert await voucher_service.announce_expiring(conn) == 0
        # Nor after a reactivation, which clears the stamp erasure set.
        await conn.execute("UPDATE vouchers SET expiry_notice_at = NULL WHERE clinic_id = $1", uuid.UUID(URBAN))
        assert await voucher_service.announce_expiring(conn) == 0
    # A later export still finds Ada's payments and the sale of what she bought, without her on it.
    records = await export(payments, settings, ADA)
    assert len(records["payments"]) == 2 and records["payments"][1]["customer_email"] == ADA
    [bought] = records["vouchers_bought"]
    assert bought["erased"] is True and bought["buyer"] == {"name": None, "email": None} and bought["message"] == ""
    assert [e["entry"] for e in bought["ledger"]] == ["issue", "redeem", "refund"]
    assert (await export(payments, settings, GRACE))["vouchers_received"] == []
    # The voucher still pays by its code.
    balance = await payments.post("/api/v1/vouchers/balance", json={"code": history["code"]})
    assert balance.status == 200 and (await balance.json())["remaining"] == {"amount": 6000, "currency": "GBP"}
    again = await book_with_voucher(booking, history["code"], slot_index=1)
    assert again["payment"]["voucher"]["value"] == {"amount": 6000, "currency": "GBP"}


async def test_erasing_again_erases_nothing_and_keeps_the_same(payments, payments_pool, settings, history):
    first = await erased(payments, settings, ADA)
    await erased(payments, settings, GRACE)
    before = await snapshot(payments_pool)
    assert await erased(payments, settings, ADA) == {
        "erased": {"vouchers_bought": 0, "vouchers_received": 0, "voucher_changes": 0, "stripe_customers": 0},
        "kept": first["kept"],
    }
    assert (await erased(payments, settings, GRACE))["erased"] == {
        "vouchers_bought": 0,
        "vouchers_received": 0,
        "voucher_changes": 0,
        "stripe_customers": 0,
    }
    assert (await erased(payments, settings, ADA, dry_run=True))["erase"] == {
        "vouchers_bought": 0,
        "vouchers_received": 0,
        "voucher_changes": 0,
        "stripe_customers": 0,
    }
    assert await snapshot(payments_pool) == before


async def test_a_voucher_awaiting_payment_blocks_the_erasure_and_nothing_changes(
    payments, payments_pool, checkout, settings, history
):
    resp = await payments.post("/api/v1/vouchers", json=purchase_body(deliver_on=date.today().isoformat()))
    assert resp.status == 201
    unpaid = await resp.json()  # Ada is at the card form
    [blocker] = (await erased(payments, settings, ADA, dry_run=True))["blockers"]
    assert blocker["code"] == "customer_has_vouchers_in_progress" and "awaiting payment" in blocker["message"]
    assert blocker["details"]["vouchers"] == [
        {
            "voucher_id": unpaid["id"],
            "roles": ["buyer"],
            "reason": "awaiting_payment",
            "deliver_on": date.today().isoformat(),
        }
    ]
    before = await snapshot(payments_pool)
    resp = await erase(payments, settings, ADA, dry_run=False)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "customer_has_vouchers_in_progress" and error["details"] == {"blockers": [blocker]}
    assert await snapshot(payments_pool) == before, "nothing changed"
    # Grace is waiting for that gift: she cannot be erased either.
    assert (await erase(payments, settings, GRACE, dry_run=False)).status == 409

    # A purchase whose payment was cancelled is never issued: it holds nothing up, and loses its people too.
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE payments SET status = 'canceled' WHERE reference_id = $1", uuid.UUID(unpaid["id"]))
    assert (await erased(payments, settings, ADA))["erased"]["vouchers_bought"] == 2


async def test_a_gift_email_not_sent_yet_blocks_its_buyer_and_its_recipient(
    payments, payments_pool, checkout, settings
):
    voucher, _ = await buy_voucher(payments, checkout, payments_pool, settings)  # goes tomorrow morning
    for email, roles in ((ADA, ["buyer"]), (GRACE, ["recipient"])):
        resp = await erase(payments, settings, email, dry_run=False)
        assert resp.status == 409
        [blocker] = (await resp.json())["error"]["details"]["blockers"]
        [held_up] = blocker["details"]["vouchers"]
        assert held_up["voucher_id"] == voucher["id"] and held_up["roles"] == roles
        assert held_up["reason"] == "gift_email_not_sent" and "gift emails not sent yet" in blocker["message"]
    await gift_sent(payments_pool, voucher["id"])
    assert (await erased(payments, settings, ADA))["erased"]["vouchers_bought"] == 1
    assert (await erased(payments, settings, GRACE))["erased"]["vouchers_received"] == 1


async def test_the_privacy_api_is_internal_only(payments, settings):
    subject = {"clinic_id": URBAN, "email": ADA}
    for path, body in ((EXPORT, subject), (ERASE, subject | {"dry_run": True})):
        for headers in ({}, {"X-Internal-Token": "not-the-token"}):
            resp = await payments.post(path, json=body, headers=headers)
            assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"clinic_id": "urban-therapy", "email": ADA, "dry_run": True}, "clinic_id"),
        ({"clinic_id": URBAN, "email": "not an email", "dry_run": True}, "email"),
        ({"clinic_id": URBAN, "email": "", "dry_run": True}, "email"),
        ({"clinic_id": URBAN, "email": ADA}, "dry_run"),
        ({"clinic_id": URBAN, "email": ADA, "dry_run": "yes"}, "dry_run"),
    ],
)
async def test_a_bad_request_is_422_in_the_error_shape(payments, settings, body, field):
    resp = await payments.post(ERASE, json=body, headers=internal(settings))
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "validation_failed" and [d["field"] for d in error["details"]] == [field]
    if field != "dry_run":
        body.pop("dry_run")
        resp = await payments.post(EXPORT, json=body, headers=internal(settings))
        assert resp.status == 422 and (await resp.json())["error"]["details"][0]["field"] == field


async def test_only_an_erased_voucher_may_lack_its_people(payments, payments_pool, checkout, settings):
    voucher, _ = await buy_voucher(payments, checkout, payments_pool, settings)
    async with payments_pool.acquire() as conn:
        for column in ("buyer_name", "buyer_email", "recipient_name", "recipient_email"):
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(f"UPDATE vouchers SET {column} = NULL WHERE id = $1", uuid.UUID(voucher["id"]))
        await conn.execute(
            "UPDATE vouchers SET buyer_name = NULL, erased_at = now() WHERE id = $1", uuid.UUID(voucher["id"])
        )
