"""Issue 19's proof of a customer's data rights, on a whole journey through the gateway and all three services:
a customer books with a health screening and pays, buys a gift for someone, receives one and redeems it against
a second booking; the clinic exports everything held about her (every kind of record), erases her, and a second
export shows only what the law keeps. Then a scan of every table finds her email only where the law keeps it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from services.notifications.emails.tasks import claim_due_voucher_deliveries, send_voucher_gift
from tests.support.booking import booking_body, free_slots, hold, next_weekday
from tests.support.clinic_api import bearer
from tests.support.notifications import run_task, sink, task_env  # noqa: F401 (fixtures)
from tests.support.vouchers import issued_code, purchase_body

ADA = "Ada.Lovelace@Example.com"  # as she typed it once: matched without regard to case
ADA_LOWER = ADA.lower()
SCREENING = {
    "bladder_bowel": False,
    "saddle_numbness": False,
    "both_legs_weakness": False,
    "calf_swelling": False,
    "acute_inflammation": False,
    "pain_both_legs": True,  # a flag: the therapist checks it; the booking goes ahead
    "worsening_numbness": False,
}
# Where her email may stay after erasure: the payment records (HMRC), and the outbox copies of events that age out
# with the relay's republish window (docs/privacy.md).
KEPT_BY_LAW = {("payments", "payments"), ("booking", "outbox"), ("payments", "outbox")}


async def _book(gateway, *, email: str, day, voucher_code: str | None = None, slot_index: int = 0) -> dict:
    slot = (await free_slots(gateway, day))[slot_index]
    held = await hold(gateway, slot["start"])
    body = booking_body(held["id"], email, SCREENING)
    body["customer"]["phone"] = "+44 7700 900123"
    body["customer"]["date_of_birth"] = "1990-12-10"
    if voucher_code:
        body["voucher_code"] = voucher_code
    resp = await gateway.post("/api/v1/bookings", json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _buy_gift(gateway, checkout, payments_pool, settings, *, buyer: dict, recipient: dict) -> tuple[dict, str]:
    today = datetime.now(ZoneInfo("Europe/London")).date().isoformat()
    resp = await gateway.post(
        "/api/v1/vouchers", json=purchase_body(buyer=buyer, recipient=recipient, deliver_on=today, message="For you")
    )
    assert resp.status == 201, await resp.text()
    voucher = await resp.json()
    await checkout.pay(voucher)
    return voucher, await issued_code(payments_pool, voucher["id"], settings)


async def _send_gifts_a_day_later(payments_pool, notifications_pool) -> None:
    """A day passes (the gifts were due yesterday morning); then Celery beat's claim of the due gifts and each gift
    email's task, as the worker runs them."""
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE vouchers SET deliver_on = deliver_on - 1")
    async with notifications_pool.acquire() as conn:
        await conn.execute(
            "UPDATE voucher_deliveries SET deliver_on = deliver_on - 1, due_at = due_at - interval '1 day'"
        )
    await run_task(claim_due_voucher_deliveries, datetime.now(timezone.utc).isoformat())
    async with notifications_pool.acquire() as conn:
        ids = await conn.fetch("SELECT id FROM voucher_deliveries WHERE status = 'claimed'")
    for row in ids:
        assert (await run_task(send_voucher_gift, str(row["id"]))).result == "sent"


async def _export(gateway, key: str) -> dict:
    resp = await gateway.post("/api/v1/clinic/privacy/export", json={"email": ADA}, headers=bearer(key))
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="customer-data-')
    return await resp.json()


async def _tables_mentioning(pools: dict, needle: str) -> set[tuple[str, str]]:
    """Every (schema, table) with a row whose text mentions `needle`, case-insensitively."""
    found = set()
    for schema, pool in pools.items():
        async with pool.acquire() as conn:
            tables = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
                schema,
            )
            for row in tables:
                name = row["table_name"]
                hit = await conn.fetchval(
                    f'SELECT EXISTS (SELECT 1 FROM {schema}."{name}" t WHERE t::text ILIKE $1)', f"%{needle}%"
                )
                if hit:
                    found.add((schema, name))
    return found


