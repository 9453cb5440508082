"""Section e: the notifications issue's speed goal. At a steady rate (default 50 bookings/s for 20 s),
confirmed bookings committed by the booking service's own code from this process; per booking, commit ->
signed `booking.created` webhook at a local receiver (registered through the gateway's clinic API,
every signature checked with `standardwebhooks`) and commit -> confirmation email in the SMTP sink,
hop by hop from the database's stamps; beside the receiver's own floor (signed POSTs straight to it)
and the SMTP floor (the product's smtp.send straight to the sink)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.perf.bench_database import add_therapists, booking_pool, load_catalogue, service_connection
from tests.perf.cpu import cpu_note, cpu_per_tx
from tests.perf.figures import percentile, ratio, summary_ms
from tests.perf.harness import BenchContext, log
from tests.perf.hold_grid import HOLD_HOURS
from tests.perf.maildir import MaildirWatcher
from tests.perf.notification_load import (
    CONFIRM_POOL,
    NOTIFY_PREFIX,
    NOTIFY_THERAPISTS,
    ClinicApi,
    Confirmer,
    PacedRun,
    PendingBooking,
    QueueDepths,
    paced,
    prepare_pending,
)
from tests.perf.section_email_latency import direct_smtp_sends
from tests.perf.table import Row, Section
from tests.perf.webhook_receiver import WebhookReceiver, direct_signed_posts

# The notifications issue's goal (ms): (p50, p99) from the commit of a confirmed booking, at this rate.
GOALS = {"webhook": (20.0, 100.0), "email": (50.0, 250.0)}
GOAL_RATE = 50.0
# The processes a confirmed booking's notifications pass through, for the CPU-per-booking note.
PIPELINE = [
    "celery-worker",
    "notifications-consumer",
    "postgres",
    "smtp-sink",
    "booking-relay",
    "redis",
    "payments-consumer",
]
WARMUP_WAIT = 30.0  # seconds, at most, for the warm-up bookings' webhooks and emails
# The path's floor: confirmations far enough apart that each has the stack to itself.
IDLE_RATE = 4.0
POLL = 0.2

HOPS_QUERY = """
SELECT b.id AS booking_id, b.status, b.confirmed_at,
       o.published_at,                 -- relay XADDed booking.confirmed (stamped after XADD)
       i.received_at AS consumed,      -- notifications inbox row (same transaction as the email and delivery rows)
       e.id AS email_id, e.sent_at,    -- sent_at: after the SMTP conversation
       d.id AS delivery_id, d.status AS delivery_status, d.attempts AS delivery_attempts,
       d.created_at AS delivery_row,   -- the consumer's handler, last insert before its COMMIT
       a.attempted_at,                 -- the first attempt's row, written after the receiver answered
       a.latency_ms AS attempt_latency_ms, a.status_code AS attempt_status
FROM booking.bookings b
JOIN booking.outbox o ON o.envelope -> 'data' ->> 'booking_id' = b.id::text
                     AND o.envelope ->> 'type' = 'booking.confirmed'
LEFT JOIN notifications.inbox i ON i.event_id = o.event_id AND i.consumer = 'notifications'
LEFT JOIN notifications.emails e ON e.event_id = o.event_id AND e.kind = 'booking_confirmed'
LEFT JOIN notifications.webhook_deliveries d ON d.event_id = o.event_id AND d.endpoint_id = $2
LEFT JOIN LATERAL (SELECT attempted_at, latency_ms, status_code FROM notifications.webhook_attempts
                   WHERE delivery_id = d.id ORDER BY id LIMIT 1) a ON true
