"""Section d: one therapist's week of availability through the gateway, one request at a time, at
10k .. 1M rows in booking.bookings, vs the SQL the endpoint runs (store.availability_context). The rows are a
synthetic history of confirmed bookings, added by SQL to the bench's database."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as dt_time
from typing import Any

from tests.perf.bench_database import CLINIC, Catalogue, add_therapists, load_catalogue, service_connection
from tests.perf.cpu import other_work_cpu_s
from tests.perf.figures import percentile, ratio, summary_ms, timed_ms
from tests.perf.harness import BenchContext, assert_loopback, log
from tests.perf.table import Row, Section
from tests.perf.wrk import LoadShape, WrkResult, run_wrk

AVAILABILITY_PATH = f"/api/v1/clinics/{CLINIC}/availability"
AVAIL_PREFIX = "bench-avail-"
# Synthetic history: every synthetic therapist has the same 104 weeks (52 back, 52 ahead of the
# queried week) of confirmed bookings, Monday to Friday at these wall times: 4 a day, 75-minute
# blocks (60-minute treatment + 15 buffer) with gaps between, so a queried day still has free slots.
AVAIL_WEEKS_BACK, AVAIL_WEEKS = 52, 104
AVAIL_DAY_STARTS = [dt_time(9, 0), dt_time(11, 30), dt_time(14, 0), dt_time(16, 30)]
AVAIL_ROWS_PER_THERAPIST = AVAIL_WEEKS * 5 * len(AVAIL_DAY_STARTS)
# The queried therapist (synthetic #0000) works like the demo's Amara: Mon-Fri 09:00-18:00, lunch 13-14.
AVAIL_HOURS = [(d, dt_time(9, 0), dt_time(18, 0)) for d in range(5)]
AVAIL_BREAKS = [(d, dt_time(13, 0), dt_time(14, 0)) for d in range(5)]
AVAIL_LOAD_PARTS = 2  # concurrent INSERT ... SELECT statements per load step
BULK_TIMEOUT = 600.0  # seconds, for the load, DELETE and VACUUM statements
# The booking issue's goal: p99 through the gateway at this table size, and a flat curve across sizes.
GOAL_ROWS, GOAL_P99_MS = 200_000, 3.0
FLAT_AT_MOST = 1.5  # p99 at the largest size / p99 at the smallest

# Row i of the synthetic history: therapist #(i / per_therapist), then (i % per_therapist) walks
# weekday by weekday, AVAIL_DAY_STARTS per day. Rows never overlap per therapist, and the bench's
# other therapists are not touched, so the exclusion constraint is satisfied by construction.
AVAIL_LOAD_SQL = """
WITH therapist AS (
    SELECT id, (row_number() OVER (ORDER BY slug)) - 1 AS k
    FROM therapists WHERE clinic_id = $1 AND starts_with(slug, $3)
), slot AS (
    SELECT i, i / $6 AS k, (i % $6) / $8 AS d, (i % $6) % $8 AS s
    FROM generate_series($4::bigint, $5::bigint - 1) AS i
)
INSERT INTO bookings (id, clinic_id, treatment_id, therapist_id, starts_at, ends_at, blocked, status,
                      customer_name, customer_email, price_amount, currency, created_at, confirmed_at)
SELECT gen_random_uuid(), $1, $2, therapist.id, x.starts_at, x.starts_at + $10::interval,
       tstzrange(x.starts_at - $11::interval, x.starts_at + $10::interval + $12::interval), 'confirmed',
       'Synthetic customer ' || (slot.i % 50000), 'customer-' || (slot.i % 50000) || '@example.com',
       $13, $14, x.starts_at - interval '14 days', x.starts_at - interval '14 days'
