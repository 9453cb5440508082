"""Section c: commit -> relay -> consumer -> Celery -> SMTP sink, hop by hop, for sequential bookings
through the gateway (availability -> hold -> booking, all-clear screening), beside the product's own
smtp.send straight to the sink."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.perf.bench_database import service_connection
from tests.perf.booking_flow import BOOKINGS_PATH, HOLDS_PATH, FlowTimes, SlotPicker, book_sequentially
from tests.perf.cpu import cpu_note
from tests.perf.figures import percentile, ratio, summary_ms
from tests.perf.harness import LOOPBACK, BenchContext, assert_loopback, log
from tests.perf.maildir import MaildirWatcher
from tests.perf.table import Row, Section

HOP_QUERY = """
SELECT b.id AS booking_id,
       b.confirmed_at AS committed,    -- clock_timestamp() at the confirming UPDATE, just before COMMIT
       o.published_at AS published,    -- relay XADDed booking.confirmed to the stream
       i.received_at  AS consumed,     -- consumer's inbox row (same transaction as the email row)
       e.id           AS email_id,
       e.created_at   AS email_row,
       e.sent_at      AS sent          -- stamped after the SMTP conversation ended
FROM booking.bookings b
-- A booking has two events, booking.held (at the hold) and booking.confirmed (at the booking's
-- commit); the email hangs off the second.
JOIN booking.outbox o ON o.envelope -> 'data' ->> 'booking_id' = b.id::text
                     AND o.envelope ->> 'type' = 'booking.confirmed'
LEFT JOIN notifications.inbox i ON i.event_id = o.event_id AND i.consumer = 'notifications'
LEFT JOIN notifications.emails e ON e.event_id = o.event_id AND e.kind = 'booking_confirmed'
WHERE b.id = ANY($1::uuid[])
"""


async def wait_for_emails(conn, watcher: MaildirWatcher, booking_ids: list[str], timeout: float) -> list:
    """Hop rows of the bookings whose email is sent and in the sink; all of them unless `timeout` ran out."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await conn.fetch(HOP_QUERY, booking_ids)
        watcher.scan()
        complete = [r for r in rows if r["sent"] is not None and str(r["email_id"]) in watcher.arrivals]
        if len(complete) == len(booking_ids) or time.monotonic() > deadline:
            return complete
        await asyncio.sleep(0.05)


async def direct_smtp_sends(conn, watcher: MaildirWatcher, env: dict[str, str], rows: list, count: int) -> list[float]:
    """Baseline of the Celery hop: the product's own smtp.send of a copy of a real email row (new id),
    called straight from here, timed from the call to the file in the sink (ms)."""
    from services.notifications.emails import smtp
    from services.notifications.settings import NotificationsSettings
    from shared.config import load_settings

    if not rows or count <= 0:
        return []
    settings = load_settings(NotificationsSettings, env)
    assert_loopback(f"smtp://{settings.smtp_host}:{settings.smtp_port}")
    template = dict(await conn.fetchrow("SELECT * FROM notifications.emails WHERE id = $1", rows[0]["email_id"]))
    times = []
    for _ in range(count):
        row = template | {"id": uuid.uuid4()}
        began = time.time()
        await asyncio.to_thread(smtp.send, settings, row)
        deadline = time.monotonic() + 5
        while str(row["id"]) not in watcher.arrivals and time.monotonic() < deadline:
            watcher.scan()
            await asyncio.sleep(0.005)
        if str(row["id"]) in watcher.arrivals:
            times.append((watcher.arrivals[str(row["id"])] - began) * 1000.0)
    return times


# The hops of one email, in order; each sample also has consumed_to_sink and total_commit_to_sink.
CHAIN = ["commit_to_published", "published_to_consumed", "consumed_to_sent", "sent_to_sink"]


def _ms(a: datetime, b: datetime | float) -> float:
    b_ts = b if isinstance(b, float) else b.timestamp()
    return (b_ts - a.timestamp()) * 1000.0