WHERE b.id = ANY($1::uuid[])
"""

# Hops per booking (ms), in order; the webhook's and the email's paths part at the inbox.
SHARED_HOPS = [
    ("commit -> outbox published_at (relay)", "commit_to_published"),
    ("published_at -> inbox received_at (consumer)", "published_to_consumed"),
]
WEBHOOK_HOPS = [
    ("inbox -> webhook at receiver (Celery + POST)", "consumed_to_receiver"),
    ("webhook at receiver -> attempted_at (row after answer)", "receiver_to_attempted"),
]
EMAIL_HOPS = [
    ("inbox -> emails.sent_at (Celery + SMTP)", "consumed_to_sent"),
    ("sent_at -> in sink (file mtime)", "sent_to_sink"),
]


class Arrivals:
    """Where each booking's webhook and email have got to: the receiver's stamps by data.booking_id, the
    sink's Maildir file times by email row id (found by the booking's unique customer address)."""

    def __init__(self, conn, receiver: WebhookReceiver, watcher: MaildirWatcher):
        self.conn, self.receiver, self.watcher = conn, receiver, watcher
        self.email_of: dict[str, str] = {}  # booking id -> emails.id
        self.webhook_at: dict[str, float] = {}
        self.email_at: dict[str, float] = {}

    async def refresh(self, bookings: list[PendingBooking]) -> tuple[int, int]:
        await asyncio.to_thread(self.watcher.scan)
        by_address = {b.email: str(b.id) for b in bookings if str(b.id) not in self.email_of}
        if by_address:
            for r in await self.conn.fetch(
                "SELECT id, to_address FROM notifications.emails "
                "WHERE kind = 'booking_confirmed' AND to_address = ANY($1::text[])",
                list(by_address),
            ):
                self.email_of[by_address[r["to_address"]]] = str(r["id"])
        self.webhook_at = self.receiver.arrival_of_booking()
        for booking_id, email_id in self.email_of.items():
            if email_id in self.watcher.arrivals:
                self.email_at[booking_id] = self.watcher.arrivals[email_id]
        ids = [str(b.id) for b in bookings]
        return sum(i in self.webhook_at for i in ids), sum(i in self.email_at for i in ids)

    async def wait(self, bookings: list[PendingBooking], timeout: float) -> float:
        """Until every booking's webhook and email arrived or `timeout` ran out; the seconds waited."""
        began = time.monotonic()
        while True:
            hooks, mails = await self.refresh(bookings)
            if (hooks == mails == len(bookings)) or time.monotonic() - began > timeout:
                return time.monotonic() - began
            await asyncio.sleep(POLL)