@pytest.fixture
async def journey(
    gateway,
    keys,
    checkout,
    linked,
    settings,
    booking_pool,
    payments_pool,
    notifications_pool,
    task_env,  # noqa: F811
    sink,  # noqa: F811
    monkeypatch,
):
    """Ada's whole journey at urban-therapy; returns what the test needs to find it again."""
    ports, _ = linked
    monkeypatch.setenv("PAYMENTS_URL", f"http://127.0.0.1:{ports['payments']}")  # the gift task asks payments
    key = keys["urban-therapy"]
    hook = await gateway.post(
        "/api/v1/clinic/webhook-endpoints",
        headers=bearer(key),
        json={"url": "http://127.0.0.1:9/hooks", "events": ["booking.created", "booking.cancelled"]},
    )
    assert hook.status == 201, await hook.text()

    # 1. A booking with a health screening, paid by card; then cancelled by her (refunded in full).
    first = await _book(gateway, email=ADA, day=next_weekday(1, weeks_ahead=2))
    await checkout.pay(first)
    token = first["manage_url"].split("token=", 1)[1]
    cancelled = await gateway.post(f"/api/v1/bookings/{first['id']}/cancel", json={"token": token})
    assert cancelled.status == 200, await cancelled.text()
    await checkout.event_path.drain()
    await checkout.reconcile()

    # 2. A gift she buys for Grace, and one Bob buys for her; both delivered.
    bought, _ = await _buy_gift(
        gateway,
        checkout,
        payments_pool,
        settings,
        buyer={"name": "Ada Lovelace", "email": ADA},
        recipient={"name": "Grace Hopper", "email": "grace@example.com"},
    )
    received, code = await _buy_gift(
        gateway,
        checkout,
        payments_pool,
        settings,
        buyer={"name": "Bob Babbage", "email": "bob@example.com"},
        recipient={"name": "Ada Lovelace", "email": ADA},
    )
    await checkout.event_path.drain()
    await _send_gifts_a_day_later(payments_pool, notifications_pool)

    # 3. A second booking, paid partly by the gift she received and the rest by card; she then has the visit.
    second = await _book(gateway, email=ADA, day=next_weekday(3, weeks_ahead=2), voucher_code=code)
    assert second["payment"]["voucher"], second
    await checkout.pay(second)
    await checkout.event_path.drain()
    async with booking_pool.acquire() as conn:  # the visit happened last week
        await conn.execute(
            "UPDATE bookings SET starts_at = starts_at - interval '35 days', ends_at = ends_at - interval '35 days',"
            " blocked = tstzrange(lower(blocked) - interval '35 days', upper(blocked) - interval '35 days')"
            " WHERE id = $1",
            uuid.UUID(second["id"]),
        )
    done = await gateway.post(f"/api/v1/clinic/bookings/{second['id']}/complete", headers=bearer(key))
    assert done.status == 200, await done.text()
    await checkout.event_path.drain()
    return {"key": key, "first": first, "second": second, "bought": bought, "received": received}


