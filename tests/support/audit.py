"""`python -m tests.support.audit DATABASE_URL`: the "no charge without a booking or a recorded fee" check, and
the parts' sums.

Every succeeded card payment must be attached to a confirmed (or completed) booking, an issued voucher or a fee
paid from its pay link, or be refunded in full; no open PaymentIntent may wait for a booking that was never
written (one confirm away from a charge without a booking); every fee charged is charged once (off session or from
its pay link, not both), for a booking marked no-show or cancelled. Prints the offenders; exits 1 if any."""

from __future__ import annotations

import asyncio
import sys

import asyncpg

UNMATCHED_PAYMENTS = """
SELECT p.id, p.purpose, p.reference_id, p.amount, p.amount_refunded
FROM payments.payments p
WHERE p.status = 'succeeded'
  AND p.amount_refunded < p.amount
  AND NOT (p.purpose = 'booking' AND EXISTS (
        SELECT 1 FROM booking.bookings b
        WHERE (b.id = p.reference_id OR b.series_id = p.reference_id)
          AND b.status IN ('confirmed', 'completed', 'no_show')))
  AND NOT (p.purpose = 'voucher' AND EXISTS (
        SELECT 1 FROM payments.vouchers v WHERE v.id = p.reference_id AND v.issued_at IS NOT NULL))
  AND NOT (p.purpose = 'fee' AND EXISTS (
        SELECT 1 FROM payments.booking_fees f WHERE f.id = p.reference_id AND f.status = 'paid' AND f.amount = p.amount))
"""


# Fees (issue 20): a fee charged off session (its PaymentIntent on the row) and also paid from its pay link is charged
# twice; a fee `paid` has its pay link's succeeded payment of its amount; a fee is only for a booking marked so (a
# no-show's for a no-show, a late cancellation's for a cancelled booking); none is left pending.
FEES_NOT_MATCHING = """
SELECT f.id, f.kind, f.status, f.booking_id, f.amount, p.id AS payment_id
FROM payments.booking_fees f
LEFT JOIN payments.payments p ON p.purpose = 'fee' AND p.reference_id = f.id AND p.status = 'succeeded'
WHERE (f.status = 'charged' AND (f.stripe_payment_intent IS NULL OR p.id IS NOT NULL))
   OR (f.status = 'paid' AND (p.id IS NULL OR p.amount <> f.amount))
   OR f.status = 'pending'
   OR (f.status IN ('charged', 'paid') AND NOT EXISTS (
        SELECT 1 FROM booking.bookings b WHERE b.id = f.booking_id
          AND b.status = CASE f.kind WHEN 'no_show' THEN 'no_show' ELSE 'cancelled' END))
"""


# Open card payments of bookings that no booking row names (the booking's write failed after payments
# answered). Run when nothing is in flight: a booking being submitted names its payment at commit.
OPEN_INTENTS_WITHOUT_BOOKING = """
SELECT p.id, p.purpose, p.reference_id, p.amount, 0 AS amount_refunded
FROM payments.payments p
WHERE p.purpose = 'booking' AND p.status IN ('requires_payment', 'processing')
  AND NOT EXISTS (SELECT 1 FROM booking.bookings b WHERE b.payment_id = p.id)
"""


# Every booking asked about is paid in parts (issue 20): price = voucher part + card part + due at the clinic; the
# card part is its card payment's amount (no payment when 0); the price is its bookings' price; refunds never
# exceed the card part. One row per booking whose parts do not add up.
PARTS_NOT_ADDING_UP = """
SELECT bp.reference_id, bp.price, bp.voucher_part, bp.card_part, bp.due_at_clinic,
       coalesce(p.amount, 0) AS paid_by_card, coalesce(r.refunded, 0) AS refunded
FROM payments.booking_parts bp
LEFT JOIN payments.payments p ON p.purpose = 'booking' AND p.reference_id = bp.reference_id
LEFT JOIN (SELECT payment_id, sum(amount) AS refunded FROM payments.refunds
           WHERE status NOT IN ('failed', 'canceled') GROUP BY payment_id) r ON r.payment_id = p.id
WHERE bp.price <> bp.voucher_part + bp.card_part + bp.due_at_clinic
   OR bp.card_part <> coalesce(p.amount, 0)
   OR greatest(coalesce(r.refunded, 0), coalesce(p.amount_refunded, 0)) > bp.card_part
   OR bp.price <> (SELECT coalesce(sum(b.price_amount), bp.price) FROM booking.bookings b
                   WHERE b.id = bp.reference_id OR b.series_id = bp.reference_id)
"""


async def parts_not_adding_up(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(PARTS_NOT_ADDING_UP)


async def fees_not_matching(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(FEES_NOT_MATCHING)


async def charges_without_booking(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(UNMATCHED_PAYMENTS)


async def open_intents_without_booking(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(OPEN_INTENTS_WITHOUT_BOOKING)


async def main(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        charges = await charges_without_booking(conn)
        intents = await open_intents_without_booking(conn)
        parts = await parts_not_adding_up(conn)
        fees = await fees_not_matching(conn)
    finally:
        await conn.close()
    for row in charges:
        print(
            f"charge without a booking: payment {row['id']} ({row['purpose']} {row['reference_id']}), "
            f"{row['amount'] - row['amount_refunded']} not refunded"
        )
    for row in intents:
        print(f"open payment without a booking: payment {row['id']} (booking {row['reference_id']})")
    for row in parts:
        print(
            f"parts not adding up: booking {row['reference_id']}: price {row['price']} = voucher {row['voucher_part']}"
            f" + card {row['card_part']} (paid {row['paid_by_card']}, refunded {row['refunded']})"
            f" + at the clinic {row['due_at_clinic']}?"
        )
    for row in fees:
        print(
            f"fee not matching: {row['kind']} fee {row['id']} ({row['status']}, {row['amount']}) of booking "
            f"{row['booking_id']} (pay link payment {row['payment_id']})"
        )
    print(
        f"{len(charges)} charge(s) without a booking, {len(intents)} open payment(s) without a booking, "
        f"{len(parts)} booking(s) whose parts do not add up, {len(fees)} fee(s) not matching"
    )
    return 1 if charges or intents or parts or fees else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1])))
