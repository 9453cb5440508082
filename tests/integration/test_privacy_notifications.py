"""Data protection, the notifications service's part, on real PostgreSQL: the internal export finds one clinic's
emails, reminders and webhook deliveries for one address (any case) and nothing of other clinics or customers;
erasure redacts them and keeps the rows (a replayed event sends nothing again), touches nothing else, is
idempotent, and its dry run changes nothing; both need the internal token."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.notifications.app import create_app as create_notifications_app
from services.notifications.consumer import build_handlers
from services.notifications.emails.tasks import send_recorded_email
from services.notifications.webhooks import store as webhook_store
from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.events import Event
from shared.streams import HandlerContext
from tests.support.events import SAMPLE_CLINIC_ID
from tests.support.notifications import booking_event, hours_from_now, voucher_purchased

CLINIC_A = SAMPLE_CLINIC_ID
CLINIC_B = str(uuid.uuid4())
ADA = "ada@example.com"
GRACE = "grace@example.com"
NEVADA = "nev" + ADA
EXPORT, ERASE = "/internal/v1/privacy/export", "/internal/v1/privacy/erase"


class Handled:
    """Events through the notifications consumer's handlers (emails, projection, reminders, webhook fan-out), each
    in its own transaction, with what they started after commit."""

    def __init__(self, pool, settings):
        self.pool = pool
        self.emails: list[uuid.UUID] = []
        self.handlers = build_handlers(settings, self._email, self._delivery)

    async def _email(self, email_id):
        self.emails.append(email_id)

    async def _delivery(self, _delivery_id, _attempt):
        pass

    async def __call__(self, event: Event) -> Event:
        async with self.pool.acquire() as conn, conn.transaction():
            ctx = HandlerContext(conn)
            await self.handlers[event.type](ctx, event)
        for start in ctx._after_commit:  # as shared.streams runs them
            if asyncio.iscoroutine(started := start()):
                await started
        return event


def at_clinic(event: Event, clinic_id: str) -> Event:
    data = {**event.data, "booking_id": str(uuid.uuid4())}
    if "clinic" in data:
        data["clinic"] = {**data["clinic"], "id": clinic_id, "slug": f"clinic-{clinic_id[:8]}"}
    return Event(event.type, data, clinic_id=clinic_id, occurred_at=event.occurred_at)


@pytest.fixture
async def notifications(settings, aiohttp_client):
    return await aiohttp_client(create_notifications_app(settings))


@pytest.fixture
def internal(settings) -> dict:
    return {INTERNAL_TOKEN_HEADER: settings.internal_token}


@pytest.fixture
async def world(settings, notifications_pool):
    """Ada (booked at A, as "Ada@Example.COM", and buyer of a voucher for Grace there; booked at B too), Grace and
    Nevada (booked at A); each clinic with a webhook endpoint that has answered every delivery."""
    async with notifications_pool.acquire() as conn:
        for clinic in (CLINIC_A, CLINIC_B):
            await webhook_store.insert_endpoint(
                conn,
                uuid.UUID(clinic),
                "http://127.0.0.1:9/hook",
                "",
                ["booking.created", "voucher.purchased"],
                None,
                "whsec_" + "A" * 32,
            )
    handle = Handled(notifications_pool, settings)
    start = hours_from_now(72)
    events = {
        "ada_at_a": await handle(booking_event(email="Ada@Example.COM", start=start)),
        "voucher_at_a": await handle(voucher_purchased(deliver_on="2030-01-01")),
        "grace_at_a": await handle(
            booking_event(booking_id=str(uuid.uuid4()), email=GRACE, name="Grace Hopper", start=start)
        ),
        "ada_at_b": await handle(at_clinic(booking_event(email=ADA, start=start), CLINIC_B)),
        # Her address is part of Nevada's: a payload's text holds it, yet it is not Ada's.
        "nevada_at_a": await handle(
            booking_event(booking_id=str(uuid.uuid4()), email=NEVADA, name="Nevada Smith", start=start)
        ),
    }
    async with notifications_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO webhook_attempts (delivery_id, status_code, latency_ms, response)
               SELECT id, 200, 5, 'thanks, ' || (payload::text) FROM webhook_deliveries"""
        )
    handle.emails.clear()
    return handle, events


