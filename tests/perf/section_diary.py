"""Section h: the clinic's diary (issue 18's speed line).

The diary's week view of a clinic of 10 therapists with 200,000 bookings in booking.bookings
(GET /api/v1/clinic/diary?from=&to=, a clinic API key) against the availability JSON of one therapist's week
(GET /api/v1/clinics/{clinic}/availability?treatment=&therapist=&from=&to=), both through the gateway, one client
sending one request at a time (wrk -t1 -c1), in alternating slices. Goal: the diary's p99 at most x3 the
availability's, in the same run.

The demo clinic gets synthetic therapists up to 10 (Mon-Fri 09:00-18:00, lunch 13-14) and, in one INSERT ... SELECT
generate_series statement, a synthetic history up to 200,000 rows in the table: every therapist 4 treatments a
weekday (as section d's history: 75-minute blocks with gaps, so the therapist's week still has free times), week
after week back from the measured week; past ones completed (some no-shows), later ones confirmed, one in ten
cancelled, and in the measured week a few holds and bookings awaiting payment. The measured week is a week or two
ahead, the availability's therapist the demo's Amara, whose week the diary shows too. The section checks the
diary's plan (EXPLAIN: the clinic's days read through an index, no sequential scan) and, at the end, removes
everything it added (rows, therapists; VACUUM ANALYZE), so the sections after it find the table as it was."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as dt_time
from typing import Any
from urllib.parse import urlencode

from tests.perf.bench_database import (
    CLINIC,
    Catalogue,
    add_therapists,
    insert_api_key,
    load_catalogue,
    revoke_api_key,
    service_connection,
)
from tests.perf.cpu import cpu_note, cpu_per_tx
from tests.perf.figures import percentile, ratio, summary_ms, timed_ms
from tests.perf.harness import BenchContext, assert_loopback, log
from tests.perf.interleave import described
from tests.perf.section_availability import plan_summary
from tests.perf.section_web import PERCENTILES, failed, verdict
from tests.perf.table import Row, Section
from tests.perf.wrk import LoadShape, Target, WrkResult, combined, interleaved, warm_up

DIARY_PATH = "/api/v1/clinic/diary"
DIARY_PREFIX = "bench-diary-"
DIARY_THERAPISTS = 10
DIARY_ROWS = 200_000
DIARY_OVER_AVAILABILITY_GOAL = 3.0
# Each therapist's weekday: 4 treatments of 60 minutes (+15 buffer), with gaps that leave free times.
DAY_STARTS = [dt_time(9, 0), dt_time(11, 30), dt_time(14, 0), dt_time(16, 30)]
SYNTHETIC_HOURS = [(d, dt_time(9, 0), dt_time(18, 0)) for d in range(5)]
SYNTHETIC_BREAKS = [(d, dt_time(13, 0), dt_time(14, 0)) for d in range(5)]
MARK = DIARY_PREFIX  # the synthetic rows' hold_key prefix, by which they are removed at the end
BULK_TIMEOUT = 600.0
LOAD_PASSES = 4  # the first, and a few more for the rows it had to skip
STACK_PARTS = ["booking", "gateway", "postgres"]  # what both requests cross
SQL_LOOP_S = 1.5

# Row i: therapist i % T (of the clinic's therapists by slug), then per therapist j = i / T walks the week's
# weekdays and DAY_STARTS, week by week back from the measured week's Monday ($5). Per therapist no two rows
# overlap; a live one that would overlap a reservation another section made is skipped (ON CONFLICT DO NOTHING
# honours the exclusion constraint) and the caller loads as many more, further back.
LOAD_SQL = """
WITH therapist AS (
    SELECT id, (row_number() OVER (ORDER BY slug)) - 1 AS k FROM therapists WHERE clinic_id = $1
), slot AS (
    SELECT i, i % $6 AS k, (i / $6) % $8 AS s, ((i / $6) / $8) % 5 AS d, (i / $6) / ($8 * 5) AS w
    FROM generate_series($3::bigint, $4::bigint - 1) AS i
)
INSERT INTO bookings (id, clinic_id, treatment_id, therapist_id, starts_at, ends_at, blocked, status, expires_at,
                      customer_name, customer_email, customer_phone, price_amount, currency, hold_key, created_at)
