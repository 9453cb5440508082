"""The booking service's daily retention job (docs/privacy.md): what is kept no longer than it must be.

- Health screening answers: each unrestricted screening's retention date is worked out again from its customer's
  last visit and latest date of birth (privacy_rules.health_retain_until; a restricted one keeps the date frozen
  when its customer was erased), and every screening past its date is deleted, restricted or not. Nothing else of
  the booking goes. Only the screenings whose facts moved on since they were dated (or never dated) are read, a
  batch at a time (privacy_store.screenings_to_date): the date of every other one stands, and the deletion is one
  statement on the dates.
- Waitlist entries that ended (booked, left, removed) over waitlist_rules.ENDED_ENTRY_KEPT ago, with their offers.
- Staff sign-in sessions and set-password links that ended (expired, signed out, used) over 30 days ago.

It runs once a day whichever replica gets there first: the run inserts the day's row of `retention_runs` in its
own transaction, so another replica's run of the same day waits and then finds it taken (shared.retention). The booking app checks
hourly (app.py). Operators can run it by hand, or see what it would do:

    python -m services.booking.retention [--dry-run]

which prints the counts as JSON (a run by hand runs whether or not the day's run was done, and records no day;
a dry run changes nothing)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import asyncpg

from services.booking import privacy_rules, privacy_store, waitlist_rules, waitlist_store
from services.booking.settings import BookingSettings
from shared import retention as shared_retention

# Sessions and set-password links are kept this long after they ended (to look into a sign-in problem).
ENDED_ACCESS_KEPT = timedelta(days=30)
# Rows read or deleted per statement (screenings dated, waitlist entries deleted): a backlog never in one go.
RETENTION_BATCH = 1000
# How often the app looks whether today's run is done (it runs at most once a day).
RETENTION_CHECK_INTERVAL = shared_retention.RETENTION_CHECK_INTERVAL


def _retain_until(row) -> date:
    """A screening's retention date from its facts (a row of privacy_store.screenings_to_date)."""
    anchor = privacy_rules.retention_anchor(row["answered_on"], row["last_visit"])
    return privacy_rules.health_retain_until(anchor, row["birth_date"])


async def _date_screenings(conn: asyncpg.Connection, now: datetime) -> tuple[int, int]:
    """The unrestricted screenings whose facts moved on, dated again a batch at a time: (examined, whose date
    changed)."""
    examined = changed = 0
    after = None
    while True:
        rows = await privacy_store.screenings_to_date(conn, now, after, RETENTION_BATCH)
        if not rows:
            break
        dates = [_retain_until(row) for row in rows]
        await privacy_store.set_retain_until(conn, rows, dates)
        examined += len(rows)
        changed += sum(1 for row, until in zip(rows, dates) if until != row["retain_until"])
        if len(rows) < RETENTION_BATCH:
            break
        after = rows[-1]["booking_id"]
    return examined, changed


async def _delete_ended_waitlist_entries(conn: asyncpg.Connection, now: datetime) -> int:
    ended_before = waitlist_rules.ended_entries_forgotten_before(now)
    return await shared_retention.delete_in_batches(
        lambda batch: waitlist_store.delete_ended_entries(conn, ended_before, batch), RETENTION_BATCH
    )


async def _apply(conn: asyncpg.Connection, today: date, now: datetime) -> dict[str, int]:
    examined, dated = await _date_screenings(conn, now)
    deleted, restricted = await privacy_store.delete_screenings_past(conn, today)
    ended_before = now - ENDED_ACCESS_KEPT
    return {
        "screenings_examined": examined,
        "screenings_dated": dated,
        "screenings_deleted": deleted,
        "restricted_screenings_deleted": restricted,
        "waitlist_entries_deleted": await _delete_ended_waitlist_entries(conn, now),
        "staff_sessions_deleted": await privacy_store.delete_ended_staff_sessions(conn, ended_before),
        "password_links_deleted": await privacy_store.delete_ended_password_links(conn, ended_before),
    }


async def run_retention(
    pool: asyncpg.Pool, *, today: date, now: datetime, dry_run: bool = False, claim: bool = True
) -> dict[str, int] | None:
    """Today's run: the counts of what it did, or None if another run has the day already. `claim` False (an
    operator's run by hand): run whether or not the day was run, and record no day. A dry run claims no day and
    changes nothing: the counts of what a run would do now (shared.retention.run_once)."""
    return await shared_retention.run_once(
        pool, _apply, service="booking", today=today, now=now, dry_run=dry_run, claim=claim
    )


def retention_ctx(interval: float):
    """The background task of the booking app: today's run, if no replica has done it, checked every `interval`."""
    return shared_retention.daily_ctx(run_retention, interval)


def main(argv: list[str] | None = None) -> None:
    shared_retention.command_line("booking", BookingSettings, run_retention, argv)


if __name__ == "__main__":
    main()
