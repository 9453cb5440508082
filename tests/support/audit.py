"""`python -m tests.support.audit DATABASE_URL`: the "no charge without a booking" check.

Every succeeded card payment must be attached to a confirmed (or completed) booking or an issued
voucher, or be refunded in full; and no open PaymentIntent may wait for a booking that was never
written (one confirm away from a charge without a booking). Prints the offenders; exits 1 if any."""

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
"""


# Open card payments of bookings that no booking row names (the booking's write failed after payments
# answered). Run when nothing is in flight: a booking being submitted names its payment at commit.
OPEN_INTENTS_WITHOUT_BOOKING = """
SELECT p.id, p.purpose, p.reference_id, p.amount, 0 AS amount_refunded
FROM payments.payments p
WHERE p.purpose = 'booking' AND p.status IN ('requires_payment', 'processing')
  AND NOT EXISTS (SELECT 1 FROM booking.bookings b WHERE b.payment_id = p.id)
"""


async def charges_without_booking(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(UNMATCHED_PAYMENTS)


async def open_intents_without_booking(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(OPEN_INTENTS_WITHOUT_BOOKING)


async def main(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        charges = await charges_without_booking(conn)
        intents = await open_intents_without_booking(conn)
    finally:
        await conn.close()
    for row in charges:
        print(
            f"charge without a booking: payment {row['id']} ({row['purpose']} {row['reference_id']}), "
            f"{row['amount'] - row['amount_refunded']} not refunded"
        )
    for row in intents:
        print(f"open payment without a booking: payment {row['id']} (booking {row['reference_id']})")
    print(f"{len(charges)} charge(s) without a booking, {len(intents)} open payment(s) without a booking")
    return 1 if charges or intents else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1])))