async def bench_notifications(ctx: BenchContext) -> Section:
    import aiohttp

    from services.booking.settings import BookingSettings
    from shared.config import load_settings

    args = ctx.args
    rate, n_warm, n_idle = args.notify_rate, args.notify_warmup, args.notify_idle
    n = max(2, round(rate * args.notify_duration))
    watcher = MaildirWatcher(Path(ctx.env["MAILBOX_DIR"]))
    booking_conn = await service_connection(ctx.database_url)
    # As the notifications service connects (jsonb codec): direct_smtp_sends hands its rows to smtp.send.
    notif_conn = await service_connection(ctx.database_url, "notifications")
    pool, therapists = None, []
    try:
        cat = await load_catalogue(booking_conn)
        therapists = await add_therapists(booking_conn, cat, NOTIFY_PREFIX, NOTIFY_THERAPISTS, HOLD_HOURS)
        log(
            f"notifications: {n_warm + n_idle + n} bookings awaiting payment on {NOTIFY_THERAPISTS} synthetic "
            "therapists"
        )
        pending = await prepare_pending(booking_conn, cat, therapists, n_warm + n_idle + n, uuid.uuid4().hex[:6])
        warm, idle, measured = pending[:n_warm], pending[n_warm : n_warm + n_idle], pending[n_warm + n_idle :]
        pool = await booking_pool(ctx.database_url, CONFIRM_POOL)
        # The booking consumer's handlers, with the booking service's own settings (its manage links' key).
        confirmer = Confirmer(
            pool,
            load_settings(BookingSettings, ctx.env),
            cat.clinic.id,
            cat.treatment.price_amount,
            cat.treatment.currency,
        )
        with WebhookReceiver() as receiver:
            arrivals = Arrivals(notif_conn, receiver, watcher)
            async with aiohttp.ClientSession() as http:
                api = await ClinicApi.create(ctx, booking_conn, http)
                endpoint_id = None
                try:
                    endpoint_id, secret = await api.register_endpoint(receiver.url)
                    receiver.set_secret(secret)
                    await ctx.cpu.wait_quiet()
                    # The first deliveries after start pay for the Celery children's first connections.
                    log(f"notifications: {n_warm} warm-up confirmations at {rate:g}/s")
                    warm_run = await paced(warm, rate, confirmer.confirm)
                    await arrivals.wait(warm, WARMUP_WAIT)
                    idle_run = None
                    if idle:
                        log(f"notifications: path floor, {len(idle)} confirmations at {IDLE_RATE:g}/s")
                        idle_run = await paced(idle, IDLE_RATE, confirmer.confirm)
                        await arrivals.wait(idle, WARMUP_WAIT)
                    floor: dict[str, Any] = {"ms": [], "statuses": {}}
                    if receiver.sample_body is not None:
                        log(f"notifications: receiver floor, {args.notify_floor_posts} signed POSTs straight to it")
                        floor = await direct_signed_posts(
                            receiver, secret, receiver.sample_body, args.notify_floor_posts, rate
                        )
                    await ctx.cpu.wait_quiet()
                    log(f"notifications: {n} confirmations at {rate:g}/s ({n / rate:g}s)")
                    depths = QueueDepths(ctx.env, ctx.database_url)
                    cpu, run, load_s, waited = await measured_load(ctx, depths, confirmer, arrivals, measured, rate)
                    log(f"notifications: waited {waited:.1f}s after the last commit for webhooks and emails")
                    rows = await notif_conn.fetch(HOPS_QUERY, [b.id for b in measured], endpoint_id)
                    smtp_floor = await direct_smtp_sends(
                        notif_conn,
                        watcher,
                        ctx.env,
                        [{"email_id": uuid.UUID(e)} for e in list(arrivals.email_of.values())[:1]],
                        args.smtp_sends,
                    )
                finally:
                    await api.close(booking_conn, endpoint_id)
    finally:
        if pool is not None:
            await pool.close()
        # So later sections' table sizes (availability) are not this section's; the database is a clone.
        try:
            if therapists:
                await booking_conn.execute(
                    "DELETE FROM booking.bookings WHERE therapist_id = ANY($1::uuid[])", therapists
                )
        except Exception as exc:  # report, never hide the original error
            log(f"notifications: could not remove the section's bookings: {exc!r}")
        await booking_conn.close()
        await notif_conn.close()
    run.not_confirmed = sum(r["status"] != "confirmed" for r in rows) + n - len(rows)
    samples = booking_samples(run, rows, arrivals)
    warm_totals = booking_samples(warm_run, [], arrivals)
    idle_totals = booking_samples(idle_run, [], arrivals) if idle_run else []
    return notifications_section(
        ctx, n, run, samples, warm_totals, idle_totals, floor, smtp_floor, receiver, cpu, waited, depths, load_s
    )


async def measured_load(
    ctx: BenchContext,
    depths: QueueDepths,
    confirmer: Confirmer,
    arrivals: Arrivals,
    bookings: list[PendingBooking],
    rate: float,
) -> tuple[dict[str, Any], PacedRun, float, float]:
    """The paced confirmations, then the wait for their webhooks and emails, with `depths` sampling
    meanwhile; CPU use over both (all the work these bookings caused), the run, the seconds from the
    sampling's start to the last commit, and the seconds waited after it."""

    async def load_and_drain() -> tuple[PacedRun, float, float]:
        run = await paced(bookings, rate, confirmer.confirm)
        load_s = time.monotonic() - depths.began
        return run, load_s, await arrivals.wait(bookings, ctx.args.notify_timeout)

    stop = asyncio.Event()
    sampler = asyncio.create_task(depths.run(stop))
    try:
        cpu, (run, load_s, waited) = await ctx.cpu.measure(load_and_drain())
    finally:
        stop.set()
        await sampler
    return cpu, run, load_s, waited