SELECT gen_random_uuid(), $1, $2, therapist.id, x.starts_at, x.starts_at + $10::interval,
       tstzrange(x.starts_at - $11::interval, x.starts_at + $10::interval + $12::interval), st.status,
       CASE WHEN st.status IN ('held', 'pending_payment') THEN $16::timestamptz + interval '1 hour' END,
       CASE WHEN st.status <> 'held' THEN 'Synthetic customer ' || (slot.i % 50000) END,
       CASE WHEN st.status <> 'held' THEN 'customer-' || (slot.i % 50000) || '@example.com' END,
       CASE WHEN st.status <> 'held' THEN '07700 9' || lpad((slot.i % 100000)::text, 5, '0') END,
       $13, $14, $7::text || slot.i, x.starts_at - interval '14 days'
FROM slot JOIN therapist USING (k)
CROSS JOIN LATERAL (
    SELECT (($5::date - (slot.w * 7 - slot.d)::integer) + ($9::time[])[(slot.s + 1)::integer]) AT TIME ZONE $15
           AS starts_at
) AS x
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN slot.i % 10 = 3 THEN 'cancelled'
        WHEN slot.w = 0 AND slot.i % 40 = 0 THEN 'held'
        WHEN slot.w = 0 AND slot.i % 40 = 1 THEN 'pending_payment'
        WHEN x.starts_at > $16 THEN 'confirmed'
        WHEN slot.i % 20 = 7 THEN 'no_show'
        ELSE 'completed'
    END AS status
) AS st
ON CONFLICT DO NOTHING
"""


@dataclass(frozen=True)
class Week:
    first: date
    last: date
    diary_path: str
    availability_path: str


@dataclass
class Loaded:
    therapists: int  # the clinic's, after adding
    added_therapists: list[uuid.UUID]
    rows_before: int
    rows_after: int
    inserted: int
    skipped: int  # live rows that would have overlapped another section's reservations
    load_s: float
    vacuum_s: float


async def ensure_therapists(conn, cat: Catalogue) -> tuple[int, list[uuid.UUID]]:
    """Synthetic therapists until the clinic has DIARY_THERAPISTS (none if it has as many already)."""
    have = await conn.fetchval("SELECT count(*) FROM therapists WHERE clinic_id = $1", cat.clinic.id)
    added: list[uuid.UUID] = []
    if have < DIARY_THERAPISTS:
        added = await add_therapists(
            conn, cat, DIARY_PREFIX, DIARY_THERAPISTS - have, SYNTHETIC_HOURS, SYNTHETIC_BREAKS
        )
    total = await conn.fetchval("SELECT count(*) FROM therapists WHERE clinic_id = $1", cat.clinic.id)
    return total, added


async def load_history(conn, cat: Catalogue, first: date, therapists: int) -> tuple[int, int, int, float]:
    """Rows until the table holds DIARY_ROWS: (rows before, inserted, skipped, seconds)."""
    before = await conn.fetchval("SELECT count(*) FROM bookings")
    wanted = max(0, DIARY_ROWS - before)
    timing = cat.treatment.timing
    began = time.monotonic()
    lo, inserted, skipped = 0, 0, 0
    for _ in range(LOAD_PASSES):
        if inserted >= wanted:
            break
        hi = lo + (wanted - inserted)
        status = await conn.execute(
            LOAD_SQL,
            cat.clinic.id,
            cat.treatment.id,
            lo,
            hi,
            first,
            therapists,
            MARK,
            len(DAY_STARTS),
            DAY_STARTS,
            timedelta(minutes=timing.duration_minutes),
            timedelta(minutes=timing.buffer_before_minutes),
            timedelta(minutes=timing.buffer_after_minutes),
            cat.treatment.price_amount,
            cat.treatment.currency,
            cat.clinic.timezone,
            datetime.now(timezone.utc),
            timeout=BULK_TIMEOUT,
        )
        done = int(status.split()[-1])
        inserted, skipped, lo = inserted + done, skipped + (hi - lo - done), hi
    if inserted < wanted:
        raise RuntimeError(f"diary: loaded {inserted:,} of {wanted:,} synthetic bookings ({skipped:,} skipped)")
    return before, inserted, skipped, time.monotonic() - began


def week_paths(cat: Catalogue, therapist: uuid.UUID, first: date) -> Week:
    last = first + timedelta(days=6)
    days = {"from": first.isoformat(), "to": last.isoformat()}
    availability = urlencode({"treatment": str(cat.treatment.id), "therapist": str(therapist), **days})
    return Week(first, last, f"{DIARY_PATH}?{urlencode(days)}", f"/api/v1/clinics/{CLINIC}/availability?{availability}")


async def checked_answers(ctx: BenchContext, week: Week, key: str) -> dict[str, Any]:
    """Both answer 200, the diary with every therapist's seven days; what they hold."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(ctx.gateway_url(week.diary_path), headers={"Authorization": f"Bearer {key}"}) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"diary: the diary answered {resp.status}: {raw[:300]!r}")
            diary = json.loads(raw)
        async with http.get(ctx.gateway_url(week.availability_path)) as resp:
            avail_raw = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"diary: availability answered {resp.status}: {avail_raw[:300]!r}")
    appointments = [a for t in diary["therapists"] for d in t["days"] for a in d["appointments"]]
    if len(diary["therapists"]) != DIARY_THERAPISTS or any(len(t["days"]) != 7 for t in diary["therapists"]):
        raise RuntimeError(f"diary: expected {DIARY_THERAPISTS} therapists x 7 days, got {len(diary['therapists'])}")
    kinds: dict[str, int] = {}
    for a in appointments:
        kinds[a["status"]] = kinds.get(a["status"], 0) + 1
    return {
        "therapists": len(diary["therapists"]),
        "appointments": len(appointments),
        "by_status": kinds,
        "diary_bytes": len(raw),
        "free_slots": len(json.loads(avail_raw)["slots"]),
        "availability_bytes": len(avail_raw),
    }


