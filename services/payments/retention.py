"""The payments service's daily retention job (docs/privacy.md; the rules and why: retention_rules.py).

- Stripe's events received over retention_rules.STRIPE_EVENTS_KEPT (30 days) ago are deleted.
- Money records whose last movement falls in a UK tax year that ended over six years ago: gift-voucher sales
  first (deleted with their ledger, redemptions and delivery changes, or anonymised if the voucher is still
  redeemable), then payments with their refunds and saved cards (deleted, or anonymised if a kept voucher's
  ledger points at them or they are a kept voucher's purchase), then booking fees (deleted, or anonymised if the
  payment from their pay link is kept). In that order, so that a voucher sale that goes frees its payments in
  the same run.

Everything a batch at a time (RETENTION_BATCH rows per statement), in the run's one transaction. It runs once a
day whichever replica gets there first (the day's row of `retention_runs`: shared.retention); the payments app
checks hourly (app.py). Operators can run it by hand, or see what it would do:

    python -m services.payments.retention [--dry-run]

which prints the counts as JSON (a run by hand runs whether or not the day's run was done, and records no day;
a dry run changes nothing)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Awaitable, Callable

import asyncpg

from services.payments import retention_store as store
from services.payments.retention_rules import (
    Fate,
    fate,
    money_kept_since,
    stripe_events_kept_since,
)
from services.payments.settings import PaymentsSettings
from shared import retention as shared_retention

# Rows read or deleted per statement: a backlog (the first run over years of records) never in one go.
RETENTION_BATCH = 1000
# How often the app looks whether today's run is done (it runs at most once a day).
RETENTION_CHECK_INTERVAL = shared_retention.RETENTION_CHECK_INTERVAL

Batch = Callable[[uuid.UUID | None], Awaitable[list[asyncpg.Record]]]


async def _delete_stripe_events(conn: asyncpg.Connection, now: datetime) -> int:
    received_before = stripe_events_kept_since(now)
    return await shared_retention.delete_in_batches(
        lambda batch: store.delete_stripe_events(conn, received_before, batch), RETENTION_BATCH
    )


async def _each_batch(read: Batch):
    """The batches `read` gives, by id, until a short one."""
    after = None
    while True:
        rows = await read(after)
        if rows:
            yield rows
        if len(rows) < RETENTION_BATCH:
            return
        after = rows[-1]["id"]


def _by_fate(rows: list[asyncpg.Record], referenced: str) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The rows' ids to delete and to anonymise (retention_rules.fate)."""
    fates = [(row["id"], fate(referenced=row[referenced], moves_money=row.get("moves_money", True))) for row in rows]
    return [i for i, f in fates if f is Fate.DELETE], [i for i, f in fates if f is Fate.ANONYMISE]


async def _vouchers(conn: asyncpg.Connection, kept_since: datetime, now: datetime) -> dict[str, int]:
    deleted = anonymised = 0
    async for rows in _each_batch(lambda after: store.vouchers_past(conn, kept_since, now, after, RETENTION_BATCH)):
        to_delete, to_anonymise = _by_fate(rows, "redeemable")
        deleted += await store.delete_vouchers(conn, to_delete)
        anonymised += await store.anonymise_vouchers(conn, to_anonymise)
    return {"vouchers_deleted": deleted, "vouchers_anonymised": anonymised}


async def _payments(conn: asyncpg.Connection, kept_since: datetime) -> dict[str, int]:
    deleted = anonymised = refunds = cards = 0
    async for rows in _each_batch(lambda after: store.payments_past(conn, kept_since, after, RETENTION_BATCH)):
        to_delete, to_anonymise = _by_fate(rows, "referenced")
        cards += await store.delete_saved_cards(conn, [row["reference_id"] for row in rows])
        payments, their_refunds = await store.delete_payments(conn, to_delete)
        deleted, refunds = deleted + payments, refunds + their_refunds
        anonymised += await store.anonymise_payments(conn, to_anonymise)
    return {
        "payments_deleted": deleted,
        "payments_anonymised": anonymised,
        "refunds_deleted": refunds,
        "saved_cards_deleted": cards,
    }


async def _fees(conn: asyncpg.Connection, kept_since: datetime) -> dict[str, int]:
    deleted = anonymised = 0
    async for rows in _each_batch(lambda after: store.fees_past(conn, kept_since, after, RETENTION_BATCH)):
        to_delete, to_anonymise = _by_fate(rows, "referenced")
        deleted += await store.delete_fees(conn, to_delete)
        anonymised += await store.anonymise_fees(conn, to_anonymise)
    return {"fees_deleted": deleted, "fees_anonymised": anonymised}


async def _apply(conn: asyncpg.Connection, today: date, now: datetime) -> dict[str, int]:
    kept_since = money_kept_since(today)
    return {
        "stripe_events_deleted": await _delete_stripe_events(conn, now),
        # Vouchers first: a sale that goes no longer holds its payments.
        **await _vouchers(conn, kept_since, now),
        **await _payments(conn, kept_since),
        **await _fees(conn, kept_since),
    }


async def run_retention(
    pool: asyncpg.Pool, *, today: date, now: datetime, dry_run: bool = False, claim: bool = True
) -> dict[str, int] | None:
    """Today's run: the counts of what it did, or None if another run has the day already. `claim` False (an
    operator's run by hand): run whether or not the day was run, and record no day. A dry run claims no day and
    changes nothing: the counts of what a run would do now."""
    return await shared_retention.run_once(
        pool, _apply, service="payments", today=today, now=now, dry_run=dry_run, claim=claim
    )


def retention_ctx(interval: float):
    """The background task of the payments app: today's run, if no replica has done it, checked every
    `interval`."""
    return shared_retention.daily_ctx(run_retention, interval)


def main(argv: list[str] | None = None) -> None:
    shared_retention.command_line("payments", PaymentsSettings, run_retention, argv)


if __name__ == "__main__":
    main()
