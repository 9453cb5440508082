"""All SQL of data protection in the payments service: what is held about a customer of one clinic, found by
their email (case-insensitively: `$2` is always the trimmed, lower-cased email), and erasing it. Every query is
scoped by the clinic (`$1`)."""

from __future__ import annotations

import uuid

import asyncpg

from services.payments.privacy_rules import ERASED

# The customer's vouchers: those they bought (by the buyer's email, or, once that was erased, by the email of
# the purchase's payment, which is kept), and those they receive. The CTE collects ids from the three indexed
# lookups; the outer query reads each voucher once, with the customer's part in it and its purchase's status.
_VOUCHERS = """
WITH mine AS (
    SELECT id FROM vouchers WHERE clinic_id = $1 AND lower(buyer_email) = $2
    UNION
    SELECT id FROM vouchers WHERE clinic_id = $1 AND lower(recipient_email) = $2
    UNION
    SELECT reference_id FROM payments WHERE clinic_id = $1 AND purpose = 'voucher' AND lower(customer_email) = $2
)
SELECT v.id, v.kind, v.vat_class, v.unit, v.title, v.face_value, v.currency, v.price_amount, v.treatment_id,
       v.course_id, v.buyer_name, v.buyer_email, v.recipient_name, v.recipient_email, v.message, v.deliver_on,
       v.status, v.balance, v.code_last4, v.expires_at, v.created_at, v.issued_at, v.erased_at, v.clinic_timezone,
       coalesce(lower(v.buyer_email) = $2, false) OR coalesce(lower(p.customer_email) = $2, false) AS bought,
       coalesce(lower(v.recipient_email) = $2, false) AS received,
       p.status AS payment_status
FROM vouchers v JOIN mine ON mine.id = v.id
LEFT JOIN payments p ON p.purpose = 'voucher' AND p.reference_id = v.id
WHERE v.clinic_id = $1
ORDER BY v.created_at, v.id"""


async def vouchers(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str, *, lock: bool = False):
    """The customer's vouchers; `lock`: row-locked, so no payment issues one and no buyer changes its recipient
    while it is being erased."""
    return await conn.fetch(_VOUCHERS + (" FOR UPDATE OF v" if lock else ""), clinic_id, email)