async def explain(conn, clinic_id: uuid.UUID, week: Week, therapist: uuid.UUID | None) -> dict[str, Any]:
    from services.booking.diary_store import DIARY_SQL

    plan = await conn.fetchval(
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {DIARY_SQL}",
        clinic_id,
        week.first,
        week.last,
        therapist,
        datetime.now(timezone.utc),
    )
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
    return plan_summary(plan) | {"access": table_access(plan)}


def table_access(plan: dict) -> dict[str, list[str]]:
    """How the plan reads each table: its scan nodes, with their index (a Bitmap Heap Scan's is its Bitmap
    Index Scan's, a child naming no table)."""
    found: dict[str, list[str]] = {}

    def walk(node: dict) -> None:
        children = node.get("Plans", ())
        if "Relation Name" in node:
            indexes = [node["Index Name"]] if "Index Name" in node else []
            if node["Node Type"] == "Bitmap Heap Scan":
                indexes = [c["Index Name"] for c in children if "Index Name" in c]
            how = node["Node Type"] + (f" ({','.join(indexes)})" if indexes else "")
            found.setdefault(node["Relation Name"], []).append(how)
        for child in children:
            walk(child)

    walk(plan["Plan"])
    return found


async def sql_and_assembly_loop(conn, clinic_id: uuid.UUID, week: Week) -> tuple[list[float], list[float]]:
    """The endpoint's one statement (diary_store.diary_rows), and the assembly and JSON of its answer in this
    process, one call at a time: ms each."""
    import orjson

    from services.booking import diary_store
    from services.booking.diary import assemble

    async def read():
        return await diary_store.diary_rows(conn, clinic_id, week.first, week.last, None, datetime.now(timezone.utc))

    for _ in range(30):
        rows = await read()
    sql_ms: list[float] = []
    deadline = time.perf_counter() + SQL_LOOP_S
    while time.perf_counter() < deadline:
        with timed_ms(sql_ms):
            rows = await read()
    assembly_ms: list[float] = []
    deadline = time.perf_counter() + SQL_LOOP_S / 3
    while time.perf_counter() < deadline:
        with timed_ms(assembly_ms):
            orjson.dumps(assemble(rows, week.first, week.last, datetime.now(timezone.utc)))
    return sql_ms, assembly_ms


async def remove_added(conn, cat: Catalogue, added: list[uuid.UUID]) -> float:
    """The synthetic rows and therapists gone, the table vacuumed: as the section found it."""
    began = time.monotonic()
    await conn.execute(
        "DELETE FROM bookings WHERE clinic_id = $1 AND starts_with(hold_key, $2)",
        cat.clinic.id,
        MARK,
        timeout=BULK_TIMEOUT,
    )
    if added:
        async with conn.transaction():
            for table in ("working_hours", "breaks", "time_off", "therapist_treatments"):
                await conn.execute(f"DELETE FROM {table} WHERE therapist_id = ANY($1::uuid[])", added)
            await conn.execute("DELETE FROM therapists WHERE id = ANY($1::uuid[])", added)
    await conn.execute("VACUUM (ANALYZE) booking.bookings", timeout=BULK_TIMEOUT)
    return time.monotonic() - began


