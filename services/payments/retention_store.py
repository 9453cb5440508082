"""The SQL of the payments service's daily retention job (retention.py; the rules: retention_rules.py).

Each money record is read a batch at a time (by id, after `after`) when its last money movement was before
`kept_since`, with what its fate depends on; a record already anonymised and still referenced is not read again,
so a second run finds nothing to do."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.payments.privacy_rules import ERASED
from services.payments.privacy_store import ERASE_BUYER, ERASE_MESSAGE, ERASE_RECIPIENT


async def delete_stripe_events(conn: asyncpg.Connection, received_before: datetime, limit: int) -> int:
    """One batch of Stripe's events received before then, deleted: how many."""
    deleted = await conn.fetch(
        """DELETE FROM stripe_events WHERE id IN (
               SELECT id FROM stripe_events WHERE received_at < $1 ORDER BY received_at LIMIT $2)
           RETURNING id""",
        received_before,
        limit,
    )
    return len(deleted)


# A payment's last money movement: made, changed (succeeded, refunded), or its last refund.
_PAYMENT_MOVED = """greatest(p.created_at, p.updated_at, p.succeeded_at,
                             (SELECT max(f.created_at) FROM refunds f WHERE f.payment_id = p.id))"""

# A voucher sale's last money movement: sold, issued, its ledger, redemptions and delivery changes, and its
# purchase's payment.
_VOUCHER_MOVED = f"""greatest(v.created_at, v.issued_at,
        (SELECT max(l.created_at) FROM voucher_ledger l WHERE l.voucher_id = v.id),
        (SELECT max(r.created_at) FROM voucher_redemptions r WHERE r.voucher_id = v.id),
        (SELECT max(c.changed_at) FROM voucher_changes c WHERE c.voucher_id = v.id),
        (SELECT max({_PAYMENT_MOVED}) FROM payments p WHERE p.purpose = 'voucher' AND p.reference_id = v.id))"""