async def payments(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> list[asyncpg.Record]:
    """The customer's payments: for their bookings and for the vouchers they bought (by the email the receipt
    went to, which is never erased). Never the client secret."""
    return await conn.fetch(
        """SELECT id, purpose, reference_id, amount, currency, customer_email, stripe_payment_intent, status,
                  amount_refunded, created_at, updated_at, succeeded_at
           FROM payments WHERE clinic_id = $1 AND lower(customer_email) = $2
           ORDER BY created_at, id""",
        clinic_id,
        email,
    )


async def fees(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> list[asyncpg.Record]:
    """The customer's no-show and late-cancellation fees (issue 20), by the email their booking had."""
    return await conn.fetch(
        """SELECT id, booking_id, kind, amount, currency, customer_email, status, failure, stripe_payment_intent,
                  created_at, settled_at
           FROM booking_fees WHERE clinic_id = $1 AND lower(customer_email) = $2 ORDER BY created_at, id""",
        clinic_id,
        email,
    )


async def erase_stripe_customer(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> int:
    """Which Stripe Customer is this email's: forgotten (Stripe holds no name or email of it, only our ids; a
    booking's saved card stays charged for the fees it already owes)."""
    rows = await conn.fetch(
        "DELETE FROM stripe_customers WHERE clinic_id = $1 AND email_key = $2 RETURNING stripe_customer",
        clinic_id,
        email,
    )
    return len(rows)


async def refunds(conn: asyncpg.Connection, payment_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT id, payment_id, stripe_refund_id, amount, reason, status, created_at
           FROM refunds WHERE payment_id = ANY($1::uuid[]) ORDER BY created_at, id""",
        payment_ids,
    )


async def ledgers(conn: asyncpg.Connection, voucher_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT voucher_id, id, entry, units, reference_id, actor, note, created_at
           FROM voucher_ledger WHERE voucher_id = ANY($1::uuid[]) ORDER BY voucher_id, id""",
        voucher_ids,
    )


async def redemptions(conn: asyncpg.Connection, voucher_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT voucher_id, id, reference_id, units, value_amount, status, created_at
           FROM voucher_redemptions WHERE voucher_id = ANY($1::uuid[]) ORDER BY voucher_id, created_at, id""",
        voucher_ids,
    )


async def changes(conn: asyncpg.Connection, voucher_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT voucher_id, id, changed_at, actor, field, old_value, new_value
           FROM voucher_changes WHERE voucher_id = ANY($1::uuid[]) ORDER BY voucher_id, changed_at, id""",
        voucher_ids,
    )


async def kept(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> asyncpg.Record:
    """What erasure keeps and still links to the customer: their payments, those payments' refunds, the sales
    of the vouchers they bought (found through the purchase's payment, so the same before and after), and their
    fees (money taken or owed, kept as payments are)."""
    return await conn.fetchrow(
        """WITH paid AS (SELECT id, purpose, reference_id FROM payments WHERE clinic_id = $1 AND lower(customer_email) = $2)
           SELECT (SELECT count(*) FROM paid) AS payments,
                  (SELECT count(*) FROM refunds r JOIN paid ON paid.id = r.payment_id) AS refunds,
                  (SELECT count(*) FROM vouchers v JOIN paid ON paid.purpose = 'voucher' AND paid.reference_id = v.id
                   WHERE v.clinic_id = $1 AND v.status <> 'awaiting_payment') AS voucher_sales,
                  (SELECT count(*) FROM booking_fees WHERE clinic_id = $1 AND lower(customer_email) = $2) AS fees""",
        clinic_id,
        email,
    )


# voucher_changes hold recipient emails the buyer changed (from, to): a value that is the customer's email.
_CHANGES_NAMING = """FROM vouchers v
           WHERE v.id = c.voucher_id AND v.clinic_id = $1 AND c.field = 'recipient_email'
             AND (lower(c.old_value) = $2 OR lower(c.new_value) = $2)"""


async def count_to_erase(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> asyncpg.Record:
    """What erasure would change: vouchers still naming the customer as buyer or as recipient, and delivery
    changes holding their email."""
    return await conn.fetchrow(
        f"""SELECT (SELECT count(*) FROM vouchers WHERE clinic_id = $1 AND lower(buyer_email) = $2) AS vouchers_bought,
                   (SELECT count(*) FROM vouchers WHERE clinic_id = $1 AND lower(recipient_email) = $2)
                       AS vouchers_received,
                   (SELECT count(*) FROM voucher_changes c WHERE EXISTS (SELECT 1 {_CHANGES_NAMING}))
                       AS voucher_changes,
                   (SELECT count(*) FROM stripe_customers WHERE clinic_id = $1 AND email_key = $2)
                       AS stripe_customers""",
        clinic_id,
        email,
    )


# What erasing a voucher's people sets, here and in the retention job's anonymising (retention_store): the
# buyer's or the recipient's name and email; with no recipient address left no expiry notice can be sent, so it
# is marked as done; and the gift message (the buyer's words, written to the recipient), with when it was erased.
ERASE_BUYER = "buyer_name = NULL, buyer_email = NULL"
ERASE_RECIPIENT = (
    "recipient_name = NULL, recipient_email = NULL, expiry_notice_at = coalesce(expiry_notice_at, clock_timestamp())"
)
ERASE_MESSAGE = "message = '', erased_at = coalesce(erased_at, clock_timestamp())"


async def erase_buyer(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> int:
    """The customer as a buyer: name, email and gift message (their words) go; the sale stays."""
    rows = await conn.fetch(
        f"""UPDATE vouchers SET {ERASE_BUYER}, {ERASE_MESSAGE}
            WHERE clinic_id = $1 AND lower(buyer_email) = $2 RETURNING id""",
        clinic_id,
        email,
    )
    return len(rows)


async def erase_recipient(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> int:
    """The customer as a recipient: name, email and the message written to them go. With no address left, no
    expiry notice can be sent: it is marked as done so none is ever attempted."""
    rows = await conn.fetch(
        f"""UPDATE vouchers SET {ERASE_RECIPIENT}, {ERASE_MESSAGE}
           WHERE clinic_id = $1 AND lower(recipient_email) = $2 RETURNING id""",
        clinic_id,
        email,
    )
    return len(rows)


async def erase_changes(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> int:
    """Delivery changes naming the customer's email: that value reads '[erased]' (the other is someone else's)."""
    rows = await conn.fetch(
        f"""UPDATE voucher_changes c
            SET old_value = CASE WHEN lower(c.old_value) = $2 THEN $3 ELSE c.old_value END,
                new_value = CASE WHEN lower(c.new_value) = $2 THEN $3 ELSE c.new_value END
            {_CHANGES_NAMING}
            RETURNING c.id""",
        clinic_id,
        email,
        ERASED,
    )
    return len(rows)
