"""`python -m shared.invariants [--settle SECONDS]`: what must hold across every service's data, whatever
crashed on the way (issue 16's fault-injection suite runs it after each fault; an operator may run it any
time against DATABASE_URL and REDIS_URL). Prints each invariant with its count of violations and a few
examples; exits 1 if any is violated.

Each check is one query over the services' own schemas, read-only. Counts of work in flight (an event not
yet published, a booking not yet emailed) only count once older than `settle` seconds."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from shared.config import load_settings
from shared.events import dead_letter_key

SETTLE_SECONDS = 60.0
EXAMPLES = 3
TOPICS = ("booking", "payment", "voucher", "staff", "waitlist")
LIVE = "('held', 'pending_payment', 'confirmed')"  # what the no-overlap constraint covers


@dataclass(frozen=True)
class Invariant:
    name: str
    query: str  # the violations: one row each, its first column naming it; $1, if used, the settle time


INVARIANTS = (
    Invariant(
        "no two live reservations of a therapist overlap",
        f"""
        SELECT a.id || ' & ' || b.id FROM booking.bookings a JOIN booking.bookings b
          ON a.therapist_id = b.therapist_id AND a.id < b.id AND a.blocked && b.blocked
        WHERE a.status IN {LIVE} AND b.status IN {LIVE}""",
    ),
    Invariant(
        "every voucher's balance is its ledger's sum, and never below zero",
        """
        SELECT v.id::text FROM payments.vouchers v
        LEFT JOIN (SELECT voucher_id, sum(units) AS units FROM payments.voucher_ledger GROUP BY voucher_id) l
          ON l.voucher_id = v.id
        WHERE (v.balance <> coalesce(l.units, 0) OR v.balance < 0)""",
    ),
    Invariant(
        "every succeeded payment has its booking, its issued voucher or its refund",
        """
        SELECT p.id::text FROM payments.payments p
        WHERE p.status = 'succeeded' AND p.amount_refunded < p.amount
          AND p.succeeded_at < clock_timestamp() - make_interval(secs => $1)
          AND NOT (p.purpose = 'booking' AND EXISTS (
                SELECT 1 FROM booking.bookings b WHERE (b.id = p.reference_id OR b.series_id = p.reference_id)
                  AND b.status IN ('confirmed', 'completed', 'no_show')))
          AND NOT (p.purpose = 'voucher' AND EXISTS (
                SELECT 1 FROM payments.vouchers v WHERE v.id = p.reference_id AND v.issued_at IS NOT NULL))
          AND NOT (p.purpose = 'fee' AND EXISTS (
                SELECT 1 FROM payments.booking_fees f WHERE f.id = p.reference_id AND f.status = 'paid'
                  AND f.amount = p.amount))""",
    ),
    Invariant(
        "every fee charged is charged once, for a booking marked no-show or cancelled",
        """
        SELECT f.id::text FROM payments.booking_fees f
        LEFT JOIN payments.payments p ON p.purpose = 'fee' AND p.reference_id = f.id AND p.status = 'succeeded'
        WHERE f.created_at < clock_timestamp() - make_interval(secs => $1)
          AND ((f.status = 'charged' AND (f.stripe_payment_intent IS NULL OR p.id IS NOT NULL))
            OR (f.status = 'paid' AND (p.id IS NULL OR p.amount <> f.amount))
            OR (f.status = 'pending')
            OR (f.status IN ('charged', 'paid') AND NOT EXISTS (
                  SELECT 1 FROM booking.bookings b WHERE b.id = f.booking_id
                    AND b.status = CASE f.kind WHEN 'no_show' THEN 'no_show' ELSE 'cancelled' END)))""",
    ),
    Invariant(
        "every booking's price is its voucher part + card part + due at the clinic; refunds never exceed the card",
        """
        SELECT bp.reference_id::text FROM payments.booking_parts bp
        LEFT JOIN payments.payments p ON p.purpose = 'booking' AND p.reference_id = bp.reference_id
        WHERE bp.price <> bp.voucher_part + bp.card_part + bp.due_at_clinic
           OR bp.card_part <> coalesce(p.amount, 0)
           OR coalesce(p.amount_refunded, 0) > bp.card_part
           OR (SELECT coalesce(sum(r.amount), 0) FROM payments.refunds r
               WHERE r.payment_id = p.id AND r.status NOT IN ('failed', 'canceled')) > bp.card_part
           OR bp.price <> (SELECT coalesce(sum(b.price_amount), bp.price) FROM booking.bookings b
                           WHERE b.id = bp.reference_id OR b.series_id = bp.reference_id)""",
    ),
    Invariant(
        "every confirmed booking has its confirmation email",
        """
        SELECT o.envelope->'data'->>'booking_id' FROM booking.outbox o
        WHERE o.envelope->>'type' = 'booking.confirmed'
          AND o.created_at < clock_timestamp() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM notifications.emails e
                          WHERE e.event_id = o.event_id AND e.kind = 'booking_confirmed')""",
    ),
    Invariant(
        "every confirmed booking has one booking.created delivery per endpoint subscribed then",
        """
        SELECT o.envelope->'data'->>'booking_id' || ' -> ' || w.id FROM booking.outbox o
        JOIN notifications.webhook_endpoints w
          ON w.clinic_id::text = o.envelope->>'clinic_id' AND 'booking.created' = ANY(w.event_types)
         AND w.created_at < o.created_at AND w.deleted_at IS NULL AND w.status = 'enabled'
        WHERE o.envelope->>'type' = 'booking.confirmed'
          AND o.created_at < clock_timestamp() - make_interval(secs => $1)
          AND (SELECT count(*) FROM notifications.webhook_deliveries d
               WHERE d.endpoint_id = w.id AND d.event_id = o.event_id) <> 1""",
    ),
    Invariant(
        "no outbox row is left unpublished",
        """
        SELECT 'booking ' || seq FROM booking.outbox
        WHERE published_at IS NULL AND created_at < clock_timestamp() - make_interval(secs => $1)
        UNION ALL
        SELECT 'payments ' || seq FROM payments.outbox
        WHERE published_at IS NULL AND created_at < clock_timestamp() - make_interval(secs => $1)""",
    ),
)


@dataclass(frozen=True)
class Finding:
    name: str
    count: int
    examples: list[str]


async def check_database(conn: asyncpg.Connection, settle: float = SETTLE_SECONDS) -> list[Finding]:
    findings = []
    for invariant in INVARIANTS:
        rows = await conn.fetch(invariant.query, *([settle] if "$1" in invariant.query else []))
        findings.append(Finding(invariant.name, len(rows), [str(r[0]) for r in rows[:EXAMPLES]]))
    return findings


async def check_dead_letters(redis: aioredis.Redis, prefix: str) -> Finding:
    """A dead-lettered event is one no handler could take: each needs a person to look at it."""
    counts = {topic: await redis.xlen(dead_letter_key(prefix, topic)) for topic in TOPICS}
    return Finding(
        "no event is dead-lettered",
        sum(counts.values()),
        [f"{topic}: {n}" for topic, n in counts.items() if n][:EXAMPLES],
    )


async def check(database_url: str, redis_url: str, prefix: str, settle: float = SETTLE_SECONDS) -> list[Finding]:
    conn = await asyncpg.connect(database_url)
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [*await check_database(conn, settle), await check_dead_letters(redis, prefix)]
    finally:
        await conn.close()
        await redis.aclose()


def report(findings: list[Finding]) -> str:
    lines = [
        f"{'ok  ' if f.count == 0 else 'FAIL'} {f.count:6d}  {f.name}"
        + (f"  (e.g. {', '.join(f.examples)})" if f.examples else "")
        for f in findings
    ]
    violated = sum(f.count for f in findings)
    lines.append(f"{violated} violation(s) of {len(findings)} invariants")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        help="seconds work in flight may take before it counts as missing",
    )
    args = parser.parse_args()
    settings = load_settings()
    findings = asyncio.run(check(settings.database_url, settings.redis_url, settings.redis_prefix, args.settle))
    print(report(findings))
    return 1 if any(f.count for f in findings) else 0


if __name__ == "__main__":
    raise SystemExit(main())