async def vouchers_past(
    conn: asyncpg.Connection, kept_since: datetime, now: datetime, after: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    """Voucher sales past their retention: id, and `redeemable` (active, with a balance, not expired: its code
    still pays, so the sale is kept, anonymised). A redeemable one already anonymised is not read."""
    return await conn.fetch(
        f"""SELECT v.id, state.redeemable
            FROM vouchers v
            CROSS JOIN LATERAL (SELECT v.status = 'active' AND v.balance > 0 AND v.expires_at > $2 AS redeemable) state
            WHERE v.created_at < $1 AND ($3::uuid IS NULL OR v.id > $3) AND {_VOUCHER_MOVED} < $1
              AND (NOT state.redeemable
                   OR v.buyer_name IS NOT NULL OR v.buyer_email IS NOT NULL
                   OR v.recipient_name IS NOT NULL OR v.recipient_email IS NOT NULL OR v.message <> ''
                   OR EXISTS (SELECT 1 FROM voucher_changes c WHERE c.voucher_id = v.id
                              AND c.field = 'recipient_email' AND (c.old_value <> $5 OR c.new_value <> $5)))
            ORDER BY v.id LIMIT $4""",
        kept_since,
        now,
        after,
        limit,
        ERASED,
    )


async def delete_vouchers(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> int:
    """The sales with their ledger, redemptions and delivery changes (the purchase's payment goes by its own
    rule, unreferenced from now on)."""
    for table in ("voucher_ledger", "voucher_redemptions", "voucher_changes"):
        await conn.execute(f"DELETE FROM {table} WHERE voucher_id = ANY($1::uuid[])", ids)
    return len(await conn.fetch("DELETE FROM vouchers WHERE id = ANY($1::uuid[]) RETURNING id", ids))


async def anonymise_vouchers(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> int:
    """As an erasure of both people (privacy_store's ERASE_*), and the addresses in their delivery changes."""
    await conn.execute(
        """UPDATE voucher_changes SET old_value = $2, new_value = $2
           WHERE voucher_id = ANY($1::uuid[]) AND field = 'recipient_email'""",
        ids,
        ERASED,
    )
    updated = await conn.fetch(
        f"""UPDATE vouchers SET {ERASE_BUYER}, {ERASE_RECIPIENT}, {ERASE_MESSAGE}
            WHERE id = ANY($1::uuid[]) RETURNING id""",
        ids,
    )
    return len(updated)


async def payments_past(
    conn: asyncpg.Connection, kept_since: datetime, after: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    """Payments past their retention: id, reference_id, `moves_money` (not a card-saving SetupIntent) and
    `referenced`: a voucher's purchase whose voucher is kept, or a booking's payment that a kept voucher's
    redemption points at (as do its ledger entries: every booking a voucher paid has its one redemption row). A referenced one already anonymised is not read."""
    return await conn.fetch(
        f"""SELECT p.id, p.reference_id, p.kind = 'payment' AS moves_money, ref.referenced
            FROM payments p
            CROSS JOIN LATERAL (SELECT
                (p.purpose = 'voucher' AND EXISTS (SELECT 1 FROM vouchers v WHERE v.id = p.reference_id))
                OR (p.purpose = 'booking'
                    AND EXISTS (SELECT 1 FROM voucher_redemptions r WHERE r.reference_id = p.reference_id))
                AS referenced) ref
            WHERE p.created_at < $1 AND ($2::uuid IS NULL OR p.id > $2) AND {_PAYMENT_MOVED} < $1
              AND (NOT ref.referenced OR p.kind <> 'payment'
                   OR p.customer_email IS NOT NULL OR p.stripe_customer IS NOT NULL OR p.client_secret IS NOT NULL
                   OR EXISTS (SELECT 1 FROM saved_cards s WHERE s.reference_id = p.reference_id))
            ORDER BY p.id LIMIT $3""",
        kept_since,
        after,
        limit,
    )


async def delete_saved_cards(conn: asyncpg.Connection, reference_ids: list[uuid.UUID]) -> int:
    """The cards these payments saved (a Stripe Customer and card of the person): how many."""
    deleted = await conn.fetch(
        "DELETE FROM saved_cards WHERE reference_id = ANY($1::uuid[]) RETURNING reference_id", reference_ids
    )
    return len(deleted)


async def delete_payments(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> tuple[int, int]:
    """The payments with their refunds: (payments, refunds) deleted."""
    refunds = await conn.fetch("DELETE FROM refunds WHERE payment_id = ANY($1::uuid[]) RETURNING id", ids)
    payments = await conn.fetch("DELETE FROM payments WHERE id = ANY($1::uuid[]) RETURNING id", ids)
    return len(payments), len(refunds)


async def anonymise_payments(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> int:
    """The email the receipt went to, the Stripe Customer it saved a card on, and the client secret go; the
    amounts, statuses, Stripe ids and refunds stay."""
    updated = await conn.fetch(
        """UPDATE payments SET customer_email = NULL, stripe_customer = NULL, client_secret = NULL
           WHERE id = ANY($1::uuid[]) RETURNING id""",
        ids,
    )
    return len(updated)


async def fees_past(
    conn: asyncpg.Connection, kept_since: datetime, after: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    """Booking fees past their retention: id and `referenced` (a payment from its pay link is kept). A referenced
    one already anonymised is not read."""
    return await conn.fetch(
        """SELECT f.id, ref.referenced
           FROM booking_fees f
           CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM payments p WHERE p.purpose = 'fee'
                                              AND p.reference_id = f.id) AS referenced) ref
           WHERE f.created_at < $1 AND ($2::uuid IS NULL OR f.id > $2) AND greatest(f.created_at, f.settled_at) < $1
             AND (NOT ref.referenced OR f.customer_email IS NOT NULL)
           ORDER BY f.id LIMIT $3""",
        kept_since,
        after,
        limit,
    )


async def delete_fees(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> int:
    return len(await conn.fetch("DELETE FROM booking_fees WHERE id = ANY($1::uuid[]) RETURNING id", ids))


async def anonymise_fees(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> int:
    updated = await conn.fetch(
        "UPDATE booking_fees SET customer_email = NULL WHERE id = ANY($1::uuid[]) RETURNING id", ids
    )
    return len(updated)