@dataclass
class Latency:
    diary: WrkResult
    availability: WrkResult
    round_p99_ratios: list[float | None]
    cpu: dict[str, dict[str, Any]]


async def measure_latency(ctx: BenchContext, week: Week, key: str) -> Latency:
    shape = LoadShape(ctx.args.diary_duration, ctx.shape.warmup, 1, 1)
    targets = (
        Target("diary", ctx.gateway_url(week.diary_path), {"Authorization": f"Bearer {key}"}),
        Target("availability", ctx.gateway_url(week.availability_path), {}),
    )
    await ctx.cpu.wait_quiet()
    await warm_up(targets, shape, "diary")
    slices, cpu = await interleaved(ctx.cpu, targets, shape, "diary")
    return Latency(
        combined(slices["diary"]),
        combined(slices["availability"]),
        [ratio(d.ms("p99"), a.ms("p99")) for d, a in zip(slices["diary"], slices["availability"])],
        cpu,
    )


async def bench_diary(ctx: BenchContext) -> Section:
    from tests.support.booking import THERAPIST, next_weekday

    conn = await service_connection(assert_loopback(ctx.database_url))
    key_id, added, cleanup_s = None, [], 0.0
    try:
        cat = await load_catalogue(conn)
        first = next_weekday(0, weeks_ahead=2, open_days=7)
        week = week_paths(cat, uuid.UUID(THERAPIST), first)
        try:
            therapists, added = await ensure_therapists(conn, cat)
            log(f"diary: {therapists} therapists; loading bookings up to {DIARY_ROWS:,} rows in the table")
            before, inserted, skipped, load_s = await load_history(conn, cat, first, therapists)
            began = time.monotonic()
            await conn.execute("VACUUM (ANALYZE) booking.bookings", timeout=BULK_TIMEOUT)
            await conn.execute("ANALYZE booking.therapists; ANALYZE booking.working_hours; ANALYZE booking.breaks")
            await conn.execute("CHECKPOINT", timeout=BULK_TIMEOUT)
            rows_after = await conn.fetchval("SELECT count(*) FROM bookings")
            loaded = Loaded(therapists, added, before, rows_after, inserted, skipped, load_s, time.monotonic() - began)
            log(f"diary: +{inserted:,} rows in {load_s:.1f}s ({skipped} skipped), table {rows_after:,} rows")
            key, key_id = await insert_api_key(conn, "bench diary")
            answers = await checked_answers(ctx, week, key)
            plans = {
                "clinic_week": await explain(conn, cat.clinic.id, week, None),
                "one_therapist_week": await explain(conn, cat.clinic.id, week, uuid.UUID(THERAPIST)),
            }
            sql_ms, assembly_ms = await sql_and_assembly_loop(conn, cat.clinic.id, week)
            latency = await measure_latency(ctx, week, key)
        finally:
            if key_id is not None:
                await revoke_api_key(conn, key_id)
            log("diary: removing the synthetic bookings and therapists")
            cleanup_s = await remove_added(conn, cat, added)
    finally:
        await conn.close()
    return diary_section(latency, week, loaded, answers, plans, sql_ms, assembly_ms, cleanup_s)