async def test_export_erase_and_export_again_keep_only_what_the_law_keeps(
    journey, gateway, booking_pool, payments_pool, notifications_pool
):
    key = journey["key"]
    pools = {"booking": booking_pool, "payments": payments_pool, "notifications": notifications_pool}

    # The export: every kind of record the journey made.
    before = await _export(gateway, key)
    assert before["format"] == "customer-data/1" and before["email"] == ADA_LOWER
    assert before["clinic"]["slug"] == "urban-therapy"
    assert "Ada Lovelace" in before["customer"]["names"] and "+44 7700 900123" in before["customer"]["phones"]
    assert before["customer"]["dates_of_birth"] == ["1990-12-10"]
    bookings = {b["id"]: b for b in before["bookings"]}
    assert set(bookings) == {journey["first"]["id"], journey["second"]["id"]}
    for booking in bookings.values():
        screening = booking["screening"]
        assert screening["answers"] == SCREENING and screening["outcome"] == "flag"
        assert screening["restricted"] is False and screening["retain_until"]
    assert bookings[journey["second"]["id"]]["status"] == "completed"
    by_reference = {p["reference_id"]: p for p in before["payments"]}
    assert by_reference[journey["first"]["id"]]["refunds"], "the cancelled booking's refund"
    assert journey["second"]["id"] in by_reference and journey["bought"]["id"] in by_reference
    [bought] = before["vouchers_bought"]
    [received] = before["vouchers_received"]
    assert bought["id"] == journey["bought"]["id"] and received["id"] == journey["received"]["id"]
    assert [e["entry"] for e in received["ledger"]] == ["issue", "redeem"] and received["redemptions"]
    assert "code" not in received and "code_hash" not in received
    kinds = {e["kind"] for e in before["emails"]}
    assert {"booking_confirmed", "booking_cancelled", "payment_refunded", "voucher_receipt"} <= kinds, kinds
    [gift] = before["gift_emails"]  # the email with the code she received: when it went, never its text
    assert gift["voucher_id"] == journey["received"]["id"] and gift["status"] == "sent"
    assert before["reminders"], "the reminders planned for her bookings"
    assert before["webhook_deliveries"], "the deliveries that carried her details to the clinic's systems"

    # Erasure: a dry run says what goes and what stays, and changes nothing.
    dry = await gateway.post("/api/v1/clinic/privacy/erase", json={"email": ADA, "dry_run": True}, headers=bearer(key))
    assert dry.status == 200, await dry.text()
    preview = await dry.json()
    assert preview["blockers"] == [] and preview["keep"]["payments"] == 3
    unchanged = await _export(gateway, key)
    assert (unchanged["bookings"], unchanged["vouchers_bought"], unchanged["emails"]) == (
        before["bookings"],
        before["vouchers_bought"],
        before["emails"],
    ), "a dry run changes nothing"
    erased = await gateway.post("/api/v1/clinic/privacy/erase", json={"email": ADA}, headers=bearer(key))
    assert erased.status == 200, await erased.text()
    result = await erased.json()
    assert result["kept"]["payments"] == 3 and result["request"]["email_masked"].startswith("a")
    assert ADA_LOWER not in str(result)

    # The second export: what the law keeps, and no more.
    after = await _export(gateway, key)
    assert {p["reference_id"] for p in after["payments"]} == set(by_reference), "payment records kept"
    assert after["customer"] == {"names": [], "phones": [], "dates_of_birth": []}
    [sale] = after["vouchers_bought"]  # the sale she paid for stays a VAT record, without her or her message
    assert sale["erased"] is True and sale["buyer"] == {"name": None, "email": None} and sale["message"] == ""
    assert sale["ledger"] == bought["ledger"]
    assert after["vouchers_received"] == []
    assert after["emails"] == [] and after["reminders"] == [] and after["webhook_deliveries"] == []
    assert after["gift_emails"] == [], "the voucher she received no longer names her"
    assert {b["id"] for b in after["bookings"]} == set(bookings), "the restricted health records"
    for booking in after["bookings"]:
        assert booking["erased"] is True and booking["customer"]["email"] is None
        assert booking["customer"]["name"] is None and booking["customer"]["phone"] is None
        assert booking["screening"]["restricted"] is True and booking["screening"]["answers"] == SCREENING
    assert [r["kind"] for r in after["privacy_requests"]][:2] == ["erase", "export"] or {
        r["kind"] for r in after["privacy_requests"]
    } >= {"export", "erase"}

    # Nowhere else does her address, name or phone remain.
    assert await _tables_mentioning(pools, ADA_LOWER) <= KEPT_BY_LAW
    assert await _tables_mentioning(pools, "Ada Lovelace") <= KEPT_BY_LAW | {("payments", "payments")}
    assert await _tables_mentioning(pools, "7700 900123") <= {("booking", "outbox")}

    # The clinic's views no longer show her health answers; the voucher she received still works by its code.
    view = await gateway.get(f"/api/v1/clinic/bookings/{journey['second']['id']}", headers=bearer(key))
    assert view.status == 200
    assert "answers" not in str((await view.json()).get("screening"))

    # Erasing again changes nothing and says so.
    again = await gateway.post("/api/v1/clinic/privacy/erase", json={"email": ADA}, headers=bearer(key))
    assert again.status == 200
    assert sum((await again.json())["erased"].values()) == 0


async def test_erasure_waits_for_what_is_still_to_come(journey, gateway, booking_pool):
    """A booking still ahead: 409 with it named, and nothing erased anywhere."""
    key = journey["key"]
    upcoming = await _book(gateway, email=ADA, day=next_weekday(4, weeks_ahead=3))
    resp = await gateway.post("/api/v1/clinic/privacy/erase", json={"email": ADA}, headers=bearer(key))
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "customer_has_upcoming_bookings" and upcoming["id"] in str(error["details"])
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE erased_at IS NOT NULL") == 0
    after = await _export(gateway, key)
    assert after["vouchers_bought"] and after["emails"], "nothing erased in payments or notifications either"


async def test_another_clinic_finds_none_of_her_records_and_bad_requests_change_nothing(gateway, keys, journey):
    other = await gateway.post("/api/v1/clinic/privacy/export", json={"email": ADA}, headers=bearer(keys["spinecare"]))
    assert other.status == 200, await other.text()
    found = await other.json()
    for kind in ("bookings", "payments", "vouchers_bought", "vouchers_received", "emails", "reminders"):
        assert found[kind] == [], f"spinecare sees urban-therapy's {kind}"
    assert found["customer"] == {"names": [], "phones": [], "dates_of_birth": []}
    erased = await gateway.post("/api/v1/clinic/privacy/erase", json={"email": ADA}, headers=bearer(keys["spinecare"]))
    assert erased.status == 200 and sum((await erased.json())["erased"].values()) == 0
    assert (await _export(gateway, journey["key"]))["vouchers_bought"], "urban-therapy's records untouched"
    for body in ({"email": "not an email"}, {}, {"email": ["a@b.c"]}):
        bad = await gateway.post("/api/v1/clinic/privacy/export", json=body, headers=bearer(journey["key"]))
        assert bad.status == 422, body
    anonymous = await gateway.post("/api/v1/clinic/privacy/export", json={"email": ADA})
    assert anonymous.status == 401
