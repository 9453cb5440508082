"""The invariant checker (shared/invariants.py) over the services' real data: quiet on a sound system, and
each invariant counts what breaks it (broken here by hand, below the services' own guards)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from services.booking.seed import stable_id
from shared.events import Event, dead_letter_key
from shared.invariants import INVARIANTS, check, report
from shared.outbox import add_event
from tests.support.booking import book_and_pay, next_weekday
from tests.support.vouchers import buy_voucher


def counts(findings) -> dict[str, int]:
    return {f.name: f.count for f in findings}


async def test_a_sound_system_breaks_no_invariant(booking, payments, checkout, payments_pool, settings):
    await book_and_pay(booking, checkout, day=next_weekday(2))
    await buy_voucher(payments, checkout, payments_pool, settings)
    findings = await check(settings.database_url, settings.redis_url, settings.redis_prefix, settle=0)
    assert len(findings) == len(INVARIANTS) + 1 and not any(counts(findings).values()), report(findings)


async def test_each_broken_promise_is_counted_and_the_command_fails(
    booking, payments, checkout, booking_pool, payments_pool, notifications_pool, redis, settings
):
    paid = await book_and_pay(booking, checkout, day=next_weekday(3))
    voucher, _ = await buy_voucher(payments, checkout, payments_pool, settings)
    async with booking_pool.acquire() as conn:
        await conn.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap")  # as if it never held
        await conn.execute(
            """INSERT INTO bookings (id, clinic_id, treatment_id, therapist_id, starts_at, ends_at, blocked, status,
                                     customer_name, customer_email, price_amount, currency)
               SELECT gen_random_uuid(), clinic_id, treatment_id, therapist_id, starts_at, ends_at, blocked,
                      'confirmed', customer_name, customer_email, price_amount, currency FROM bookings WHERE id = $1""",
            uuid.UUID(paid["id"]),
        )
        await add_event(conn, Event("booking.noted", {}))  # never published
        await conn.execute("UPDATE outbox SET created_at = now() - interval '1 hour' WHERE published_at IS NULL")
    async with payments_pool.acquire() as conn:
        await conn.execute("UPDATE vouchers SET balance = balance + 1 WHERE id = $1", uuid.UUID(voucher["id"]))
        await conn.execute("UPDATE vouchers SET issued_at = NULL WHERE id = $1", uuid.UUID(voucher["id"]))
        await conn.execute(  # its parts no longer name what the card paid
            "UPDATE booking_parts SET card_part = card_part - 1, due_at_clinic = due_at_clinic + 1 "
            "WHERE reference_id = $1",
            uuid.UUID(paid["id"]),
        )
        await conn.execute(  # a fee charged for a booking never marked no-show
            "INSERT INTO booking_fees (id, clinic_id, booking_id, paid_for, kind, amount, currency, status, "
            "stripe_payment_intent) VALUES (gen_random_uuid(), $1, $2, $2, 'no_show', 3250, 'GBP', 'charged', 'pi_x')",
            stable_id("urban-therapy"),
            uuid.UUID(paid["id"]),
        )
    await redis.xadd(dead_letter_key(settings.redis_prefix, "booking"), {"event": "{}"})
    async with notifications_pool.acquire() as conn:
        await conn.execute("DELETE FROM emails WHERE kind = 'booking_confirmed'")
        await conn.execute(  # an endpoint subscribed before the booking, with no delivery of it
            "INSERT INTO webhook_endpoints (id, clinic_id, url, event_types, created_at) "
            "VALUES ($1, $2, 'https://clinic.example/hook', '{booking.created}', now() - interval '1 day')",
            uuid.uuid4(),
            stable_id("urban-therapy"),
        )

    findings = counts(await check(settings.database_url, settings.redis_url, settings.redis_prefix, settle=0))
    assert findings == {
        "no two live reservations of a therapist overlap": 1,
        "every voucher's balance is its ledger's sum, and never below zero": 1,
        "every succeeded payment has its booking, its issued voucher or its refund": 1,
        "every booking's price is its voucher part + card part + due at the clinic; refunds never exceed the card": 1,
        "every fee charged is charged once, for a booking marked no-show or cancelled": 1,
        "every confirmed booking has its confirmation email": 1,
        "every confirmed booking has one booking.created delivery per endpoint subscribed then": 1,
        "no outbox row is left unpublished": 1,
        "no event is dead-lettered": 1,
    }
    command = subprocess.run(
        [sys.executable, "-m", "shared.invariants", "--settle", "0"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "REDIS_PREFIX": settings.redis_prefix,
        },
    )
    assert command.returncode == 1, command.stderr
    assert "FAIL      1  no two live reservations of a therapist overlap" in command.stdout
    assert "violation(s) of 9 invariants" in command.stdout
