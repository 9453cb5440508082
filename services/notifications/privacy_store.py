"""All SQL of the notifications service's data protection: a clinic's requests about one customer (privacy.py):
their emails, reminders and clinic webhook deliveries at that clinic, found by address, and their erasure
(`address` is always normalised, privacy_rules.normalise_email; every such query is scoped to the clinic); and
the retention job's pruning of old bodies (retention.py), a batch at a time."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

# What an erased email becomes: the row stays (UNIQUE (event_id, kind): a replayed event sends nothing again),
# with nothing of the person. One not yet sent is never sent (its send task finds it failed).
ERASE_EMAILS = """
    UPDATE emails SET to_address = '', subject = '[erased]', text_body = '', html_body = NULL,
                      attachments = '[]'::jsonb, erased_at = clock_timestamp(),
                      status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
                      last_error = CASE WHEN status = 'pending' THEN 'erased before it was sent'
                                        WHEN strpos(lower(last_error), $2) > 0 THEN '[erased]'
                                        ELSE last_error END
    WHERE clinic_id = $1 AND lower(to_address) = $2"""


async def emails_to(conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str) -> list[asyncpg.Record]:
    """The clinic's emails to the address (emails.clinic_id is text, as the email wing's clinic ids are)."""
    return await conn.fetch(
        """SELECT id, kind, subject, status, created_at, sent_at, text_body, body_pruned_at, erased_at
           FROM emails WHERE clinic_id = $1 AND lower(to_address) = $2 ORDER BY created_at""",
        str(clinic_id),
        address,
    )


async def gift_emails_of(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, voucher_ids: list[uuid.UUID]
) -> list[asyncpg.Record]:
    """The gift emails of these vouchers of the clinic (their rows hold no address: payments knows whose they are)."""
    return await conn.fetch(
        """SELECT voucher_id, deliver_on, status, sent_at FROM voucher_deliveries
           WHERE clinic_id = $1 AND voucher_id = ANY($2::uuid[]) ORDER BY deliver_on""",
        str(clinic_id),
        voucher_ids,
    )


async def reminders_of(conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str) -> list[asyncpg.Record]:
    """Reminders of the clinic's bookings made with the address (as the booking projection has them)."""
    return await conn.fetch(
        """SELECT r.booking_id, r.due_at, r.status
           FROM reminders r JOIN booking_projection b ON b.booking_id = r.booking_id
           WHERE b.clinic_id = $1 AND lower(b.customer_email) = $2 ORDER BY r.due_at""",
        str(clinic_id),
        address,
    )


async def deliveries_containing(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str, *, lock: bool = False
) -> list[asyncpg.Record]:
    """The clinic's webhook deliveries whose payload contains the address anywhere in its text (a superset:
    privacy_rules.mentions decides). Through the endpoints' index; `lock`: for update, as erasure needs."""
    return await conn.fetch(
        f"""SELECT id, event_type, status, created_at, payload, payload_pruned_at FROM webhook_deliveries
            WHERE endpoint_id IN (SELECT id FROM webhook_endpoints WHERE clinic_id = $1) AND clinic_id = $1
              AND strpos(lower(payload::text), $2) > 0
            ORDER BY created_at {"FOR UPDATE" if lock else ""}""",
        clinic_id,
        address,
    )


async def count_emails_to(conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM emails WHERE clinic_id = $1 AND lower(to_address) = $2", str(clinic_id), address
    )


async def count_bookings_of(conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM booking_projection WHERE clinic_id = $1 AND lower(customer_email) = $2",
        str(clinic_id),
        address,
    )


# Someone else's email that mentions the person (a gift's receipt names its recipient): the row is theirs and stays;
# the person's address and names in it ($4) go. Only emails that hold the address ($3) are touched: another
# customer who shares a name is not this person.
MENTIONING = (
    "clinic_id = $1 AND erased_at IS NULL AND lower(to_address) <> $2"
    " AND (subject ~* $3 OR text_body ~* $3 OR html_body ~* $3)"
)
REDACT_MENTIONS = f"""
    UPDATE emails SET subject = regexp_replace(subject, $4, '[erased]', 'gi'),
                      text_body = regexp_replace(text_body, $4, '[erased]', 'gi'),
                      html_body = regexp_replace(html_body, $4, '[erased]', 'gi')
    WHERE {MENTIONING}"""