def _ms(a: datetime | float | None, b: datetime | float | None) -> float | None:
    if a is None or b is None:
        return None
    a_ts = a if isinstance(a, float) else a.timestamp()
    b_ts = b if isinstance(b, float) else b.timestamp()
    return (b_ts - a_ts) * 1000.0


def booking_samples(run: PacedRun, rows: list, arrivals: Arrivals) -> list[dict[str, Any]]:
    """Per confirmed booking, in commit order: its totals and hops (ms; None where a stamp is missing)."""
    by_id = {str(r["booking_id"]): r for r in rows}
    first = min((c.committed for c in run.confirmations), default=0.0)
    samples = []
    for c in sorted(run.confirmations, key=lambda c: c.committed):
        bid = str(c.booking.id)
        r = by_id.get(bid)
        hook, mail = arrivals.webhook_at.get(bid), arrivals.email_at.get(bid)
        get = (lambda k: r[k]) if r is not None else (lambda k: None)
        samples.append(
            {
                "t_s": c.committed - first,
                "booking_id": bid,
                "webhook": _ms(c.committed, hook),
                "email": _ms(c.committed, mail),
                "confirm_tx": _ms(c.began, c.committed),
                "confirmed_at_to_commit": _ms(get("confirmed_at"), c.committed),
                "webhook_from_confirmed_at": _ms(get("confirmed_at"), hook),
                "email_from_confirmed_at": _ms(get("confirmed_at"), mail),
                "commit_to_published": _ms(c.committed, get("published_at")),
                "published_to_consumed": _ms(get("published_at"), get("consumed")),
                "consumed_to_receiver": _ms(get("consumed"), hook),
                "consumed_to_delivery_row": _ms(get("consumed"), get("delivery_row")),
                "receiver_to_attempted": _ms(hook, get("attempted_at")),
                "consumed_to_sent": _ms(get("consumed"), get("sent_at")),
                "sent_to_sink": _ms(get("sent_at"), mail),
                "attempt_latency_ms": get("attempt_latency_ms"),
                "delivery_attempts": get("delivery_attempts"),
            }
        )
    return samples


def _values(samples: list[dict[str, Any]], key: str) -> list[float]:
    return [s[key] for s in samples if s.get(key) is not None]


def _verdict(stats: dict[str, Any], goal: tuple[float, float], complete: bool) -> bool:
    p50, p99 = stats["p50_ms"], stats["p99_ms"]
    return complete and p50 is not None and p99 is not None and p50 <= goal[0] and p99 <= goal[1]


