"""The payments service's daily retention job (services/payments/retention.py): Stripe's events go 30 days after
they came; money records go six years after the end of the UK tax year of their last movement (deleted, or
anonymised while a kept record points at them); a second run changes nothing; one run a day whichever replica
gets there first; a dry run changes nothing; the app runs it in the background, and operators by hand."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.payments import retention
from services.payments.app import create_app as create_payments_app
from services.payments.retention import run_retention
from tests.support.retention import by_hand, todays_run_finished

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
CLINIC = uuid.uuid4()
# On TODAY, money movements from 6 April 2020 (UK) on are kept: the 2019-20 tax year ended on 5 April 2020, and
# its six years on 5 April 2026.
LAST_TAX_YEAR_PAST = datetime(2020, 4, 5, 12, 0, tzinfo=timezone.utc)
FIRST_TAX_YEAR_KEPT = datetime(2020, 4, 5, 23, 30, tzinfo=timezone.utc)  # 00:30 BST on 6 April 2020


def utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


async def _stripe_event(conn, received_at: datetime) -> str:
    event_id = f"evt_{uuid.uuid4().hex}"
    await conn.execute(
        "INSERT INTO stripe_events (id, type, payload, received_at) VALUES ($1, 'payment_intent.succeeded', $2, $3)",
        event_id,
        {"id": event_id, "amount": 6000},
        received_at,
    )
    return event_id


async def _payment(
    conn, at: datetime, *, purpose: str = "booking", reference: uuid.UUID | None = None, refund_at=None
) -> uuid.UUID:
    """A succeeded card payment made at `at` by a customer who saved their card (and a refund, if `refund_at`)."""
    payment_id, reference = uuid.uuid4(), reference or uuid.uuid4()
    await conn.execute(
        """INSERT INTO payments (id, clinic_id, purpose, reference_id, amount, currency, customer_email,
                                 stripe_payment_intent, client_secret, status, created_at, updated_at, succeeded_at,
                                 stripe_customer, amount_refunded)
           VALUES ($1, $2, $3, $4, 6000, 'GBP', 'Pat@Example.com', $5, 'pi_secret', 'succeeded', $6, $6, $6,
                   'cus_pat', $7)""",
        payment_id,
        CLINIC,
        purpose,
        reference,
        f"pi_{uuid.uuid4().hex}",
        at,
        1000 if refund_at else 0,
    )
    if purpose == "booking":
        await conn.execute(
            """INSERT INTO saved_cards (reference_id, clinic_id, stripe_customer, payment_method, created_at)
               VALUES ($1, $2, 'cus_pat', 'pm_card_visa', $3)""",
            reference,
            CLINIC,
            at,
        )
    if refund_at:
        await conn.execute(
            """INSERT INTO refunds (id, payment_id, stripe_refund_id, amount, reason, status, created_at)
               VALUES ($1, $2, $3, 1000, 'cancelled', 'succeeded', $4)""",
            uuid.uuid4(),
            payment_id,
            f"re_{uuid.uuid4().hex}",
            refund_at,
        )
    return payment_id


async def _voucher(conn, sold: datetime, *, status: str, balance: int, redeemed_for: uuid.UUID) -> uuid.UUID:
    """A £50 voucher sold (and paid for) at `sold`, of which £10 paid the booking `redeemed_for` a week later."""
    voucher_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO vouchers (id, clinic_id, clinic_slug, clinic_name, clinic_timezone, validity_months, kind,
                                 vat_class, unit, title, face_value, currency, price_amount, buyer_name, buyer_email,
                                 recipient_name, recipient_email, message, deliver_on, status, balance, code_hash,
                                 code_last4, expires_at, created_at, issued_at)
           VALUES ($1, $2, 'urban-therapy', 'Urban Therapy Clinic', 'Europe/London', 120, 'amount', 'multi_purpose',
                   'money', 'Gift', 5000, 'GBP', 5000, 'Buyer', 'buyer@example.com', 'Recipient',
                   'recipient@example.com', 'Happy birthday', $3::date, $4, $5, $6, 'WXYZ', $7, $3, $3)""",
        voucher_id,
        CLINIC,
        sold,
        status,
        balance,
        os.urandom(16),
        sold + timedelta(days=3650),
    )
    redeemed = sold + timedelta(days=7)
    await conn.executemany(
        """INSERT INTO voucher_ledger (voucher_id, entry, units, reference_id, actor, created_at)
           VALUES ($1, $2, $3, $4, 'test', $5)""",
        [(voucher_id, "issue", 5000, None, sold), (voucher_id, "redeem", -1000, redeemed_for, redeemed)],
    )
    await conn.execute(
        """INSERT INTO voucher_redemptions (id, voucher_id, reference_id, units, value_amount, status, created_at)
           VALUES ($1, $2, $3, 1000, 1000, 'redeemed', $4)""",
        uuid.uuid4(),
        voucher_id,
        redeemed_for,
        redeemed,
    )
    await conn.execute(
        """INSERT INTO voucher_changes (voucher_id, changed_at, actor, field, old_value, new_value)
           VALUES ($1, $2, 'buyer', 'recipient_email', 'old@example.com', 'recipient@example.com')""",
        voucher_id,
        sold,
    )
    await _payment(conn, sold, purpose="voucher", reference=voucher_id)
    return voucher_id