def hop_samples(complete: list, booking_ids: list[str], arrivals: dict[str, float]) -> list[dict[str, Any]]:
    """Per email, in booking order: the booking's index and each hop's milliseconds."""
    order = {b: i for i, b in enumerate(booking_ids)}
    samples = []
    for r in sorted(complete, key=lambda r: order[str(r["booking_id"])]):
        sink = arrivals[str(r["email_id"])]
        samples.append(
            {
                "i": order[str(r["booking_id"])],
                "commit_to_published": _ms(r["committed"], r["published"]),
                "published_to_consumed": _ms(r["published"], r["consumed"]),
                "consumed_to_sent": _ms(r["consumed"], r["sent"]),
                "sent_to_sink": _ms(r["sent"], sink),
                "consumed_to_sink": _ms(r["consumed"], sink),
                "total_commit_to_sink": _ms(r["committed"], sink),
            }
        )
    return samples


async def bench_email_latency(ctx: BenchContext) -> Section:
    import aiohttp

    from tests.support.booking import BaseUrlClient

    n, pause, n_warm = ctx.args.emails, ctx.args.email_pause, ctx.args.email_warmup
    first_day = datetime.now(timezone.utc).date() + timedelta(days=1)
    stripe_url = f"http://{LOOPBACK}:{ctx.env['FAKE_STRIPE_PORT']}"
    watcher = MaildirWatcher(Path(ctx.env["MAILBOX_DIR"]))
    # As the notifications service connects (jsonb codec): direct_smtp_sends hands its rows to smtp.send.
    conn = await service_connection(ctx.database_url, "notifications")
    try:
        async with aiohttp.ClientSession() as http:
            client = BaseUrlClient(http, ctx.gateway_url(""))
            picker = SlotPicker(client, first_day)
            # The first emails after start pay for the Celery children's first DB connection and
            # event loop; measure them apart, then the steady state.
            log(f"email_latency: {n_warm} warm-up bookings")
            warm_ids, _ = await book_sequentially(client, picker, n_warm, pause, "Warmup", stripe_url)
            warm_rows = await wait_for_emails(conn, watcher, warm_ids, ctx.args.email_timeout)
            log(f"email_latency: {n} bookings through the gateway (availability -> hold -> booking), {pause:g}s apart")
            flow_cpu, (booking_ids, flow) = await ctx.cpu.measure(
                book_sequentially(client, picker, n, pause, "Latency", stripe_url)
            )
        complete = await wait_for_emails(conn, watcher, booking_ids, ctx.args.email_timeout)
        direct_smtp_ms = await direct_smtp_sends(conn, watcher, ctx.env, complete, ctx.args.smtp_sends)
    finally:
        await conn.close()
    cold = {
        str(r["booking_id"]): (watcher.arrivals[str(r["email_id"])] - r["committed"].timestamp()) * 1000.0
        for r in warm_rows
    }
    cold_ms = [cold[b] for b in warm_ids if b in cold]
    samples = hop_samples(complete, booking_ids, watcher.arrivals)
    return email_section(ctx, samples, cold_ms, flow, flow_cpu, direct_smtp_ms, [first_day, picker.day])