async def everything(pool) -> dict[str, list]:
    """Every row of the tables erasure may touch, comparable."""
    tables = {
        "emails": "SELECT * FROM emails ORDER BY id",
        "projection": "SELECT * FROM booking_projection ORDER BY booking_id",
        "reminders": "SELECT * FROM reminders ORDER BY id",
        "deliveries": "SELECT * FROM webhook_deliveries ORDER BY id",
        "attempts": "SELECT * FROM webhook_attempts ORDER BY id",
    }
    async with pool.acquire() as conn:
        return {name: [dict(r) for r in await conn.fetch(sql)] for name, sql in tables.items()}


async def call(client, path: str, headers: dict, **body):
    resp = await client.post(path, headers=headers, json=body)
    return resp.status, await resp.json()


async def test_the_export_finds_this_clinic_s_records_of_the_address_only(
    notifications, internal, world, notifications_pool
):
    _, events = world
    status, body = await call(notifications, EXPORT, internal, clinic_id=CLINIC_A, email="  ADA@example.com ")
    assert status == 200
    records = body["records"]
    async with notifications_pool.acquire() as conn:
        ada_emails = await conn.fetch(
            "SELECT id, event_id, kind FROM emails WHERE clinic_id = $1 AND lower(to_address) = $2", CLINIC_A, ADA
        )
    assert {e["kind"] for e in ada_emails} == {"booking_confirmed", "voucher_receipt"}
    assert sorted(e["id"] for e in records["emails"]) == sorted(str(e["id"]) for e in ada_emails)
    confirmation = next(e for e in records["emails"] if e["kind"] == "booking_confirmed")
    assert confirmation["status"] == "pending" and confirmation["erased"] is False
    assert "Deep tissue" in confirmation["text_body"]
    ada_booking = events["ada_at_a"].data["booking_id"]
    assert [r["booking_id"] for r in records["reminders"]] == [ada_booking, ada_booking], "24 h and 2 h before"
    assert {r["status"] for r in records["reminders"]} == {"planned"}
    types = sorted(d["event_type"] for d in records["webhook_deliveries"])
    assert types == ["booking.created", "voucher.purchased"]
    booked = next(d for d in records["webhook_deliveries"] if d["event_type"] == "booking.created")
    assert booked["payload"]["data"]["booking_id"] == ada_booking
    # Neither Grace's nor Nevada's booking at A, nor Ada's at B.
    flat = str(records)
    for other in ("grace_at_a", "nevada_at_a", "ada_at_b"):
        assert events[other].data["booking_id"] not in flat, other

    status, body = await call(notifications, EXPORT, internal, clinic_id=CLINIC_B, email=ADA)
    assert status == 200 and len(body["records"]["emails"]) == 1
    assert [d["payload"]["data"]["booking_id"] for d in body["records"]["webhook_deliveries"]] == [
        events["ada_at_b"].data["booking_id"]
    ]
    status, body = await call(notifications, EXPORT, internal, clinic_id=CLINIC_A, email="nobody@example.com")
    assert body == {"records": {"emails": [], "gift_emails": [], "reminders": [], "webhook_deliveries": []}}


async def test_a_dry_run_counts_and_changes_nothing(notifications, internal, world, notifications_pool):
    before = await everything(notifications_pool)
    status, body = await call(notifications, ERASE, internal, clinic_id=CLINIC_A, email=ADA, dry_run=True)
    assert status == 200
    assert body == {
        "erase": {"emails": 2, "emails_mentioning": 0, "booking_copies": 1, "webhook_deliveries": 2},
        "keep": {},
        "blockers": [],
    }
    assert await everything(notifications_pool) == before