async def _fee(conn, at: datetime) -> uuid.UUID:
    fee_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO booking_fees (id, clinic_id, booking_id, paid_for, kind, amount, currency, customer_email,
                                     status, stripe_payment_intent, created_at, settled_at)
           VALUES ($1, $2, $3, $3, 'no_show', 2000, 'GBP', 'pat@example.com', 'charged', $4, $5, $5)""",
        fee_id,
        CLINIC,
        uuid.uuid4(),
        f"pi_{uuid.uuid4().hex}",
        at,
    )
    return fee_id


async def _booking_reference(conn, payment_id: uuid.UUID) -> uuid.UUID:
    return await conn.fetchval("SELECT reference_id FROM payments WHERE id = $1", payment_id)


@pytest.fixture
async def world(payments_pool) -> dict[str, object]:
    async with payments_pool.acquire() as conn:
        made: dict[str, object] = {
            "event_old": await _stripe_event(conn, NOW - timedelta(days=31)),
            "event_recent": await _stripe_event(conn, NOW - timedelta(days=29)),
            # The last tax year whose six years are over: deleted with its refund and saved card.
            "payment_past": await _payment(conn, LAST_TAX_YEAR_PAST, refund_at=LAST_TAX_YEAR_PAST + timedelta(hours=1)),
            # Minutes later in the UK (after midnight BST), the next tax year: kept whole.
            "payment_kept": await _payment(conn, FIRST_TAX_YEAR_KEPT),
            # Made long ago but refunded in a tax year still kept: kept whole.
            "payment_refunded_later": await _payment(conn, utc("2018-05-01"), refund_at=utc("2020-05-01")),
            "fee_past": await _fee(conn, utc("2019-06-01")),
            "fee_kept": await _fee(conn, utc("2021-06-01")),
            "fee_paid_later": await _fee(conn, utc("2019-06-02")),
            # Paid partly by a voucher still redeemable: the voucher's ledger points at it, so it stays, anonymised.
            "payment_voucher_points_at": await _payment(conn, utc("2019-03-01")),
            # Paid partly by a voucher used up long ago: that sale goes, so this payment goes too.
            "payment_voucher_gone": await _payment(conn, utc("2019-03-02")),
        }
        # Its pay-link payment came in a tax year still kept: the fee stays, anonymised.
        await _payment(conn, utc("2021-01-01"), purpose="fee", reference=made["fee_paid_later"])
        made["voucher_redeemable"] = await _voucher(
            conn,
            utc("2019-02-01"),
            status="active",
            balance=4000,
            redeemed_for=await _booking_reference(conn, made["payment_voucher_points_at"]),
        )
        made["voucher_expired"] = await _voucher(
            conn,
            utc("2019-02-02"),
            status="expired",
            balance=0,
            redeemed_for=await _booking_reference(conn, made["payment_voucher_gone"]),
        )
    return made


async def _state(pool) -> dict[str, list]:
    """Every row the job may touch, as it stands."""
    async with pool.acquire() as conn:
        return {
            table: sorted((dict(row) for row in await conn.fetch(f"SELECT * FROM {table}")), key=repr)
            for table in (
                "stripe_events",
                "payments",
                "refunds",
                "saved_cards",
                "booking_fees",
                "vouchers",
                "voucher_ledger",
                "voucher_redemptions",
                "voucher_changes",
            )
        }


async def _ids(pool, table: str, column: str = "id") -> set:
    async with pool.acquire() as conn:
        return {row[0] for row in await conn.fetch(f"SELECT {column} FROM {table}")}


EXPECTED_COUNTS = {
    "stripe_events_deleted": 1,
    "vouchers_deleted": 1,
    "vouchers_anonymised": 1,
    "payments_deleted": 3,  # payment_past, payment_voucher_gone, voucher_expired's purchase
    "payments_anonymised": 2,  # payment_voucher_points_at, voucher_redeemable's purchase
    "refunds_deleted": 1,
    "saved_cards_deleted": 3,  # of payment_past, payment_voucher_gone, payment_voucher_points_at
    "fees_deleted": 1,
    "fees_anonymised": 1,
}


async def test_records_past_their_retention_go_and_the_others_stay_whole(payments_pool, world):
    before = await _state(payments_pool)
    counts = await run_retention(payments_pool, today=TODAY, now=NOW)
    assert counts == EXPECTED_COUNTS

    assert await _ids(payments_pool, "stripe_events") == {world["event_recent"]}
    assert await _ids(payments_pool, "booking_fees") == {world["fee_kept"], world["fee_paid_later"]}
    payments = await _ids(payments_pool, "payments")
    assert world["payment_past"] not in payments and world["payment_voucher_gone"] not in payments
    assert await _ids(payments_pool, "vouchers") == {world["voucher_redeemable"]}
    assert len(await _ids(payments_pool, "voucher_ledger")) == 2, "the redeemable voucher's ledger stays whole"

    after = await _state(payments_pool)
    kept = {world["payment_kept"], world["payment_refunded_later"]}
    assert [p for p in after["payments"] if p["id"] in kept] == [p for p in before["payments"] if p["id"] in kept]
    assert len(after["refunds"]) == 1, "the later refund stays; the old one went with its payment"

    async with payments_pool.acquire() as conn:
        anonymised = await conn.fetch(
            """SELECT amount, amount_refunded, status, stripe_payment_intent, customer_email, stripe_customer,
                      client_secret FROM payments WHERE customer_email IS NULL"""
        )
        voucher = await conn.fetchrow("SELECT * FROM vouchers")
        change = await conn.fetchrow("SELECT old_value, new_value FROM voucher_changes")
        cards = await conn.fetch("SELECT reference_id FROM saved_cards")
        fee_email = await conn.fetchval(
            "SELECT customer_email FROM booking_fees WHERE id = $1", world["fee_paid_later"]
        )
    assert len(anonymised) == 2
    for row in anonymised:
        assert (row["amount"], row["status"]) == (6000, "succeeded") and row["stripe_payment_intent"]
        assert row["stripe_customer"] is None and row["client_secret"] is None
    assert (voucher["balance"], voucher["price_amount"], voucher["status"]) == (4000, 5000, "active")
    assert [voucher[c] for c in ("buyer_name", "buyer_email", "recipient_name", "recipient_email")] == [None] * 4
    assert voucher["message"] == "" and voucher["erased_at"] is not None
    assert (change["old_value"], change["new_value"]) == ("[erased]", "[erased]")
    assert len(cards) == 2, "the kept payments' saved cards stay"
    assert fee_email is None


async def test_a_second_run_changes_nothing(payments_pool, world):
    await run_retention(payments_pool, today=TODAY, now=NOW)
    after_first = await _state(payments_pool)
    again = await run_retention(payments_pool, today=TODAY, now=NOW, claim=False)
    assert again == dict.fromkeys(EXPECTED_COUNTS, 0)
    assert await _state(payments_pool) == after_first


async def test_in_batches_the_job_does_the_same(payments_pool, world, monkeypatch):
    monkeypatch.setattr(retention, "RETENTION_BATCH", 1)
    assert await run_retention(payments_pool, today=TODAY, now=NOW) == EXPECTED_COUNTS


async def test_a_dry_run_changes_nothing_and_reports_the_counts(payments_pool, world):
    before = await _state(payments_pool)
    dry = await run_retention(payments_pool, today=TODAY, now=NOW, dry_run=True)
    assert dry == EXPECTED_COUNTS
    assert await _state(payments_pool) == before
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM retention_runs") == 0
    assert await run_retention(payments_pool, today=TODAY, now=NOW) == dry, "the day is still to run"


async def test_two_replicas_at_once_run_the_day_once(payments_pool, world):
    first, second = await asyncio.gather(
        run_retention(payments_pool, today=TODAY, now=NOW), run_retention(payments_pool, today=TODAY, now=NOW)
    )
    assert sorted([first is None, second is None]) == [False, True], (first, second)
    async with payments_pool.acquire() as conn:
        [row] = await conn.fetch("SELECT run_on, finished_at, counts FROM retention_runs")
    assert row["run_on"] == TODAY and row["finished_at"] is not None and row["counts"] == (first or second)
    assert await run_retention(payments_pool, today=TODAY, now=NOW + timedelta(hours=1)) is None, "an hour later"


async def test_the_payments_app_runs_todays_job_in_the_background(settings, aiohttp_client, payments_pool):
    await aiohttp_client(create_payments_app(settings, reconciler=False))
    await todays_run_finished(payments_pool)
    assert retention.RETENTION_CHECK_INTERVAL == 3600.0


async def test_operators_see_what_a_run_would_do(settings, payments_pool, world):
    printed = by_hand("payments", settings.database_url, "--dry-run")
    # Run today (not on NOW): the world's Stripe events are 29 and 31 days older than NOW.
    assert printed["dry_run"] is True and printed["payments_deleted"] == 3 and printed["vouchers_anonymised"] == 1
    async with payments_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 8, "nothing changed"