def diary_section(
    m: Latency,
    week: Week,
    loaded: Loaded,
    answers: dict[str, Any],
    plans: dict[str, dict[str, Any]],
    sql_ms: list[float],
    assembly_ms: list[float],
    cleanup_s: float,
) -> Section:
    ratios = {p: ratio(m.diary.ms(p), m.availability.ms(p)) for p in PERCENTILES}
    met = not failed(m.diary) and ratios["p99"] is not None and ratios["p99"] <= DIARY_OVER_AVAILABILITY_GOAL
    rows = [
        Row(f"diary week vs availability: latency {p}", m.diary.ms(p), m.availability.ms(p), "ms", "ratio", 2)
        for p in PERCENTILES
    ]
    rows.append(
        Row("diary week vs availability: requests, 1 conn", m.diary.requests, m.availability.requests, "", "none", 0)
    )
    rows.append(Row("non-2xx + socket errors", failed(m.diary), failed(m.availability), "", "none", 0))
    # The table that grows is bookings: it must be read through an index; the others are a clinic's few rows.
    indexed = {
        name: all("Seq Scan" not in how for how in p["access"].get("bookings", ["Seq Scan"]))
        for name, p in plans.items()
    }
    notes = [
        f"goal diary week p99 <= x{DIARY_OVER_AVAILABILITY_GOAL:g} of one therapist-week's availability p99: "
        f"x{ratios['p99'] or 0:.3f} ({m.diary.ms('p99')} vs {m.availability.ms('p99')} ms) -> {verdict(met)}; "
        "slice by slice " + ", ".join(f"x{r:.3f}" if r is not None else "-" for r in m.round_p99_ratios),
        f"week {week.first}..{week.last}: {answers['therapists']} therapists, {answers['appointments']} appointments "
        f"shown ({', '.join(f'{k} {v}' for k, v in sorted(answers['by_status'].items()))}), diary JSON "
        f"{answers['diary_bytes']:,} bytes; Amara's availability {answers['free_slots']} free times, "
        f"{answers['availability_bytes']:,} bytes",
        f"table: {loaded.rows_before:,} -> {loaded.rows_after:,} rows (+{loaded.inserted:,} by one INSERT ... SELECT "
        f"generate_series in {loaded.load_s:.1f}s, {loaded.skipped} skipped where another section had booked; "
        f"VACUUM ANALYZE + CHECKPOINT {loaded.vacuum_s:.1f}s); {len(loaded.added_therapists)} synthetic therapists "
        f"added; all removed again afterwards in {cleanup_s:.1f}s",
        "diary query plan (EXPLAIN ANALYZE): "
        + "; ".join(
            f"{name}: bookings by index: {indexed[name]}; "
            + ", ".join(f"{table} {'+'.join(dict.fromkeys(how))}" for table, how in p["access"].items())
            + f"; {p['shared_blocks']} blocks, {p['execution_ms']} ms"
            for name, p in plans.items()
        ),
        f"in-process, one at a time: the diary's SQL (diary_store.diary_rows) p50 {percentile(sql_ms, 50) or 0:.2f} / "
        f"p99 {percentile(sql_ms, 99) or 0:.2f} ms; assembly + JSON p50 {percentile(assembly_ms, 50) or 0:.2f} / "
        f"p99 {percentile(assembly_ms, 99) or 0:.2f} ms",
    ]
    for name, result in (("diary", m.diary), ("availability", m.availability)):
        usage = m.cpu[name]
        notes.append(
            f"CPU ms per {name} request: {cpu_per_tx(usage, result.requests, STACK_PARTS)}; "
            + cpu_note(f"the {name} run", usage)
        )
    notes.append(
        f"latency figures: wrk -t1 -c1 through the gateway, the diary with a clinic API key; {described()}; "
        "each latency is the median of the slices'"
    )
    section = Section(
        "diary",
        "h. Clinic diary: the week view of 10 therapists (200,000 bookings in the table) vs one therapist-week's "
        "availability JSON, via gateway (wrk, 1 connection)",
        ("diary", "availability", "diary / avail."),
        rows,
        notes,
    )
    section.data = {
        "week": [week.first.isoformat(), week.last.isoformat()],
        "diary_path": week.diary_path,
        "availability_path": week.availability_path,
        "diary": m.diary.as_dict() | {"cpu": m.cpu["diary"]},
        "availability": m.availability.as_dict() | {"cpu": m.cpu["availability"]},
        "ratios_diary_over_availability": ratios,
        "round_p99_ratios": m.round_p99_ratios,
        "goal_ratio_p99": DIARY_OVER_AVAILABILITY_GOAL,
        "goal_met": met,
        "answers": answers,
        "table": {
            "rows_before": loaded.rows_before,
            "rows": loaded.rows_after,
            "inserted": loaded.inserted,
            "skipped": loaded.skipped,
            "load_s": round(loaded.load_s, 2),
            "vacuum_analyze_checkpoint_s": round(loaded.vacuum_s, 2),
            "therapists": loaded.therapists,
            "synthetic_therapists": len(loaded.added_therapists),
            "cleanup_s": round(cleanup_s, 2),
        },
        "plans": plans,
        "sql_diary_rows_ms": summary_ms(sql_ms),
        "assembly_and_json_ms": summary_ms(assembly_ms),
    }
    return section