async def count_emails_mentioning(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str, address_pattern: str
) -> int:
    return await conn.fetchval(
        f"SELECT count(*) FROM emails WHERE {MENTIONING}", str(clinic_id), address, address_pattern
    )


async def redact_mentions(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str, address_pattern: str, person_pattern: str
) -> int:
    status = await conn.execute(REDACT_MENTIONS, str(clinic_id), address, address_pattern, person_pattern)
    return int(status.split()[-1])


async def erase_emails(conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str) -> int:
    status = await conn.execute(ERASE_EMAILS, str(clinic_id), address)
    return int(status.split()[-1])


async def erase_bookings(conn: asyncpg.Connection, clinic_id: uuid.UUID, address: str) -> int:
    """The booking projection's copy of the customer (what reminders would be sent to) goes; a reminder still
    planned would then be skipped (no address)."""
    status = await conn.execute(
        """UPDATE booking_projection SET customer_name = NULL, customer_email = NULL, manage_url = NULL,
                                         updated_at = clock_timestamp()
           WHERE clinic_id = $1 AND lower(customer_email) = $2""",
        str(clinic_id),
        address,
    )
    return int(status.split()[-1])


async def replace_payloads(conn: asyncpg.Connection, payloads: list[tuple[uuid.UUID, dict]]) -> None:
    """Deliveries' payloads replaced by their erased forms, and their receivers' answers (which may echo the
    payload) deleted."""
    ids = [delivery_id for delivery_id, _ in payloads]
    await conn.executemany("UPDATE webhook_deliveries SET payload = $2 WHERE id = $1", payloads)
    await conn.execute(
        "UPDATE webhook_attempts SET response = NULL WHERE delivery_id = ANY($1::uuid[]) AND response IS NOT NULL",
        ids,
    )


# --- retention ---------------------------------------------------------------------------------------------------


async def prune_delivery_payloads(conn: asyncpg.Connection, made_before: datetime, limit: int) -> int:
    """One batch: payloads of deliveries made before `made_before` and no longer pending emptied, with their
    attempts' responses; how many deliveries. Rows being attempted or replayed right now are left to the next
    run (SKIP LOCKED), and a replay, which takes only unpruned rows, cannot slip in between."""
    return await conn.fetchval(
        """WITH batch AS (
               SELECT id FROM webhook_deliveries
               WHERE payload_pruned_at IS NULL AND created_at < $1 AND status <> 'pending'
               ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED),
           pruned AS (
               UPDATE webhook_deliveries d SET payload = '{}'::jsonb, payload_pruned_at = clock_timestamp()
               FROM batch WHERE d.id = batch.id RETURNING d.id),
           answers AS (
               UPDATE webhook_attempts SET response = NULL
               WHERE delivery_id IN (SELECT id FROM pruned) AND response IS NOT NULL)
           SELECT count(*) FROM pruned""",
        made_before,
        limit,
    )


async def prune_email_bodies(conn: asyncpg.Connection, made_before: datetime, limit: int) -> int:
    """One batch: text, HTML and attachments of emails made before `made_before` and sent or failed, emptied
    (address, subject, kind and status stay); how many emails. One being sent holds its lock: skipped."""
    return await conn.fetchval(
        """WITH batch AS (
               SELECT id FROM emails
               WHERE body_pruned_at IS NULL AND created_at < $1 AND status IN ('sent', 'failed')
               ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED),
           pruned AS (
               UPDATE emails e SET text_body = '', html_body = NULL, attachments = '[]'::jsonb,
                                   body_pruned_at = clock_timestamp()
               FROM batch WHERE e.id = batch.id RETURNING e.id)
           SELECT count(*) FROM pruned""",
        made_before,
        limit,
    )