async def test_erasure_redacts_keeps_the_rows_and_touches_nothing_else(
    notifications, internal, world, notifications_pool, settings
):
    handle, events = world
    before = await everything(notifications_pool)
    status, body = await call(notifications, ERASE, internal, clinic_id=CLINIC_A, email="ADA@EXAMPLE.com")
    assert status == 200
    assert body == {
        "erased": {"emails": 2, "emails_mentioning": 0, "booking_copies": 1, "webhook_deliveries": 2},
        "kept": {},
    }
    after = await everything(notifications_pool)

    # Emails: the rows stay, with nothing of Ada; one not yet sent never will be.
    assert len(after["emails"]) == len(before["emails"])
    erased = [e for e in after["emails"] if e["erased_at"] is not None]
    assert {e["event_id"] for e in erased} == {events["ada_at_a"].id, events["voucher_at_a"].id}
    for email in erased:
        assert (email["to_address"], email["subject"], email["text_body"], email["html_body"]) == (
            "",
            "[erased]",
            "",
            None,
        )
        assert email["attachments"] == [] and email["clinic_id"] == CLINIC_A
        assert (email["status"], email["last_error"]) == ("failed", "erased before it was sent")
        async with notifications_pool.acquire() as conn:
            assert await send_recorded_email(conn, settings, email["id"]) == "skipped"
    assert not [e for e in after["emails"] if e["clinic_id"] == CLINIC_A and e["to_address"].lower() == ADA]

    # The projection's copy of Ada's booking at A: no name, email or manage link; Grace's and B's as they were.
    projection = {str(p["booking_id"]): p for p in after["projection"]}
    ada_copy = projection[events["ada_at_a"].data["booking_id"]]
    assert (ada_copy["customer_name"], ada_copy["customer_email"], ada_copy["manage_url"]) == (None, None, None)

    # Deliveries: the person out, type, time and ids in; the receivers' answers (which echoed them) gone.
    deliveries = {
        d["payload"]["data"].get("booking_id", d["payload"]["data"].get("voucher_id")): d for d in after["deliveries"]
    }
    booked = deliveries[events["ada_at_a"].data["booking_id"]]
    assert booked["payload"]["type"] == "booking.created" and booked["payload"]["timestamp"]
    assert booked["payload"]["data"]["customer"] == {"erased": True}
    assert booked["payload"]["data"]["manage_url"] is None
    assert booked["payload"]["data"]["therapist"] == {"id": "p1", "name": "Amara Okafor"}
    assert booked["payload_pruned_at"] is None, "erasure is not pruning"
    voucher = deliveries[events["voucher_at_a"].data["voucher_id"]]
    assert voucher["payload"]["data"]["buyer"] == {"erased": True}
    assert voucher["payload"]["data"]["recipient"] == {"name": "Grace Hopper", "email": GRACE}, "not Grace"
    erased_ids = {booked["id"], voucher["id"]}
    for attempt in after["attempts"]:
        assert (attempt["response"] is None) == (attempt["delivery_id"] in erased_ids)

    # Everything else is exactly as it was: Grace and Nevada at A, Ada at B.
    def others(rows, erased_keys):
        return [r for r in rows if r[erased_keys[0]] not in erased_keys[1]]

    erased_email_ids = {e["id"] for e in erased}
    assert others(after["emails"], ("id", erased_email_ids)) == others(before["emails"], ("id", erased_email_ids))
    ada_booking = uuid.UUID(events["ada_at_a"].data["booking_id"])
    assert others(after["projection"], ("booking_id", {ada_booking})) == others(
        before["projection"], ("booking_id", {ada_booking})
    )
    assert others(after["deliveries"], ("id", erased_ids)) == others(before["deliveries"], ("id", erased_ids))
    assert after["reminders"] == before["reminders"]
    at_b = [e for e in after["emails"] if e["clinic_id"] == CLINIC_B]
    assert [e["to_address"] for e in at_b] == [ADA]

    # The export finds nothing of her at A any more.
    status, body = await call(notifications, EXPORT, internal, clinic_id=CLINIC_A, email=ADA)
    assert body == {"records": {"emails": [], "gift_emails": [], "reminders": [], "webhook_deliveries": []}}