def _per_second(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """p50/p99 of both totals per second of commit time: does a backlog build up during the run?"""
    seconds: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        seconds.setdefault(int(s["t_s"]), []).append(s)
    return [
        {
            "second": k,
            "bookings": len(v),
            **{
                f"{what}_{p}_ms": (round(x, 2) if (x := percentile(_values(v, what), p)) is not None else None)
                for what in ("webhook", "email")
                for p in (50, 99)
            },
        }
        for k, v in sorted(seconds.items())
    ]


def notifications_section(
    ctx: BenchContext,
    n: int,
    run: PacedRun,
    samples: list[dict[str, Any]],
    warm: list[dict[str, Any]],
    idle: list[dict[str, Any]],
    floor: dict[str, Any],
    smtp_floor: list[float],
    receiver: WebhookReceiver,
    cpu: dict[str, Any],
    waited: float,
    depths: QueueDepths,
    load_s: float,
) -> Section:
    args = ctx.args
    rate = args.notify_rate
    keys = [
        "webhook",
        "email",
        "confirm_tx",
        "confirmed_at_to_commit",
        "webhook_from_confirmed_at",
        "email_from_confirmed_at",
        "attempt_latency_ms",
        "consumed_to_delivery_row",
    ] + [k for _, k in SHARED_HOPS + WEBHOOK_HOPS + EMAIL_HOPS]
    stats = {k: summary_ms(_values(samples, k)) for k in keys}
    got = {k: stats[k]["n"] for k in ("webhook", "email")}
    failures = sum(receiver.failures.values())
    met = {k: _verdict(stats[k], GOALS[k], got[k] == n and (k != "webhook" or failures == 0)) for k in GOALS}
    floor_stats, smtp_stats = summary_ms(floor["ms"]), summary_ms(smtp_floor)
    idle_stats = {k: summary_ms(_values(idle, k)) for k in GOALS}

    def goal_text(k: str) -> str:
        g = GOALS[k]
        return f"max {stats[k]['max_ms'] or 0:,.1f}; goal <={g[0]:g}/<={g[1]:g} {'MET' if met[k] else 'NOT MET'}"

    def max_text(k: str) -> str:
        return f"max {stats[k]['max_ms']:,.1f}" if stats[k]["max_ms"] is not None else "-"

    section = Section(
        "notifications",
        f"e. Notifications at a steady {rate:g} bookings/s: commit -> signed webhook at a local "
        f"receiver / email in the SMTP sink ({n} confirmations, {n / rate:g}s)",
        ("p50", "p99", "max; goal (p50/p99)"),
    )
    row = lambda label, k, text: Row(label, stats[k]["p50_ms"], stats[k]["p99_ms"], "ms", "none", 1, text)  # noqa: E731
    section.rows = [
        row(f"commit -> signed webhook at receiver ({got['webhook']}/{n})", "webhook", goal_text("webhook")),
        row(f"commit -> email in the SMTP sink ({got['email']}/{n})", "email", goal_text("email")),
        *(row(f"  {label}", k, max_text(k)) for label, k in SHARED_HOPS + WEBHOOK_HOPS + EMAIL_HOPS),
        *(
            Row(
                f"baseline: the same path, one booking at a time ({IDLE_RATE:g}/s): {k}",
                idle_stats[k]["p50_ms"],
                idle_stats[k]["p99_ms"],
                "ms",
                "none",
                1,
                f"{k} p50 x{ratio(stats[k]['p50_ms'], idle_stats[k]['p50_ms']) or 0:.1f} of it",
            )
            for k in ("webhook", "email")
            if idle_stats[k]["n"]
        ),
        Row(
            "baseline: signed POST straight to the receiver",
            floor_stats["p50_ms"],
            floor_stats["p99_ms"],
            "ms",
            "none",
            1,
            f"webhook p50 x{ratio(stats['webhook']['p50_ms'], floor_stats['p50_ms']) or 0:.1f} of it",
        ),
        Row(
            "baseline: smtp.send straight to the sink",
            smtp_stats["p50_ms"],
            smtp_stats["p99_ms"],
            "ms",
            "none",
            1,
            f"email p50 x{ratio(stats['email']['p50_ms'], smtp_stats['p50_ms']) or 0:.1f} of it",
        ),
        row("confirming transaction (payment.succeeded handled)", "confirm_tx", max_text("confirm_tx")),
    ]
    off_rate = "" if rate == GOAL_RATE else f" (this run at {rate:g}/s: not the goal's load)"
    for k, what in (("webhook", "signed webhook at the receiver"), ("email", "confirmation email in the SMTP sink")):
        g, s = GOALS[k], stats[k]
        section.notes.append(
            f"goal: at a steady {GOAL_RATE:g} bookings/s, commit -> {what} p50 <= {g[0]:g} ms, p99 <= {g[1]:g} ms, "
            f"all arriving: p50 {s['p50_ms'] or 0:.1f}, p99 {s['p99_ms'] or 0:.1f}, {got[k]}/{n} -> "
            + ("MET" if met[k] else "NOT MET")
            + off_rate
        )
    achieved = run.achieved_rate()
    drained = {k: _arrival_rate(samples, k) for k in ("webhook", "email")}
    section.notes.append(
        f"load: {n} confirmations on a fixed schedule at {rate:g}/s; achieved {achieved or 0:.2f}/s first -> last "
        f"commit; start lateness p99 {percentile(run.lateness_ms, 99) or 0:.1f} ms, max "
        f"{max(run.lateness_ms, default=0):.1f} ms; errors {run.errors or 'none'}, not confirmed {run.not_confirmed}; arrived at "
        f"{drained['webhook'] or 0:.1f} webhooks/s and {drained['email'] or 0:.1f} emails/s (first -> last arrival)"
    )
    end = depths.at(load_s)
    if end is not None:
        section.notes.append(
            f"waiting in Redis when the last confirmation committed: {end.stream_unread} booking events unread by the "
            f"notifications consumer ({end.stream_pending} read, not acked), {end.celery_queue} tasks in the Celery "
            f"queue; peaks {depths.peak('stream_unread')} and {depths.peak('celery_queue')} "
            f"({len(depths.samples)} samples, {depths.interval:g}s apart)"
        )
    if depths.lock_waits:
        section.notes.append(
            "sessions waiting for a lock in pg_stat_activity (same samples, until the last arrival): "
            + "; ".join(
                f"{app} {query!r} on {wait} x{count}" for (app, wait, query), count in depths.lock_waits.most_common(3)
            )
        )
    section.notes.append(
        f"signatures: {len(receiver.arrivals)} distinct webhook-ids verified with standardwebhooks (incl. "
        f"{len(floor['ms'])} floor POSTs), failures {failures}"
        + (f" {dict(receiver.failures)}" if failures else "")
        + f", redeliveries {receiver.repeats}, tampered control rejected {receiver.controls.get('rejected', 0)}/1; "
        f"waited {waited:.1f}s after the last commit (limit {args.notify_timeout:g}s)"
    )
    for label, hops in (("webhook", SHARED_HOPS + WEBHOOK_HOPS[:1]), ("email", SHARED_HOPS + EMAIL_HOPS)):
        mean_total = stats[label]["mean_ms"]
        if mean_total:
            parts = [
                f"{k} {stats[k]['mean_ms'] or 0:.1f} ({(stats[k]['mean_ms'] or 0) / mean_total * 100:.0f}%)"
                for _, k in hops
            ]
            section.notes.append(f"{label} means: total {mean_total:.1f} ms = " + " + ".join(parts))
    handler = stats["consumed_to_delivery_row"]
    section.notes.append(
        f"inside 'inbox ->': the consumer's handler (inbox row -> webhook_deliveries row, same transaction: projection, "
        f"reminders, email + .ics render) p50 {handler['p50_ms'] or 0:.1f}, p99 {handler['p99_ms'] or 0:.1f} ms; then "
        "its COMMIT, the read batch's one Celery publish (send_notifications), the queue, and the task"
    )
    timeline = _per_second(samples)
    if timeline:
        section.notes.append(
            "webhook p50 per second of the run (ms): "
            + ", ".join(f"{x['webhook_50_ms']:.0f}" if x["webhook_50_ms"] is not None else "-" for x in timeline)
        )
    section.notes.append(
        f"commit = time.time() here after the confirming transaction returned (booking consumer's handle(): inbox "
        f"row + service.on_payment_succeeded); bookings.confirmed_at is {stats['confirmed_at_to_commit']['p50_ms'] or 0:.1f}"
        f" ms earlier (p50); from confirmed_at: webhook p50/p99 {stats['webhook_from_confirmed_at']['p50_ms'] or 0:.1f}"
        f"/{stats['webhook_from_confirmed_at']['p99_ms'] or 0:.1f}, email "
        f"{stats['email_from_confirmed_at']['p50_ms'] or 0:.1f}/{stats['email_from_confirmed_at']['p99_ms'] or 0:.1f} ms"
    )
    section.notes.append(
        f"product's own POST latency (webhook_attempts.latency_ms, whole ms) p50 {stats['attempt_latency_ms']['p50_ms'] or 0:.0f}, "
        f"p99 {stats['attempt_latency_ms']['p99_ms'] or 0:.0f} ms; receiver floor = new connection per POST as "
        f"the product makes them, {len(floor['ms'])} POSTs {1000 / rate:g} ms apart; SMTP floor = section c's "
        f"direct_smtp_sends ({len(smtp_floor)} sends of a copy of one of these emails)"
    )
    if warm:
        section.notes.append(
            f"warm-up: {len(warm)} confirmations first (not above): webhook max "
            f"{max(_values(warm, 'webhook'), default=0):.1f} ms, email max {max(_values(warm, 'email'), default=0):.1f} ms"
        )
    section.notes.append(cpu_note("the confirmations until the last arrival", cpu))
    section.notes.append(
        "CPU ms per confirmed booking: "
        + cpu_per_tx(cpu, n, PIPELINE)
        + " (smtp-sink and this process's receiver stand in for the mail server and the clinic)"
    )
    section.notes.append(
        "published_at is stamped after XADD, sent_at after the SMTP conversation and attempted_at "
        "after the receiver answered, so neighbouring hops can be <= 0"
    )
    slowest = sorted(samples, key=lambda s: -(s["webhook"] or 1e9))[:5]
    section.data = {
        "rate_per_s": rate,
        "duration_s": args.notify_duration,
        "bookings": n,
        "warmup_bookings": len(warm),
        "goals_ms": {k: {"p50": g[0], "p99": g[1]} for k, g in GOALS.items()},
        "goal_met": met,
        "received": got,
        "expected": n,
        "waited_after_last_commit_s": round(waited, 2),
        "achieved_rate_per_s": round(achieved, 3) if achieved else None,
        "arrival_rate_per_s": {k: round(v, 3) if v else None for k, v in drained.items()},
        "queue_depths": [vars(s) | {"t_s": round(s.t_s, 2)} for s in depths.samples[::5]],
        "load_s": round(load_s, 2),
        "lock_wait_samples": [
            {"application": a, "wait": w, "query": q, "samples": c} for (a, w, q), c in depths.lock_waits.most_common()
        ],
        "schedule_lateness_ms": summary_ms(run.lateness_ms),
        "errors": run.errors,
        "not_confirmed": run.not_confirmed,
        "signature_failures": dict(receiver.failures),
        "redeliveries": receiver.repeats,
        "tampered_control": dict(receiver.controls),
        "webhook_body_bytes": summary_ms([float(v) for v in receiver.body_sizes.values()]),
        "stats_ms": stats,
        "receiver_floor_ms": floor_stats,
        "receiver_floor_statuses": floor["statuses"],
        "smtp_floor_ms": smtp_stats,
        "cpu_until_last_arrival": cpu,
        "per_second": timeline,
        "warmup_ms": {"webhook": summary_ms(_values(warm, "webhook")), "email": summary_ms(_values(warm, "email"))},
        "path_floor_ms": {"rate_per_s": IDLE_RATE, **idle_stats},
        "slowest_webhooks": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()} for s in slowest],
        "timestamps": {
            "commit": "time.time() in the bench after the confirming transaction returned",
            "confirmed_at": "booking.bookings.confirmed_at (clock_timestamp() at the UPDATE, before COMMIT)",
            "published": "booking.outbox.published_at of the booking.confirmed event",
            "consumed": "notifications.inbox.received_at",
            "attempted": "notifications.webhook_attempts.attempted_at",
            "sent": "notifications.emails.sent_at",
            "receiver": "time.time() in the receiver once the body was read",
            "sink": "mtime of the Maildir file whose Message-ID is <emails.id@...>",
        },
    }
    return section


def _arrival_rate(samples: list[dict[str, Any]], key: str) -> float | None:
    """Webhooks or emails per second, first -> last arrival, of the measured bookings."""
    at = sorted(s["t_s"] + s[key] / 1000.0 for s in samples if s.get(key) is not None)
    return (len(at) - 1) / (at[-1] - at[0]) if len(at) >= 2 and at[-1] > at[0] else None
