"""All SQL of the payments service."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

PAYMENT_COLUMNS = """id, clinic_id, purpose, reference_id, amount, currency, customer_email, stripe_payment_intent,
    client_secret, status, amount_refunded, created_at, succeeded_at, stripe_customer, kind, stripe_setup_intent"""


async def record_stripe_event(conn: asyncpg.Connection, event: dict) -> bool:
    """True if this Stripe event id is new."""
    return bool(
        await conn.fetchval(
            "INSERT INTO stripe_events (id, type, livemode, payload) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (id) DO NOTHING RETURNING true",
            event["id"],
            event["type"],
            bool(event.get("livemode")),
            event,
        )
    )


async def payment_for(conn: asyncpg.Connection, purpose: str, reference_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE purpose = $1 AND reference_id = $2", purpose, reference_id
    )


async def insert_payment(
    conn: asyncpg.Connection,
    *,
    payment_id: uuid.UUID,
    clinic_id: uuid.UUID,
    purpose: str,
    reference_id: uuid.UUID,
    amount: int,
    currency: str,
    customer_email: str | None,
    intent_id: str | None,
    client_secret: str | None,
    status: str,
    stripe_customer: str | None = None,
    setup_intent_id: str | None = None,
) -> asyncpg.Record | None:
    """The new row, or None if this reference already has a payment (a concurrent request won). With
    `setup_intent_id` (and no intent), a card-saving SetupIntent: kind 'setup', amount 0."""
    return await conn.fetchrow(
        f"""INSERT INTO payments (id, clinic_id, purpose, reference_id, amount, currency, customer_email,
                                  stripe_payment_intent, client_secret, status, succeeded_at, stripe_customer,
                                  kind, stripe_setup_intent)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                    CASE WHEN $10 = 'succeeded' THEN clock_timestamp() END, $11,
                    CASE WHEN $12::text IS NULL THEN 'payment' ELSE 'setup' END, $12)
            ON CONFLICT (purpose, reference_id) DO NOTHING RETURNING {PAYMENT_COLUMNS}""",
        payment_id,
        clinic_id,
        purpose,
        reference_id,
        amount,
        currency,
        customer_email,
        intent_id,
        client_secret,
        status,
        stripe_customer,
        setup_intent_id,
    )


async def replace_intent(
    conn: asyncpg.Connection, payment_id: uuid.UUID, intent_id: str, client_secret: str | None, status: str
) -> asyncpg.Record:
    """A failed or canceled payment asked for again (a fee's pay link): the new PaymentIntent in its place."""
    return await conn.fetchrow(
        f"""UPDATE payments SET stripe_payment_intent = $2, client_secret = $3, status = $4,
                                updated_at = clock_timestamp() WHERE id = $1 RETURNING {PAYMENT_COLUMNS}""",
        payment_id,
        intent_id,
        client_secret,
        status,
    )


async def payment_for_setup_intent(conn: asyncpg.Connection, setup_intent_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE stripe_setup_intent = $1", setup_intent_id
    )


async def lock_payment_by_setup_intent(conn: asyncpg.Connection, setup_intent_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE stripe_setup_intent = $1 FOR UPDATE", setup_intent_id
    )


async def lock_payment_by_intent(conn: asyncpg.Connection, intent_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE stripe_payment_intent = $1 FOR UPDATE", intent_id
    )


async def lock_payment(conn: asyncpg.Connection, purpose: str, reference_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE purpose = $1 AND reference_id = $2 FOR UPDATE",
        purpose,
        reference_id,
    )


async def set_status(conn: asyncpg.Connection, payment_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        "UPDATE payments SET status = $2, updated_at = clock_timestamp(), "
        "succeeded_at = CASE WHEN $2 = 'succeeded' THEN clock_timestamp() ELSE succeeded_at END WHERE id = $1",
        payment_id,
        status,
    )


async def stale_open_payments(conn: asyncpg.Connection, older_than_seconds: float, limit: int) -> list[asyncpg.Record]:
    """Payments still waiting on Stripe after a while, locked so two reconcilers share the work."""
    return await conn.fetch(
        f"""SELECT {PAYMENT_COLUMNS} FROM payments
            WHERE status IN ('requires_payment', 'processing')
              AND created_at < clock_timestamp() - make_interval(secs => $1)
            ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        older_than_seconds,
        limit,
    )


async def stale_unpaid_voucher_purchases(
    conn: asyncpg.Connection, older_than_seconds: float, limit: int
) -> list[asyncpg.Record]:
    """Voucher purchases whose payment is not through this long after it started (never paid, or declined and not
    tried again), locked so two reconcilers share the work."""
    return await conn.fetch(
        f"""SELECT {PAYMENT_COLUMNS} FROM payments
            WHERE purpose = 'voucher' AND status IN ('requires_payment', 'processing', 'failed')
              AND created_at < clock_timestamp() - make_interval(secs => $1)
            ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        older_than_seconds,
        limit,
    )


async def insert_refund(
    conn: asyncpg.Connection, *, payment_id: uuid.UUID, amount: int, reason: str, cause_event_id: uuid.UUID
) -> uuid.UUID | None:
    """A refund row for this cause, or None if the cause was already refunded."""
    return await conn.fetchval(
        "INSERT INTO refunds (id, payment_id, amount, reason, status, cause_event_id) "
        "VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT (cause_event_id) DO NOTHING RETURNING id",
        uuid.uuid4(),
        payment_id,
        amount,
        reason,
        cause_event_id,
    )


async def complete_refund(
    conn: asyncpg.Connection,
    refund_id: uuid.UUID,
    payment_id: uuid.UUID,
    stripe_refund_id: str,
    status: str,
    amount: int,
) -> None:
    await conn.execute(
        "UPDATE refunds SET stripe_refund_id = $2, status = $3 WHERE id = $1", refund_id, stripe_refund_id, status
    )
    await conn.execute(
        "UPDATE payments SET amount_refunded = amount_refunded + $2, updated_at = clock_timestamp() WHERE id = $1",
        payment_id,
        amount,
    )


# --- a booking's parts: voucher, card, due at the clinic ---------------------------------------------

PARTS_COLUMNS = "reference_id, clinic_id, currency, price, voucher_part, card_part, due_at_clinic, due_cancelled"


async def insert_parts(
    conn: asyncpg.Connection,
    *,
    reference_id: uuid.UUID,
    clinic_id: uuid.UUID,
    currency: str,
    price: int,
    voucher_part: int,
    card_part: int,
    due_at_clinic: int,
) -> asyncpg.Record:
    """The booking's parts: these if it had none, else those written first (the same on every call)."""
    row = await conn.fetchrow(
        f"""INSERT INTO booking_parts (reference_id, clinic_id, currency, price, voucher_part, card_part, due_at_clinic)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reference_id) DO NOTHING RETURNING {PARTS_COLUMNS}""",
        reference_id,
        clinic_id,
        currency,
        price,
        voucher_part,
        card_part,
        due_at_clinic,
    )
    return row or await conn.fetchrow(
        f"SELECT {PARTS_COLUMNS} FROM booking_parts WHERE reference_id = $1", reference_id
    )


async def cancel_due(conn: asyncpg.Connection, reference_id: uuid.UUID, value: int) -> int:
    """Take up to `value` off what is still due at the clinic for this booking; what was taken off."""
    still_due = await conn.fetchval(
        "SELECT due_at_clinic - due_cancelled FROM booking_parts WHERE reference_id = $1 FOR UPDATE", reference_id
    )
    taken = min(value, still_due or 0)
    if taken > 0:
        await conn.execute(
            "UPDATE booking_parts SET due_cancelled = due_cancelled + $2 WHERE reference_id = $1", reference_id, taken
        )
    return taken


# --- saved cards and fees (issue 20) ----------------------------------------------------------------


async def stripe_customer(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> str | None:
    return await conn.fetchval(
        "SELECT stripe_customer FROM stripe_customers WHERE clinic_id = $1 AND email_key = lower($2)", clinic_id, email
    )


async def insert_stripe_customer(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str, customer: str) -> str:
    """This customer's Stripe Customer: `customer` if they had none, else the one recorded first."""
    return await conn.fetchval(
        """WITH new AS (INSERT INTO stripe_customers (clinic_id, email_key, stripe_customer)
                        VALUES ($1, lower($2), $3) ON CONFLICT (clinic_id, email_key) DO NOTHING
                        RETURNING stripe_customer)
           SELECT stripe_customer FROM new
           UNION ALL SELECT stripe_customer FROM stripe_customers WHERE clinic_id = $1 AND email_key = lower($2)
           LIMIT 1""",
        clinic_id,
        email,
        customer,
    )


SAVED_CARD_COLUMNS = "reference_id, clinic_id, stripe_customer, payment_method, attached_at, attach_attempts"


async def save_card(
    conn: asyncpg.Connection, *, reference_id: uuid.UUID, clinic_id: uuid.UUID, customer: str, payment_method: str
) -> None:
    """The booking's saved card (the first recorded stays)."""
    await conn.execute(
        "INSERT INTO saved_cards (reference_id, clinic_id, stripe_customer, payment_method) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (reference_id) DO NOTHING",
        reference_id,
        clinic_id,
        customer,
        payment_method,
    )


async def saved_card(conn: asyncpg.Connection, reference_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {SAVED_CARD_COLUMNS} FROM saved_cards WHERE reference_id = $1", reference_id)


async def unattached_cards(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Saved cards to try attaching now: not attached, not given up, and due (a refused one waits its turn), the
    longest due first; locked so two reconcilers share them."""
    return await conn.fetch(
        f"""SELECT {SAVED_CARD_COLUMNS} FROM saved_cards
            WHERE attached_at IS NULL AND attach_gave_up_at IS NULL AND next_attach_at <= clock_timestamp()
            ORDER BY next_attach_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )


async def attach_failed(
    conn: asyncpg.Connection, reference_id: uuid.UUID, *, attempts: int, error: str, retry_in: float | None
) -> None:
    """Attaching the card did not go through: `attempts` refusals so far, tried again in `retry_in` seconds, or
    never again (None: given up)."""
    await conn.execute(
        """UPDATE saved_cards SET attach_attempts = $2, last_attach_error = $3,
                  next_attach_at = clock_timestamp() + make_interval(secs => coalesce($4, 0)),
                  attach_gave_up_at = CASE WHEN $4::float8 IS NULL THEN clock_timestamp() END
           WHERE reference_id = $1""",
        reference_id,
        attempts,
        error,
        retry_in,
    )


async def card_attached(conn: asyncpg.Connection, reference_id: uuid.UUID, payment_method: str) -> None:
    await conn.execute(
        "UPDATE saved_cards SET payment_method = $2, attached_at = clock_timestamp() WHERE reference_id = $1",
        reference_id,
        payment_method,
    )


FEE_COLUMNS = """id, clinic_id, booking_id, paid_for, kind, amount, currency, customer_email, status, failure,
    stripe_payment_intent, created_at, settled_at"""


async def insert_fee(
    conn: asyncpg.Connection,
    *,
    clinic_id: uuid.UUID,
    booking_id: uuid.UUID,
    paid_for: uuid.UUID,
    kind: str,
    amount: int,
    currency: str,
    customer_email: str | None,
) -> asyncpg.Record | None:
    """The new fee (pending), or None if this booking already owes one of this kind."""
    return await conn.fetchrow(
        f"""INSERT INTO booking_fees (id, clinic_id, booking_id, paid_for, kind, amount, currency, customer_email,
                                      status)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')
            ON CONFLICT (booking_id, kind) DO NOTHING RETURNING {FEE_COLUMNS}""",
        uuid.uuid4(),
        clinic_id,
        booking_id,
        paid_for,
        kind,
        amount,
        currency,
        customer_email,
    )


async def get_fee(conn: asyncpg.Connection, fee_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {FEE_COLUMNS} FROM booking_fees WHERE id = $1", fee_id)


async def lock_fee(conn: asyncpg.Connection, fee_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {FEE_COLUMNS} FROM booking_fees WHERE id = $1 FOR UPDATE", fee_id)


async def settle_fee(
    conn: asyncpg.Connection,
    fee_id: uuid.UUID,
    status: str,
    *,
    intent_id: str | None = None,
    failure: str | None = None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""UPDATE booking_fees SET status = $2, stripe_payment_intent = coalesce($3, stripe_payment_intent),
                                    failure = coalesce($4, failure), settled_at = clock_timestamp()
            WHERE id = $1 RETURNING {FEE_COLUMNS}""",
        fee_id,
        status,
        intent_id,
        failure,
    )


async def clinic_fees(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, booking_id: uuid.UUID | None, limit: int
) -> list[asyncpg.Record]:
    """The clinic's fees (one booking's, if named), newest first."""
    return await conn.fetch(
        f"""SELECT {FEE_COLUMNS} FROM booking_fees
            WHERE clinic_id = $1 AND ($2::uuid IS NULL OR booking_id = $2)
            ORDER BY created_at DESC, id LIMIT $3""",
        clinic_id,
        booking_id,
        limit,
    )


# --- vouchers ------------------------------------------------------------------------------------

VOUCHER_COLUMNS = """id, clinic_id, clinic_slug, clinic_name, clinic_timezone, validity_months, kind, vat_class, unit,
    treatment_id, course_id, title, face_value, currency,
    price_amount, buyer_name, buyer_email, recipient_name, recipient_email, message, deliver_on, status, balance,
    code_last4, expires_at, created_at, issued_at"""


async def insert_voucher(
    conn: asyncpg.Connection,
    *,
    voucher_id: uuid.UUID,
    clinic,
    spec,
    buyer: dict,
    recipient: dict,
    message: str,
    deliver_on,
    purchase_key: str | None,
):
    return await conn.fetchrow(
        f"""INSERT INTO vouchers (id, clinic_id, clinic_slug, clinic_name, clinic_timezone, validity_months, kind,
                                  vat_class, unit, treatment_id, course_id, title, face_value, currency, price_amount,
                                  buyer_name, buyer_email, recipient_name, recipient_email, message, deliver_on, status,
                                  purchase_key)
            VALUES ($1, $2, $19, $20, $21, $22, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                    'awaiting_payment', $18)
            RETURNING {VOUCHER_COLUMNS}""",
        voucher_id,
        clinic.id,
        spec.kind,
        spec.vat_class,
        spec.unit,
        spec.treatment_id,
        spec.course_id,
        spec.title,
        spec.face_value,
        spec.currency,
        spec.price_amount,
        buyer["name"],
        buyer["email"],
        recipient["name"],
        recipient["email"],
        message,
        deliver_on,
        purchase_key,
        clinic.slug,
        clinic.name,
        clinic.timezone,
        clinic.voucher_validity_months,
    )


async def voucher_for_purchase_key(conn: asyncpg.Connection, clinic_id: uuid.UUID, key: str):
    return await conn.fetchrow(
        f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE clinic_id = $1 AND purchase_key = $2", clinic_id, key
    )


async def lock_voucher(conn: asyncpg.Connection, voucher_id: uuid.UUID):
    return await conn.fetchrow(f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1 FOR UPDATE", voucher_id)


async def get_voucher(conn: asyncpg.Connection, voucher_id: uuid.UUID):
    return await conn.fetchrow(f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1", voucher_id)


async def voucher_balance(conn: asyncpg.Connection, voucher_id: uuid.UUID) -> int:
    return await conn.fetchval("SELECT balance FROM vouchers WHERE id = $1", voucher_id)


async def lock_voucher_by_hash(conn: asyncpg.Connection, digest: bytes):
    # The row lock serialises concurrent redemptions of one code; the balance CHECK is the last word.
    return await conn.fetchrow(f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE code_hash = $1 FOR UPDATE", digest)


async def voucher_by_hash(conn: asyncpg.Connection, digest: bytes):
    return await conn.fetchrow(f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE code_hash = $1", digest)


async def activate_voucher(
    conn: asyncpg.Connection, voucher_id: uuid.UUID, *, digest: bytes, last4: str, ciphertext: str, expires_at
) -> None:
    await conn.execute(
        """UPDATE vouchers SET status = 'active', code_hash = $2, code_last4 = $3, code_ciphertext = $4,
                  expires_at = $5, issued_at = clock_timestamp() WHERE id = $1""",
        voucher_id,
        digest,
        last4,
        ciphertext,
        expires_at,
    )


async def append_entry(
    conn: asyncpg.Connection,
    voucher_id: uuid.UUID,
    entry: str,
    units: int,
    *,
    reference_id: uuid.UUID | None = None,
    actor: str = "system",
    note: str = "",
) -> int:
    """Add a ledger entry and move the cached balance with it, in the caller's transaction; the new
    balance. A balance that would go below zero raises CheckViolationError and nothing is written."""
    balance = await conn.fetchval(
        "UPDATE vouchers SET balance = balance + $2 WHERE id = $1 RETURNING balance", voucher_id, units
    )
    await conn.execute(
        "INSERT INTO voucher_ledger (voucher_id, entry, units, reference_id, actor, note) VALUES ($1, $2, $3, $4, $5, $6)",
        voucher_id,
        entry,
        units,
        reference_id,
        actor,
        note,
    )
    return balance


async def ledger_sum(conn: asyncpg.Connection, voucher_id: uuid.UUID) -> int:
    return await conn.fetchval("SELECT coalesce(sum(units), 0) FROM voucher_ledger WHERE voucher_id = $1", voucher_id)


async def insert_redemption(
    conn: asyncpg.Connection, *, voucher_id: uuid.UUID, reference_id: uuid.UUID, units: int, value_amount: int
) -> None:
    await conn.execute(
        "INSERT INTO voucher_redemptions (id, voucher_id, reference_id, units, value_amount, status) "
        "VALUES ($1, $2, $3, $4, $5, 'redeemed')",
        uuid.uuid4(),
        voucher_id,
        reference_id,
        units,
        value_amount,
    )


async def lock_redemption(conn: asyncpg.Connection, reference_id: uuid.UUID):
    return await conn.fetchrow(
        "SELECT r.id, r.voucher_id, r.units, r.value_amount, r.status, v.code_last4, v.unit, v.kind "
        "FROM voucher_redemptions r JOIN vouchers v ON v.id = r.voucher_id WHERE r.reference_id = $1 FOR UPDATE OF r",
        reference_id,
    )


async def set_redemption(
    conn: asyncpg.Connection, redemption_id: uuid.UUID, status: str, units: int, value_amount: int
) -> None:
    await conn.execute(
        "UPDATE voucher_redemptions SET status = $2, units = $3, value_amount = $4 WHERE id = $1",
        redemption_id,
        status,
        units,
        value_amount,
    )


async def mark_booking_lapsed(conn: asyncpg.Connection, reference_id: uuid.UUID) -> None:
    """The booking ran out unpaid while its card payment could still pay: its voucher part waits on that payment."""
    await conn.execute(
        "UPDATE voucher_redemptions SET booking_lapsed_at = coalesce(booking_lapsed_at, clock_timestamp()) "
        "WHERE reference_id = $1 AND status = 'redeemed'",
        reference_id,
    )


async def lapsed_bookings_left_unpaid(conn: asyncpg.Connection, limit: int) -> list[uuid.UUID]:
    """Bookings that lapsed while their card payment was processing, whose payment has since ended without paying,
    and whose voucher part is still taken."""
    rows = await conn.fetch(
        "SELECT r.reference_id FROM voucher_redemptions r "
        "LEFT JOIN payments p ON p.purpose = 'booking' AND p.reference_id = r.reference_id "
        "WHERE r.status = 'redeemed' AND r.booking_lapsed_at IS NOT NULL "
        "AND (p.id IS NULL OR p.status NOT IN ('succeeded', 'processing')) "
        "ORDER BY r.booking_lapsed_at LIMIT $1",
        limit,
    )
    return [r["reference_id"] for r in rows]


async def list_vouchers(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE clinic_id = $1 ORDER BY created_at DESC", clinic_id
    )


async def claim_expired_vouchers(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE status = 'active' AND expires_at <= now()
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )


async def change_delivery(
    conn: asyncpg.Connection, voucher_id: uuid.UUID, changes: dict[str, tuple], actor: str
) -> None:
    """Change a gift's recipient email or delivery day ({field: (old, new)}), each change kept in voucher_changes."""
    await conn.execute(
        """UPDATE vouchers SET recipient_email = coalesce($2, recipient_email), deliver_on = coalesce($3, deliver_on)
           WHERE id = $1""",
        voucher_id,
        changes.get("recipient_email", (None, None))[1],
        changes.get("deliver_on", (None, None))[1],
    )
    await conn.executemany(
        "INSERT INTO voucher_changes (voucher_id, actor, field, old_value, new_value) VALUES ($1, $2, $3, $4, $5)",
        [(voucher_id, actor, field, str(old), str(new)) for field, (old, new) in changes.items()],
    )


async def mark_expired(conn: asyncpg.Connection, voucher_id: uuid.UUID) -> None:
    await conn.execute("UPDATE vouchers SET status = 'expired' WHERE id = $1", voucher_id)


async def claim_expiry_notices(conn: asyncpg.Connection, notice_seconds: float, limit: int) -> list[asyncpg.Record]:
    """Active vouchers with a balance expiring within the notice period, not yet announced (stamped now). An erased
    recipient is told nothing (a reactivation clears the stamp erasure set)."""
    return await conn.fetch(
        f"""UPDATE vouchers SET expiry_notice_at = clock_timestamp()
            WHERE id IN (SELECT id FROM vouchers WHERE status = 'active' AND balance > 0 AND expiry_notice_at IS NULL
                           AND recipient_email IS NOT NULL
                           AND expires_at <= now() + make_interval(secs => $1)
                         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING {VOUCHER_COLUMNS}""",
        notice_seconds,
        limit,
    )


async def expired_units(conn: asyncpg.Connection, voucher_id: uuid.UUID) -> int:
    """What the voucher's expiry took away (0 if it had nothing left)."""
    return await conn.fetchval(
        "SELECT coalesce(-sum(units), 0) FROM voucher_ledger WHERE voucher_id = $1 AND entry = 'expire'", voucher_id
    )


async def reactivate_voucher(conn: asyncpg.Connection, voucher_id: uuid.UUID, expires_at) -> None:
    await conn.execute(
        "UPDATE vouchers SET status = 'active', expires_at = $2, expiry_notice_at = NULL WHERE id = $1",
        voucher_id,
        expires_at,
    )


# --- the clinic's view of its vouchers: one voucher's history, the monthly report --------------------


async def clinic_voucher(conn: asyncpg.Connection, clinic_id: uuid.UUID, voucher_id: uuid.UUID):
    """The clinic's voucher; another clinic's is not found."""
    return await conn.fetchrow(
        f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1 AND clinic_id = $2", voucher_id, clinic_id
    )


async def voucher_ledger(conn: asyncpg.Connection, voucher_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, entry, units, reference_id, actor, note, created_at FROM voucher_ledger "
        "WHERE voucher_id = $1 ORDER BY id",
        voucher_id,
    )


async def voucher_changes(conn: asyncpg.Connection, voucher_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT changed_at, actor, field, old_value, new_value FROM voucher_changes "
        "WHERE voucher_id = $1 ORDER BY changed_at, id",
        voucher_id,
    )


async def voucher_report_sums(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, currency: str, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """The clinic's ledger entries made in [start, end) on its vouchers in `currency` (the one it sells them
    in), counted and summed per entry kind and per the terms their vouchers were sold on
    (voucher_report.LedgerSum): few rows however many entries."""
    return await conn.fetch(
        """SELECT l.entry, v.kind, v.vat_class, v.face_value, v.price_amount,
                  count(*) AS entries, sum(l.units) AS units
           FROM vouchers v JOIN voucher_ledger l ON l.voucher_id = v.id
           WHERE v.clinic_id = $1 AND v.currency = $2 AND l.created_at >= $3 AND l.created_at < $4
           GROUP BY l.entry, v.kind, v.vat_class, v.face_value, v.price_amount""",
        clinic_id,
        currency,
        start,
        end,
    )