FROM slot JOIN therapist USING (k)
CROSS JOIN LATERAL (
    SELECT (($7::date + ((slot.d / 5) * 7 + slot.d % 5)::integer) + ($9::time[])[(slot.s + 1)::integer])
           AT TIME ZONE $15 AS starts_at
) AS x
"""

BUSY_QUERY_PLAN = (
    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT therapist_id, blocked FROM bookings "
    "WHERE therapist_id = ANY($1::uuid[]) AND blocked && $2 AND {live}"
)


def plan_summary(plan: dict) -> dict[str, Any]:
    """Node types and indexes of an EXPLAIN (FORMAT JSON) plan, and what it read."""
    nodes, indexes = [], []

    def walk(node: dict) -> None:
        nodes.append(node["Node Type"])
        if "Index Name" in node:
            indexes.append(node["Index Name"])
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan["Plan"])
    top = plan["Plan"]
    return {
        "nodes": nodes,
        "indexes": indexes,
        "seq_scan": "Seq Scan" in nodes,
        "shared_blocks": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
        "rows": top.get("Actual Rows"),
        "execution_ms": plan.get("Execution Time"),
    }


async def load_history(database_url: str, cat: Catalogue, first_monday: date, lo: int, hi: int) -> None:
    """Synthetic history rows lo..hi-1, in AVAIL_LOAD_PARTS concurrent statements."""
    timing = cat.treatment.timing
    bounds = [lo + (hi - lo) * p // AVAIL_LOAD_PARTS for p in range(AVAIL_LOAD_PARTS + 1)]

    async def part(a: int, b: int) -> int:
        if a >= b:
            return 0
        import asyncpg

        # No command timeout (the service's is for requests, not bulk loads).
        conn = await asyncpg.connect(assert_loopback(database_url), server_settings={"search_path": "booking, public"})
        try:
            status = await conn.execute(
                AVAIL_LOAD_SQL,
                cat.clinic.id,
                cat.treatment.id,
                AVAIL_PREFIX,
                a,
                b,
                AVAIL_ROWS_PER_THERAPIST,
                first_monday,
                len(AVAIL_DAY_STARTS),
                AVAIL_DAY_STARTS,
                timedelta(minutes=timing.duration_minutes),
                timedelta(minutes=timing.buffer_before_minutes),
                timedelta(minutes=timing.buffer_after_minutes),
                cat.treatment.price_amount,
                cat.treatment.currency,
                cat.clinic.timezone,
            )
        finally:
            await conn.close()
        return int(status.split()[-1])

    inserted = sum(await asyncio.gather(*(part(a, b) for a, b in zip(bounds, bounds[1:]))))
    if inserted != hi - lo:
        raise RuntimeError(f"loaded {inserted} synthetic bookings, expected {hi - lo} (too few therapists?)")


async def sql_availability_loop(
    conn, cat: Catalogue, therapist_id: uuid.UUID, week: QueriedWeek, duration: float, warmup: int = 50
) -> list[float]:
    """The one statement the endpoint runs (store.availability_context) for one therapist and week, one
    call at a time."""
    from services.booking import service, store

    days = store.DaysAsked(week.first, week.last, 7, 31, service.WINDOW_PADDING)

    async def read() -> None:
        await store.availability_context(conn, CLINIC, cat.treatment.id, therapist_id, days, datetime.now(timezone.utc))

    for _ in range(warmup):
        await read()
    times: list[float] = []
    deadline = time.perf_counter() + duration
    while time.perf_counter() < deadline:
        with timed_ms(times):
            await read()
    return times


@dataclass(frozen=True)
class QueriedWeek:
    first: date  # next Monday, clinic time
    last: date
    window: Any  # what the endpoint reads: service._local_window of those days
    interval: Any  # services.booking.availability.Interval of the week, midnight to midnight

    @classmethod
    def next_week(cls, cat: Catalogue) -> QueriedWeek:
        from services.booking import service
        from services.booking.availability import Interval

        zone = cat.clinic.rules.zone
        today = datetime.now(timezone.utc).astimezone(zone).date()
        first = today + timedelta(days=7 - today.weekday())
        last = first + timedelta(days=6)
        return cls(
            first,
            last,
            service._local_window(cat.clinic, first, last),
            Interval(
                datetime.combine(first, dt_time(0), zone), datetime.combine(last + timedelta(days=1), dt_time(0), zone)
            ),
        )


async def measure_size(
    ctx: BenchContext, conn, http, url: str, cat: Catalogue, week: QueriedWeek, focus: uuid.UUID
) -> tuple[dict[str, Any], WrkResult, list[float]]:
    """At the table's current size: what the week holds, the busy query's plan, then the endpoint
    through the gateway (wrk, one connection) and the SQL it runs. Figures for the JSON file, the wrk
    result and the SQL latencies (ms)."""
    from services.booking import store

    args = ctx.args
    single = LoadShape(args.avail_duration, 0, 1, 1)
    rows = await conn.fetchval("SELECT count(*) FROM bookings")
    live_in_week = await conn.fetchval(
        f"SELECT count(*) FROM bookings WHERE blocked && $1 AND {store.LIVE}", store._range(week.window)
    )
    focus_in_week = await conn.fetchval(
        f"SELECT count(*) FROM bookings WHERE therapist_id = $2 AND blocked && $1 AND {store.LIVE}",
        store._range(week.interval),
        focus,
    )
    plan = await conn.fetchval(BUSY_QUERY_PLAN.format(live=store.LIVE), [focus], store._range(week.window))
    plan = plan_summary((json.loads(plan) if isinstance(plan, str) else plan)[0])

    async with http.get(url) as resp:
        body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"availability answered {resp.status}: {body}")
    quiet_s, busy = await ctx.cpu.wait_quiet()
    log(f"availability: {rows:,} rows: wrk 1 connection {single.duration:g}s through the gateway")
    await run_wrk(url, LoadShape(1, 0, 1, 1), 1, "wrk_get.lua")
    gw_cpu, gw = await ctx.cpu.measure(run_wrk(url, single, single.duration, "wrk_get.lua"))
    # The same request on the booking service itself: what of the gateway's figure is the proxy hop.
    direct_url = ctx.booking_url(url[url.index("/api/") :])
    await run_wrk(direct_url, LoadShape(1, 0, 1, 1), 1, "wrk_get.lua")
    direct = await run_wrk(direct_url, single, single.duration, "wrk_get.lua")
    sql_ms = await sql_availability_loop(conn, cat, focus, week, args.avail_sql_duration)
    return (
        {
            "rows": rows,
            "live_rows_in_week_all_therapists": live_in_week,
            "focus_bookings_in_week": focus_in_week,
            "free_slots_answered": len(body["slots"]),
            "busy_query_plan": plan,
            "waited_for_quiet_s": round(quiet_s, 2),
            "stack_cpus_before": round(busy, 3),
            "gateway": gw.as_dict() | {"cpu": gw_cpu},
            "booking_direct": direct.as_dict(),
            "sql_availability_context_ms": summary_ms(sql_ms),
            "other_work_cpu_s": round(other_work_cpu_s(gw_cpu), 2),
        },
        gw,
        sql_ms,
    )


async def bench_availability(ctx: BenchContext) -> Section:
    import aiohttp

    sizes = sorted(ctx.args.avail_sizes)
    conn = await service_connection(ctx.database_url)
    points: list[dict[str, Any]] = []
    runs: list[tuple[WrkResult, list[float]]] = []
    try:
        cat = await load_catalogue(conn)
        week = QueriedWeek.next_week(cat)
        first_monday = week.first - timedelta(weeks=AVAIL_WEEKS_BACK)

        # Section b's holds would count towards the sizes; they are not part of this picture.
        removed = await conn.execute(
            "DELETE FROM bookings WHERE therapist_id IN (SELECT id FROM therapists "
            "WHERE starts_with(slug, 'bench-hold-'))",
            timeout=BULK_TIMEOUT,
        )
        removed_rows = int(removed.split()[-1])
        if removed_rows:
            await conn.execute("VACUUM (ANALYZE) booking.bookings", timeout=BULK_TIMEOUT)
        therapist_count = -(-sizes[-1] // AVAIL_ROWS_PER_THERAPIST) + 1
        ids = await add_therapists(conn, cat, AVAIL_PREFIX, therapist_count, AVAIL_HOURS, AVAIL_BREAKS, with_hours=1)
        focus = ids[0]
        await conn.execute("ANALYZE booking.therapists; ANALYZE booking.working_hours; ANALYZE booking.breaks")
        query = (
            f"treatment={cat.treatment.id}&therapist={focus}&from={week.first.isoformat()}&to={week.last.isoformat()}"
        )
        url = ctx.gateway_url(f"{AVAILABILITY_PATH}?{query}")
        loaded = 0  # synthetic rows so far
        async with aiohttp.ClientSession() as http:
            for size in sizes:
                existing = await conn.fetchval("SELECT count(*) FROM bookings")
                add = max(0, size - existing)
                log(f"availability: loading {add:,} bookings (table {existing:,} -> {existing + add:,})")
                began = time.monotonic()
                await load_history(ctx.database_url, cat, first_monday, loaded, loaded + add)
                load_s = time.monotonic() - began
                loaded += add
                began = time.monotonic()
                # VACUUM too: it keeps autovacuum (triggered by the inserts) from running mid-measurement;
                # and a CHECKPOINT, so the load's dirty pages are not written out mid-measurement either.
                await conn.execute("VACUUM (ANALYZE) booking.bookings", timeout=BULK_TIMEOUT)
                await conn.execute("CHECKPOINT", timeout=BULK_TIMEOUT)
                vacuum_s = time.monotonic() - began
                figures, gw, sql_ms = await measure_size(ctx, conn, http, url, cat, week, focus)
                points.append(
                    {
                        "rows": figures.pop("rows"),
                        "loaded": add,
                        "load_s": round(load_s, 2),
                        "vacuum_analyze_checkpoint_s": round(vacuum_s, 2),
                    }
                    | figures
                )
                runs.append((gw, sql_ms))
            floor = await machine_floor(ctx)
    finally:
        await conn.close()
    return availability_section(ctx, points, runs, week, focus, query, removed_rows, floor)


async def machine_floor(ctx: BenchContext) -> WrkResult:
    """The same wrk run against the gateway's /healthz (one Python process, no upstream, no database):
    what one request costs on this machine before any work, its p99 included. Here, a wake-up of an
    idle vCPU by another process now and then takes milliseconds, so every process a request crosses
    adds to the tail."""
    shape = LoadShape(ctx.args.avail_duration, 0, 1, 1)
    log("availability: the floor: wrk 1 connection on the gateway's /healthz")
    return await run_wrk(ctx.gateway_url("/healthz"), shape, shape.duration, "wrk_get.lua")


def availability_section(
    ctx: BenchContext,
    points: list[dict[str, Any]],
    runs: list[tuple[WrkResult, list[float]]],
    week: QueriedWeek,
    focus: uuid.UUID,
    query: str,
    removed_rows: int,
    floor: WrkResult,
) -> Section:
    args = ctx.args
    load_total = sum(p["load_s"] for p in points)
    section = Section(
        "availability",
        "d. Availability, one therapist, one week: GET via gateway (wrk, 1 connection) "
        "vs the SQL it runs, store.availability_context (asyncpg, one at a time)",
        ("gateway", "SQL (1 query)", "gateway - SQL"),
    )
    for p, (gw, sql_ms) in zip(points, runs):
        label = f"{p['rows']:>9,} rows"
        section.rows.append(Row(f"{label}: p50", gw.ms("p50"), percentile(sql_ms, 50), "ms", "delta", 2))
        section.rows.append(Row(f"{label}: p99", gw.ms("p99"), percentile(sql_ms, 99), "ms", "delta", 2))
        if gw.non_2xx or gw.socket_errors:
            section.notes.append(f"{p['rows']:,} rows: {gw.non_2xx} non-2xx, {gw.socket_errors} socket errors")
    section.rows.append(Row("floor: gateway /healthz p50", floor.ms("p50"), None, "ms", "none", 2))
    section.rows.append(Row("floor: gateway /healthz p99", floor.ms("p99"), None, "ms", "none", 2))
    first, last = points[0], points[-1]
    gw_flat = ratio(last["gateway"]["latency_ms"]["p99"], first["gateway"]["latency_ms"]["p99"])
    sql_flat = ratio(last["sql_availability_context_ms"]["p99_ms"], first["sql_availability_context_ms"]["p99_ms"])
    section.notes.append(
        "the booking service itself, no gateway (wrk the same way), p50/p99 ms: "
        + "; ".join(
            f"{p['rows']:,}: {p['booking_direct']['latency_ms']['p50']}/{p['booking_direct']['latency_ms']['p99']}"
            for p in points
        )
    )
    section.notes.append(
        f"p99 at {last['rows']:,} rows / p99 at {first['rows']:,} rows: gateway x{gw_flat or 0:.2f}, "
        f"SQL x{sql_flat or 0:.2f}"
    )
    at_goal = min(points, key=lambda p: abs(p["rows"] - GOAL_ROWS))
    goal_p99 = at_goal["gateway"]["latency_ms"]["p99"]
    section.notes.append(
        f"goal p99 <= {GOAL_P99_MS:g} ms through the gateway at {at_goal['rows']:,} rows: {goal_p99} ms -> "
        + ("MET" if goal_p99 is not None and goal_p99 <= GOAL_P99_MS else "NOT MET")
        + f" (same run: its SQL p99 {at_goal['sql_availability_context_ms']['p99_ms']} ms, the booking service alone "
        f"{at_goal['booking_direct']['latency_ms']['p99']} ms, the gateway's /healthz {floor.ms('p99')} ms)"
    )
    indexed = all(not p["busy_query_plan"]["seq_scan"] for p in points)
    flat = len(points) > 1 and gw_flat is not None and gw_flat <= FLAT_AT_MOST and indexed
    section.notes.append(
        f"goal flat from {first['rows']:,} to {last['rows']:,} rows (p99 ratio <= x{FLAT_AT_MOST:g}, "
        f"no sequential scan): x{gw_flat or 0:.2f}, index at every size: {indexed} -> "
        + ("MET" if flat else "NOT MET" if len(points) > 1 else "one size only")
    )
    section.notes.append(
        "busy query (bookings overlapping the window) plan per size: "
        + "; ".join(
            f"{p['rows']:,}: {'+'.join(dict.fromkeys(p['busy_query_plan']['nodes']))}"
            f" on {','.join(dict.fromkeys(p['busy_query_plan']['indexes'])) or '-'}, "
            f"{p['busy_query_plan']['shared_blocks']} blocks"
            for p in points
        )
    )
    steps = ", ".join(
        f"+{p['loaded']:,} rows {p['load_s']:.1f}s (+VACUUM ANALYZE, CHECKPOINT {p['vacuum_analyze_checkpoint_s']:.1f}s)"
        for p in points
    )
    section.notes.append(
        f"load: {steps}; INSERT ... SELECT generate_series, {AVAIL_LOAD_PARTS} statements in "
        f"parallel; total {load_total:.1f}s" + (" -- over the ~60 s budget" if load_total > 60 else "")
    )
    section.notes.append(
        f"queried week {week.first}..{week.last}: the therapist has {last['focus_bookings_in_week']} bookings in it, "
        f"{last['free_slots_answered']} free slots answered; all therapists {first['live_rows_in_week_all_therapists']:,}"
        f" -> {last['live_rows_in_week_all_therapists']:,} live rows overlap it. Synthetic rows: confirmed, "
        f"{AVAIL_ROWS_PER_THERAPIST:,} per therapist over {AVAIL_WEEKS} weeks, 4 a weekday"
    )
    if removed_rows:
        section.notes.append(
            f"removed section b's {removed_rows:,} bench holds first (VACUUM ANALYZE), so the sizes are the table's"
        )
    section.notes.append(
        "other work on the machine during the gateway runs (CPU s of "
        f"{points[0]['gateway']['cpu']['available_cpu_s']:g}): "
        + ", ".join(f"{p['rows']:,}: {p['other_work_cpu_s']:.1f}" for p in points)
    )
    section.notes.append(
        "floor: the same wrk run on the gateway's /healthz (no upstream, no database): "
        "one process's round trip on this machine, tail included"
    )
    section.notes.append(
        f"gateway: wrk -t1 -c1, {args.avail_duration:g}s per size after 1s warm-up (latency in us); "
        f"SQL: {args.avail_sql_duration:g}s per size after 50 warm-up calls, on one connection"
    )
    section.data = {
        "endpoint": AVAILABILITY_PATH,
        "query": query,
        "week": [week.first.isoformat(), week.last.isoformat()],
        "therapist": str(focus),
        "rows_per_synthetic_therapist": AVAIL_ROWS_PER_THERAPIST,
        "load_total_s": round(load_total, 2),
        "removed_bench_holds": removed_rows,
        "p99_ratio_last_over_first": {"gateway": gw_flat, "sql": sql_flat},
        "sizes": points,
        "floor_gateway_healthz": floor.as_dict(),
    }
    return section
