"""Data protection requests, the notifications service's part (the booking service asks, through the internal
API in routes.py, and answers the clinic): export what this service holds about one customer of one clinic,
and erase it. Rules in privacy_rules.py, SQL in privacy_store.py.

Erasure keeps every row and takes the person out of it: an erased email's row stays so that a replayed event
never sends it again; a webhook delivery keeps its type, time and ids. Nothing here must be kept by law, so
nothing is counted as kept, and nothing here blocks an erasure (the booking service refuses while the customer
has bookings to come or vouchers in progress, so no reminder or gift email is still to be sent)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.notifications import privacy_store as store
from services.notifications.privacy_rules import erase_from_payload, mention_pattern, mentions, normalise_email

# The kinds of record an export holds, and those an erasure counts.
EXPORT_KINDS = ("emails", "gift_emails", "reminders", "webhook_deliveries")
ERASE_KINDS = ("emails", "emails_mentioning", "booking_copies", "webhook_deliveries")


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _email_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "subject": row["subject"],
        "status": row["status"],
        "created_at": _at(row["created_at"]),
        "sent_at": _at(row["sent_at"]),
        "text_body": None if row["body_pruned_at"] or row["erased_at"] else row["text_body"],
        "erased": row["erased_at"] is not None,
    }


def _gift_email_json(row: asyncpg.Record) -> dict[str, Any]:
    # The gift email itself is never stored (it carries the voucher's code): when it was due and whether it went.
    return {
        "voucher_id": str(row["voucher_id"]),
        "deliver_on": row["deliver_on"].isoformat(),
        "status": row["status"],
        "sent_at": _at(row["sent_at"]),
    }


def _reminder_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"booking_id": str(row["booking_id"]), "due_at": _at(row["due_at"]), "status": row["status"]}


def _delivery_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "event_type": row["event_type"],
        "status": row["status"],
        "created_at": _at(row["created_at"]),
        "payload": None if row["payload_pruned_at"] else row["payload"],
    }


async def _deliveries_mentioning(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str, *, lock: bool = False
) -> list[asyncpg.Record]:
    rows = await store.deliveries_containing(conn, clinic_id, address, lock=lock)
    return [r for r in rows if mentions(r["payload"], address)]


async def export(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str, gift_voucher_ids: list[uuid.UUID] = []
) -> dict[str, list[dict[str, Any]]]:
    """Every email this clinic's events sent to the address, the gift emails of the vouchers it received (the
    caller names them: payments knows whose they are), the reminders of its bookings made with it, and its webhook
    deliveries that mention it: {kind: [record, …]}, read in one snapshot."""
    address = normalise_email(email)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        emails = await store.emails_to(conn, clinic_id, address)
        gifts = await store.gift_emails_of(conn, clinic_id, gift_voucher_ids)
        reminders = await store.reminders_of(conn, clinic_id, address)
        deliveries = await _deliveries_mentioning(conn, clinic_id, address)
    return {
        "emails": [_email_json(r) for r in emails],
        "gift_emails": [_gift_email_json(r) for r in gifts],
        "reminders": [_reminder_json(r) for r in reminders],
        "webhook_deliveries": [_delivery_json(r) for r in deliveries],
    }


async def erase(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str, *, dry_run: bool, names: list[str] = []
) -> dict[str, Any]:
    """Take the customer out of this clinic's emails (theirs, and their address and `names` in other people's),
    booking projection and webhook deliveries, in one transaction; idempotent (a second time finds nothing left
    to erase). A dry run counts and changes nothing: {"erase", "keep", "blockers"}; for real: {"erased", "kept"}."""
    address = normalise_email(email)
    by_address, as_person = mention_pattern(address, []), mention_pattern(address, names)
    if dry_run:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            counts = {
                "emails": await store.count_emails_to(conn, clinic_id, address),
                "emails_mentioning": await store.count_emails_mentioning(conn, clinic_id, address, by_address),
                "booking_copies": await store.count_bookings_of(conn, clinic_id, address),
                "webhook_deliveries": len(await _deliveries_mentioning(conn, clinic_id, address)),
            }
        return {"erase": counts, "keep": {}, "blockers": []}
    async with conn.transaction():
        deliveries = await _deliveries_mentioning(conn, clinic_id, address, lock=True)
        await store.replace_payloads(conn, [(r["id"], erase_from_payload(r["payload"], address)) for r in deliveries])
        counts = {
            "emails": await store.erase_emails(conn, clinic_id, address),
            "emails_mentioning": await store.redact_mentions(conn, clinic_id, address, by_address, as_person),
            "booking_copies": await store.erase_bookings(conn, clinic_id, address),
            "webhook_deliveries": len(deliveries),
        }
    return {"erased": counts, "kept": {}}