def email_section(
    ctx: BenchContext,
    samples: list[dict[str, Any]],
    cold_ms: list[float],
    flow: FlowTimes,
    flow_cpu: dict[str, Any],
    direct_smtp_ms: list[float],
    days_used: list,
) -> Section:
    from tests.support.booking import THERAPIST

    n, pause, complete = ctx.args.emails, ctx.args.email_pause, len(samples)
    keys = CHAIN + ["consumed_to_sink", "total_commit_to_sink"]
    stats = {k: summary_ms([x[k] for x in samples]) for k in keys}
    mean_total = stats["total_commit_to_sink"]["mean_ms"]

    def share(key: str) -> str:
        mean = stats[key]["mean_ms"]
        return "-" if mean is None or not mean_total else f"{mean / mean_total * 100:.0f}% of mean"

    section = Section(
        "email_latency",
        f"c. Commit -> email in the SMTP sink ({complete}/{n} sequential bookings via gateway, {pause:g}s apart)",
        ("p50", "p99", "share (means)"),
    )
    labels = [
        ("commit -> published (relay)", "commit_to_published"),
        ("published -> consumed (inbox)", "published_to_consumed"),
        ("consumed -> sent_at (Celery + SMTP)", "consumed_to_sent"),
        ("sent_at -> in sink (file mtime)", "sent_to_sink"),
        ("TOTAL commit -> in sink", "total_commit_to_sink"),
        ("  of which consumed -> in sink", "consumed_to_sink"),
    ]
    section.rows = [
        Row(label, stats[key]["p50_ms"], stats[key]["p99_ms"], "ms", "none", 1, share(key)) for label, key in labels
    ]
    direct_p50 = percentile(direct_smtp_ms, 50)
    section.rows.append(
        Row(
            "baseline: smtp.send straight to the sink",
            direct_p50,
            percentile(direct_smtp_ms, 99),
            "ms",
            "none",
            1,
            f"vs consumed->sink x{ratio(stats['consumed_to_sink']['p50_ms'], direct_p50) or 0:.1f}",
        )
    )
    for label, values in (
        ("GET availability round trip (1 day)", flow.availability),
        (f"POST {HOLDS_PATH} round trip", flow.hold),
        (f"POST {BOOKINGS_PATH} round trip", flow.booking),
        ("card payment on fake Stripe (browser side)", flow.payment),
    ):
        if values:
            section.rows.append(Row(label, percentile(values, 50), percentile(values, 99), "ms", "none", 1, ""))
    if cold_ms:
        section.rows.append(
            Row("first email after start (cold), total", cold_ms[0], None, "ms", "none", 1, "warm-up, not above")
        )
    slowest = max(CHAIN, key=lambda k: stats[k]["mean_ms"] or 0.0) if samples else None
    if slowest:
        section.notes.append(
            f"slowest hop: {slowest} (p50 {stats[slowest]['p50_ms']:.1f} ms, "
            f"p99 {stats[slowest]['p99_ms']:.1f} ms, {share(slowest)})"
        )
        worst = max(samples, key=lambda x: x["total_commit_to_sink"])
        section.notes.append(
            f"slowest email: booking #{worst['i']} of {n}, total {worst['total_commit_to_sink']:.1f} ms"
            f" ({', '.join(f'{k} {worst[k]:.1f}' for k in CHAIN)})"
        )
    section.notes.append(
        "commit = bookings.confirmed_at; published = the booking.confirmed outbox row (each booking "
        "also has a booking.held event, not measured)"
        + (
            "; bookings awaited a card payment, paid on the fake Stripe, and confirmed on its event"
            if flow.payment
            else ""
        )
    )
    section.notes.append(cpu_note("the bookings", flow_cpu))
    section.notes.append(
        "published_at is stamped after XADD (same relay transaction) and sent_at after the SMTP "
        "conversation, so published -> consumed and sent_at -> in sink can be <= 0"
    )
    if complete < n:
        section.notes.append(f"only {complete} of {n} emails arrived within {ctx.args.email_timeout:g}s")
    section.data = {
        "bookings": n,
        "complete": complete,
        "pause_s": pause,
        "via": "gateway",
        "hops_ms": stats,
        "slowest_hop": slowest,
        "round_trips_ms": {
            "availability": summary_ms(flow.availability),
            "hold": summary_ms(flow.hold),
            "booking": summary_ms(flow.booking),
            "payment": summary_ms(flow.payment),
        },
        "paid_by_card": bool(flow.payment),
        "therapist": THERAPIST,
        "days_used": [d.isoformat() for d in days_used],
        "direct_smtp_send_to_sink_ms": summary_ms(direct_smtp_ms),
        "cpu_during_bookings": flow_cpu,
        "warmup": {"bookings": ctx.args.email_warmup, "total_commit_to_sink_ms": [round(x, 3) for x in cold_ms]},
        "timestamps": {
            "committed": "booking.bookings.confirmed_at",
            "published": "booking.outbox.published_at of the booking.confirmed event",
            "consumed": "notifications.inbox.received_at",
            "sent": "notifications.emails.sent_at",
            "sink": "mtime of the Maildir file whose Message-ID is <emails.id@...>",
        },
        "samples_ms": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in x.items()} for x in samples],
    }
    return section
