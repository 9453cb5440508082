"""The clinic API of the bookings' fees (issue 20), through the gateway with a clinic's key: each fee with what
became of it (charged off session to the saved card, or failed with why), newest first, one booking's on asking;
scoped to the key's clinic; a bad `booking` or `limit` is a 422 in the one error shape; never the pay link's token.
Fees are made as payments makes them: its consumer handling `booking.no_show` events (test_payments_fees.py)."""

from __future__ import annotations

import dataclasses
import uuid

from services.booking.seed import stable_id
from shared import contracts
from tests.integration.test_payments_fees import deliver, fee_row, marked, pay_token, saved_card_booking
from tests.support.clinic_api import bearer

FEES = "/api/v1/clinic/fees"


async def listed(gateway, key: str, query: str = "", status: int = 200) -> dict:
    resp = await gateway.get(f"{FEES}{query}", headers=bearer(key))
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_charged_and_failed_fees_are_listed_newest_first_with_what_became_of_them(
    gateway, keys, booking, payments, payments_pool, checkout, settings
):
    held = await saved_card_booking(booking, payments, payments_pool, checkout, settings)
    await deliver(checkout, payments_pool, marked(held["id"]))  # charged to the saved card
    no_card = str(uuid.uuid4())
    await deliver(checkout, payments_pool, marked(no_card, "late_cancellation", 2000))  # no card saved: failed
    charged, failed = (
        await fee_row(payments_pool, held["id"]),
        await fee_row(payments_pool, no_card, "late_cancellation"),
    )
    assert charged["status"] == "charged" and failed["status"] == "failed"

    resp = await gateway.get(FEES, headers=bearer(keys["urban-therapy"]))
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    text = await resp.text()
    assert (await resp.json())["fees"] == [
        {
            "id": str(failed["id"]),
            "booking_id": no_card,
            "kind": "late_cancellation",
            "amount": {"amount": 2000, "currency": "GBP"},
            "status": "failed",
            "failure": "No card was saved for this booking",
            "created_at": failed["created_at"].isoformat(),
            "via": None,
        },
        {
            "id": str(charged["id"]),
            "booking_id": held["id"],
            "kind": "no_show",
            "amount": {"amount": 3250, "currency": "GBP"},
            "status": "charged",
            "failure": None,
            "created_at": charged["created_at"].isoformat(),
            "via": "off_session",
        },
    ]
    # The pay link is the customer's: neither its token nor Stripe's ids nor the customer's email.
    assert pay_token(settings, failed["id"]) not in text and "pay_token" not in text
    assert charged["stripe_payment_intent"] not in text and "ada@example.com" not in text

    [one] = (await listed(gateway, keys["urban-therapy"], f"?booking={held['id']}"))["fees"]
    assert one["id"] == str(charged["id"])
    [newest] = (await listed(gateway, keys["urban-therapy"], "?limit=1"))["fees"]
    assert newest["id"] == str(failed["id"])
    assert (await listed(gateway, keys["urban-therapy"], f"?booking={uuid.uuid4()}"))["fees"] == []


async def test_another_clinics_key_sees_none_of_them(gateway, keys, payments_pool, checkout):
    ours = str(uuid.uuid4())
    await deliver(checkout, payments_pool, marked(ours))
    spinecare = contracts.ClinicRef(str(stable_id("spinecare")), "spinecare", "SpineCare Clinic", "Europe/London")
    theirs = str(uuid.uuid4())
    await deliver(checkout, payments_pool, dataclasses.replace(marked(theirs), clinic=spinecare))

    assert [f["booking_id"] for f in (await listed(gateway, keys["urban-therapy"]))["fees"]] == [ours]
    assert [f["booking_id"] for f in (await listed(gateway, keys["spinecare"]))["fees"]] == [theirs]
    assert (await listed(gateway, keys["spinecare"], f"?booking={ours}"))["fees"] == []
    resp = await gateway.get(FEES)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"


async def test_a_bad_booking_or_limit_is_a_422_naming_the_parameter(gateway, keys):
    for query, field in [
        ("?booking=not-a-uuid", "booking"),
        ("?booking=", "booking"),
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=ten", "limit"),
        ("?limit=", "limit"),
        ("?limit=%D9%A3", "limit"),  # a digit, but not an ASCII one
    ]:
        error = (await listed(gateway, keys["urban-therapy"], query, 422))["error"]
        assert error["code"] == "validation_failed", query
        assert [d["field"] for d in error["details"]] == [field], query
    assert (await listed(gateway, keys["urban-therapy"], "?limit=200"))["fees"] == []