async def test_erasure_is_idempotent_and_a_replayed_event_sends_nothing_again(
    notifications, internal, world, notifications_pool
):
    handle, events = world
    await call(notifications, ERASE, internal, clinic_id=CLINIC_A, email=ADA)
    once = await everything(notifications_pool)
    status, body = await call(notifications, ERASE, internal, clinic_id=CLINIC_A, email=ADA)
    assert status == 200
    assert body == {
        "erased": {"emails": 0, "emails_mentioning": 0, "booking_copies": 0, "webhook_deliveries": 0},
        "kept": {},
    }
    assert await everything(notifications_pool) == once

    # The same event handled again (the inbox would drop it; this is the second line): its email's row is
    # still there, erased, so no email is recorded or started again.
    await handle(events["voucher_at_a"])
    assert handle.emails == []
    async with notifications_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT to_address, erased_at FROM emails WHERE event_id = $1", events["voucher_at_a"].id
        )
    assert [(r["to_address"], r["erased_at"] is not None) for r in rows] == [("", True)]


async def test_the_internal_token_is_required(notifications, settings, world, notifications_pool):
    before = await everything(notifications_pool)
    for headers in ({}, {INTERNAL_TOKEN_HEADER: "not-the-token"}):
        for path, body in ((EXPORT, {}), (ERASE, {"dry_run": False})):
            status, answer = await call(notifications, path, headers, clinic_id=CLINIC_A, email=ADA, **body)
            assert status == 401 and answer["error"]["code"] == "unauthorized", (path, headers)
    assert await everything(notifications_pool) == before


@pytest.mark.parametrize(
    "body", [{"clinic_id": "urban-therapy", "email": ADA}, {"clinic_id": CLINIC_A}, {"clinic_id": CLINIC_A, "email": 5}]
)
async def test_a_malformed_request_is_422(notifications, internal, body):
    for path in (EXPORT, ERASE):
        resp = await notifications.post(path, headers=internal, json=body)
        assert resp.status == 422, path
        assert (await resp.json())["error"]["code"] == "validation_failed"


async def test_erasure_takes_the_person_out_of_other_peoples_emails_that_hold_their_address(
    notifications, internal, notifications_pool
):
    """A gift's receipt to its buyer names the recipient: erasing the recipient takes her address and names out of
    it (the buyer's row stays the buyer's); another customer who only shares her name keeps his email whole."""
    async with notifications_pool.acquire() as conn:
        for to, body in (
            ("bob@example.com", f"Your gift for Ada Lovelace will be emailed to {ADA.upper()} on Friday."),
            ("ada.l@other.example", "Hello Ada Lovelace, your booking is confirmed."),
        ):
            await conn.execute(
                """INSERT INTO emails (id, event_id, kind, to_address, subject, text_body, html_body, clinic_id)
                   VALUES ($1, $2, 'voucher_receipt', $3, 'For Ada Lovelace', $4, $5, $6)""",
                uuid.uuid4(),
                uuid.uuid4(),
                to,
                body,
                f"<p>{body.replace('Ada Lovelace', 'Ada Lovelace')}</p>",
                CLINIC_A,
            )
    body = {"clinic_id": CLINIC_A, "email": ADA, "names": ["Ada Lovelace", "Al"]}
    dry = await notifications.post(ERASE, json={**body, "dry_run": True}, headers=internal)
    assert (await dry.json())["erase"]["emails_mentioning"] == 1
    erased = await notifications.post(ERASE, json={**body, "dry_run": False}, headers=internal)
    assert erased.status == 200 and (await erased.json())["erased"]["emails_mentioning"] == 1
    async with notifications_pool.acquire() as conn:
        rows = {r["to_address"]: r for r in await conn.fetch("SELECT * FROM emails")}
    bob = rows["bob@example.com"]
    assert bob["text_body"] == "Your gift for [erased] will be emailed to [erased] on Friday."
    assert bob["subject"] == "For [erased]" and "Ada" not in bob["html_body"] and bob["erased_at"] is None
    namesake = rows["ada.l@other.example"]
    assert namesake["text_body"] == "Hello Ada Lovelace, your booking is confirmed.", "not her: untouched"
    again = await notifications.post(ERASE, json={**body, "dry_run": False}, headers=internal)
    assert (await again.json())["erased"]["emails_mentioning"] == 0
