"""`python -m tests.perf.bench` (or `make bench`): throughput and latency of the real stack, each figure
beside a baseline measured in the same run on the same machine.

Sections (each a function in SECTIONS; a later issue adds its own function and it lands in the table
and in bench-results.json under "sections"):

- gateway:        GET /api/v1/clinics/urban-therapy/treatments through the gateway vs on the booking
                  service directly (wrk), i.e. what the proxy hop costs.
- booking_create: POST /api/v1/bookings on the booking service (wrk, unique non-overlapping starts)
                  vs a raw asyncpg INSERT into booking.bookings at the same concurrency.
- email_latency:  commit -> relay -> consumer -> Celery -> SMTP sink, hop by hop, for sequential
                  bookings through the gateway.

Everything runs on 127.0.0.1: a migrated and seeded template database and a clone of it, a private
redis-server and the whole Procfile stack on free ports (tests.support), all stopped and dropped at
the end, also on error, Ctrl-C or SIGTERM. Not part of the pytest suite; importing this module does
nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

PERF_DIR = Path(__file__).resolve().parent
REPO_ROOT = PERF_DIR.parents[1]
RESULTS_FILE = REPO_ROOT / "bench-results.json"
RESULTS_SCHEMA_VERSION = 1
LOOPBACK = "127.0.0.1"

CLINIC = "urban-therapy"
TREATMENTS_PATH = f"/api/v1/clinics/{CLINIC}/treatments"
BOOKINGS_PATH = "/api/v1/bookings"

# Far-future, disjoint regions of the time axis, so no two bookings of this run ever overlap
# (the exclusion constraint would answer 409): one region per wrk run, one for the asyncpg baseline,
# one for the email-latency bookings. Each wrk thread gets SLOTS_PER_THREAD consecutive hour slots.
SLOT_SECONDS = 3600            # >= the 60-minute treatment used below
SLOTS_PER_THREAD = 100_000     # ~11 years of hourly slots per wrk thread
REGION_YEARS = 40
REGION_BASE_YEAR = 2100
REGION_RAW_WARMUP, REGION_RAW, REGION_WRK_WARMUP, REGION_WRK, REGION_EMAIL, REGION_EMAIL_WARMUP = range(6)


def region_start(index: int) -> datetime:
    return datetime(REGION_BASE_YEAR + index * REGION_YEARS, 1, 1, tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values_ms: list[float]) -> dict[str, Any]:
    return {"n": len(values_ms), "mean_ms": _round(sum(values_ms) / len(values_ms) if values_ms else None),
            "p50_ms": _round(percentile(values_ms, 50)),
            "p90_ms": _round(percentile(values_ms, 90)), "p99_ms": _round(percentile(values_ms, 99)),
            "max_ms": _round(max(values_ms) if values_ms else None),
            "min_ms": _round(min(values_ms) if values_ms else None)}


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 4)


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def assert_loopback(url: str) -> str:
    host = urlsplit(url).hostname
    if host != LOOPBACK:
        raise RuntimeError(f"refusing to load anything but {LOOPBACK}: {url}")
    return url


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadShape:
    duration: float
    warmup: float
    threads: int
    connections: int

    def as_dict(self) -> dict[str, Any]:
        return {"duration_s": self.duration, "warmup_s": self.warmup, "threads": self.threads,
                "connections": self.connections}


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    statuses: dict[str, int] | None
    latency_us: dict[str, float | None]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def ms(self, key: str) -> float | None:
        value = self.latency_us.get(key)
        return None if value is None else value / 1000.0

    @property
    def non_2xx(self) -> int | None:
        if self.statuses is None:
            return self.errors["status"]     # wrk counts status >= 400; 3xx never happens here
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))

    @property
    def socket_errors(self) -> int:
        return sum(v for k, v in self.errors.items() if k != "status")

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "duration_s": round(self.duration_s, 3), "rps": round(self.rps, 1),
                "latency_ms": {k.replace("p99_9", "p99.9"): _round(self.ms(k)) for k in self.latency_us},
                "non_2xx": self.non_2xx, "socket_errors": {k: v for k, v in self.errors.items() if k != "status"},
                "statuses": self.statuses}


async def run_wrk(url: str, shape: LoadShape, duration: float, script: str, script_args: list[str] = ()) -> WrkResult:
    assert_loopback(url)
    cmd = ["wrk", f"-t{shape.threads}", f"-c{shape.connections}", f"-d{max(1, round(duration))}s",
           "--timeout", "10s", "--latency", "-s", str(PERF_DIR / script), url]
    if script_args:
        cmd += ["--", *script_args]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=PERF_DIR)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=duration + 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode(errors="replace")
    match = re.search(r"^BENCH_JSON (\{.*\})$", text, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n{text}\n{err.decode(errors='replace')}")
    data = json.loads(match.group(1))
    return WrkResult(requests=data["requests"], duration_s=data["duration_us"] / 1e6, errors=data["errors"],
                     statuses=data["statuses"], latency_us=data["latency_us"])


def wrk_version() -> str:
    proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (proc.stdout + proc.stderr).splitlines()[0].strip() if (proc.stdout + proc.stderr) else "unknown"


# --------------------------------------------------------------------------------------------------
# CPU accounting: who used the (few) CPUs during a measured run
# --------------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, process group, user+system CPU seconds) of every visible process."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        found[int(entry.name)] = (comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return found


def _system_busy_seconds() -> float:
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU seconds per stack process (Procfile name, children included), PostgreSQL, the private
    Redis, wrk and this process over a measured interval, plus the machine's total busy time."""

    def __init__(self, stack: Any, redis_pid: int | None):
        self.stack = stack
        self.redis_pid = redis_pid

    def _group(self, pid: int, comm: str, pgrp: int) -> str | None:
        for name, proc in self.stack.procs.items():
            if pgrp == proc.pid:           # each Procfile process leads its own session/group
                return name
        if comm == "postgres":
            return "postgres"
        if pid == self.redis_pid:
            return "redis"
        if pid == os.getpid():
            return "bench (this process)"
        return None

    def _snapshot(self) -> tuple[dict[int, tuple[str, int, float]], float, float]:
        import resource
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return _process_cpu(), _system_busy_seconds(), children.ru_utime + children.ru_stime

    async def measure(self, coro: Awaitable[Any]) -> tuple[dict[str, Any], Any]:
        procs0, busy0, children0 = self._snapshot()
        began = time.monotonic()
        result = await coro
        wall = time.monotonic() - began
        procs1, busy1, children1 = self._snapshot()
        usage: dict[str, float] = {}
        for pid, (comm, pgrp, cpu) in procs1.items():
            group = self._group(pid, comm, pgrp)
            if group is None:
                continue
            before = procs0.get(pid)
            delta = cpu - (before[2] if before and before[0] == comm else 0.0)
            usage[group] = usage.get(group, 0.0) + max(delta, 0.0)
        usage["wrk and other finished children"] = children1 - children0
        busy = busy1 - busy0
        usage = {k: round(v, 2) for k, v in sorted(usage.items(), key=lambda kv: -kv[1]) if v >= 0.005}
        return {"wall_s": round(wall, 2), "available_cpu_s": round(wall * (os.cpu_count() or 1), 2),
                "machine_busy_cpu_s": round(busy, 2),
                "unattributed_cpu_s": round(busy - sum(usage.values()), 2), "by_process": usage}, result


def cpu_note(label: str, usage: dict[str, Any], top: int = 6) -> str:
    parts = [f"{k.split(' ')[0]} {v:.1f}" for k, v in list(usage["by_process"].items())[:top]]
    return (f"CPU s during {label} (busy {usage['machine_busy_cpu_s']:.1f} of {usage['available_cpu_s']:.1f}): "
            + ", ".join(parts))


# --------------------------------------------------------------------------------------------------
# Report: sections of rows, each row a figure beside its baseline
# --------------------------------------------------------------------------------------------------

@dataclass
class Row:
    metric: str
    value: float | None
    baseline: float | None
    unit: str
    # "ratio": value / baseline (throughputs); "delta": value - baseline (latencies); "none"
    compare: str = "ratio"
    digits: int = 1
    compare_text: str | None = None      # overrides the computed comparison


@dataclass
class Section:
    key: str
    title: str
    # Column headings of this section: (value, baseline, comparison).
    columns: tuple[str, str, str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)   # everything for the JSON file


@dataclass
class BenchContext:
    args: argparse.Namespace
    shape: LoadShape
    env: dict[str, str]
    database: str
    database_url: str
    stack: Any
    cpu: CpuMeter


def _fmt(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _compare(row: Row) -> str:
    if row.compare_text is not None:
        return row.compare_text
    if row.compare == "ratio":
        r = ratio(row.value, row.baseline)
        return "-" if r is None else f"x{r:.3f}"
    if row.compare == "delta":
        d = diff(row.value, row.baseline)
        return "-" if d is None else f"{d:+,.{row.digits}f}{(' ' + row.unit) if row.unit else ''}"
    return ""


def render_table(sections: list[Section]) -> str:
    """One plain-text table: per section a title, its column headings, its rows, its notes."""
    body: list[tuple[str, ...] | str] = []
    for section in sections:
        body.append("")
        body.append(f"== {section.title}")
        body.append(("", *section.columns))
        for row in section.rows:
            unit = f" ({row.unit})" if row.unit else ""
            body.append((f"  {row.metric}{unit}", _fmt(row.value, row.digits), _fmt(row.baseline, row.digits),
                         _compare(row)))
        for note in section.notes:
            body.append(f"   * {note}")
    cells = [b for b in body if isinstance(b, tuple)]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    total_width = sum(widths) + 6
    lines = ["=" * total_width]
    for b in body:
        if isinstance(b, tuple):
            lines.append("  ".join([b[0].ljust(widths[0])] + [b[i].rjust(widths[i]) for i in (1, 2, 3)]).rstrip())
        else:
            lines.append(b)
    lines.append("=" * total_width)
    return "\n".join(lines[:1] + lines[2:])   # drop the blank line before the first section


# --------------------------------------------------------------------------------------------------
# Section a: gateway vs direct
# --------------------------------------------------------------------------------------------------

async def bench_gateway(ctx: BenchContext) -> Section:
    shape = ctx.shape
    gateway_url = assert_loopback(ctx.env["PUBLIC_URL"].rstrip("/") + TREATMENTS_PATH)
    direct_url = assert_loopback(f"http://{LOOPBACK}:{ctx.env['BOOKING_PORT']}{TREATMENTS_PATH}")
    targets = (("direct", direct_url), ("gateway", gateway_url))
    loaded: dict[str, WrkResult] = {}
    cpu: dict[str, dict[str, Any]] = {}
    for name, url in targets:
        log(f"gateway: warm-up {name} {shape.warmup:g}s")
        await run_wrk(url, shape, shape.warmup, "wrk_get.lua")
        log(f"gateway: measure {name} {shape.duration:g}s, {shape.connections} connections")
        cpu[name], loaded[name] = await ctx.cpu.measure(run_wrk(url, shape, shape.duration, "wrk_get.lua"))
    # Saturated, closed-loop latency is mostly queueing (connections / throughput); one connection
    # shows what the extra hop itself adds to a single request.
    single = LoadShape(ctx.args.single_duration, 0, 1, 1)
    unloaded: dict[str, WrkResult] = {}
    for name, url in targets:
        log(f"gateway: measure {name} {single.duration:g}s, 1 connection")
        unloaded[name] = await run_wrk(url, single, single.duration, "wrk_get.lua")

    gw, direct = loaded["gateway"], loaded["direct"]
    gw1, direct1 = unloaded["gateway"], unloaded["direct"]
    section = Section("gateway", f"a. Gateway vs direct: GET {TREATMENTS_PATH}",
                      ("gateway", "direct", "gateway vs direct"))
    section.rows = [
        Row(f"throughput, {shape.connections} conns", gw.rps, direct.rps, "req/s", "ratio"),
        Row("latency p50", gw.ms("p50"), direct.ms("p50"), "ms", "delta", 2),
        Row("latency p90", gw.ms("p90"), direct.ms("p90"), "ms", "delta", 2),
        Row("latency p99", gw.ms("p99"), direct.ms("p99"), "ms", "delta", 2),
        Row("non-2xx responses", gw.non_2xx, direct.non_2xx, "", "none", 0),
        Row("socket errors", gw.socket_errors, direct.socket_errors, "", "none", 0),
        Row("throughput, 1 conn", gw1.rps, direct1.rps, "req/s", "ratio"),
        Row("latency p50, 1 conn", gw1.ms("p50"), direct1.ms("p50"), "ms", "delta", 2),
        Row("latency p99, 1 conn", gw1.ms("p99"), direct1.ms("p99"), "ms", "delta", 2),
    ]
    section.notes.append(cpu_note("gateway run", cpu["gateway"]))
    section.notes.append(cpu_note("direct run", cpu["direct"]))
    section.data = {
        "endpoint": TREATMENTS_PATH, "load": shape.as_dict(),
        "gateway": gw.as_dict() | {"cpu": cpu["gateway"]}, "direct": direct.as_dict() | {"cpu": cpu["direct"]},
        "throughput_ratio_gateway_over_direct": ratio(gw.rps, direct.rps),
        "added_latency_ms": {"p50": diff(gw.ms("p50"), direct.ms("p50")),
                             "p90": diff(gw.ms("p90"), direct.ms("p90")),
                             "p99": diff(gw.ms("p99"), direct.ms("p99"))},
        "single_connection": {
            "load": single.as_dict(), "gateway": gw1.as_dict(), "direct": direct1.as_dict(),
            "throughput_ratio_gateway_over_direct": ratio(gw1.rps, direct1.rps),
            "added_latency_ms": {"p50": diff(gw1.ms("p50"), direct1.ms("p50")),
                                 "p99": diff(gw1.ms("p99"), direct1.ms("p99"))}},
    }
    return section


# --------------------------------------------------------------------------------------------------
# Section b: booking create vs raw insert
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Catalogue:
    clinic_id: uuid.UUID
    treatment_id: uuid.UUID
    therapist_id: uuid.UUID
    duration_minutes: int
    price_amount: int
    currency: str


async def load_catalogue(database_url: str) -> Catalogue:
    import asyncpg
    from tests.support.booking import THERAPIST, TREATMENT

    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT c.id AS clinic_id, t.id AS treatment_id, t.duration_minutes, t.price_amount, t.currency, "
            "th.id AS therapist_id FROM booking.clinics c JOIN booking.treatments t ON t.clinic_id = c.id "
            "JOIN booking.therapists th ON th.clinic_id = c.id WHERE c.slug = $1 AND t.id = $2 AND th.id = $3",
            CLINIC, uuid.UUID(TREATMENT), uuid.UUID(THERAPIST))
    finally:
        await conn.close()
    if row is None:
        raise RuntimeError("the seeded demo clinic is missing from the template database")
    if row["duration_minutes"] * 60 > SLOT_SECONDS:
        raise RuntimeError("treatment longer than the slot spacing; bookings would overlap")
    return Catalogue(**dict(row))


@dataclass
class InsertRun:
    rows: int
    errors: int
    duration_s: float
    latencies_ms: list[float]
    cpu: dict[str, Any] | None = None

    @property
    def rps(self) -> float:
        return self.rows / self.duration_s if self.duration_s else 0.0


async def raw_insert_loop(database_url: str, cat: Catalogue, concurrency: int, duration: float,
                          first_start: datetime, meter: CpuMeter | None = None) -> InsertRun:
    """`concurrency` workers on an asyncpg pool of that size, inserting bookings back to back for
    `duration` seconds; starts are unique hour slots from `first_start` (no exclusion conflicts)."""
    from shared import db
    from shared.config import Settings

    # Same pool set-up as the service (search_path, codecs, command timeout), sized to the concurrency.
    pool = await db.create_pool(Settings(database_url=database_url), "booking",
                                min_size=concurrency, max_size=concurrency)
    latencies: list[float] = []
    errors = 0
    slot = 0
    length = timedelta(minutes=cat.duration_minutes)
    sql = """INSERT INTO booking.bookings (id, clinic_id, treatment_id, therapist_id, starts_at, ends_at, status,
                                           customer_name, customer_email, customer_phone, price_amount, currency,
                                           idempotency_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"""
    deadline = 0.0

    async def worker() -> None:
        nonlocal slot, errors
        while time.perf_counter() < deadline:
            n = slot
            slot += 1
            start = first_start + timedelta(seconds=n * SLOT_SECONDS)
            began = time.perf_counter()
            try:
                async with pool.acquire() as conn:
                    await conn.execute(sql, uuid.uuid4(), cat.clinic_id, cat.treatment_id, cat.therapist_id,
                                       start, start + length, "confirmed", f"Baseline {n}",
                                       f"baseline-{n}@example.com", None, cat.price_amount, cat.currency, None)
            except Exception:
                errors += 1
                continue
            latencies.append((time.perf_counter() - began) * 1000.0)

    try:
        began = time.perf_counter()
        deadline = began + duration
        work = asyncio.gather(*(worker() for _ in range(concurrency)))
        if meter is not None:       # measured while the pool's server processes still exist
            cpu, _ = await meter.measure(work)
        else:
            cpu = None
            await work
        elapsed = time.perf_counter() - began
    finally:
        await pool.close()
    return InsertRun(rows=len(latencies), errors=errors, duration_s=elapsed, latencies_ms=latencies, cpu=cpu)


DOWNSTREAM_QUERY = """
SELECT (SELECT count(*) FROM booking.bookings WHERE starts_at >= $3 AND starts_at < $4)        AS rows_created,
       (SELECT count(*) FROM booking.outbox WHERE published_at BETWEEN $1 AND $2)               AS relay_published,
       (SELECT count(*) FROM notifications.inbox WHERE received_at BETWEEN $1 AND $2)           AS consumer_handled,
       (SELECT count(*) FROM notifications.emails WHERE sent_at BETWEEN $1 AND $2)              AS emails_sent,
       (SELECT count(*) FROM booking.outbox WHERE published_at IS NULL)                         AS unpublished_after,
       (SELECT count(*) FROM notifications.emails WHERE status = 'pending')                     AS emails_pending_after
"""


async def downstream_activity(database_url: str, window: tuple[datetime, datetime],
                              region: tuple[datetime, datetime]) -> dict[str, int]:
    """Rows the measured run created, and what the event path did meanwhile (it shares the CPUs)."""
    import asyncpg
    conn = await asyncpg.connect(database_url)
    try:
        return dict(await conn.fetchrow(DOWNSTREAM_QUERY, *window, *region))
    finally:
        await conn.close()


async def bench_booking_create(ctx: BenchContext) -> Section:
    shape = ctx.shape
    cat = await load_catalogue(ctx.database_url)
    url = assert_loopback(f"http://{LOOPBACK}:{ctx.env['BOOKING_PORT']}{BOOKINGS_PATH}")

    def wrk_args(region: int) -> list[str]:
        base = int(region_start(region).timestamp())
        return [str(base), str(SLOT_SECONDS), str(SLOTS_PER_THREAD), CLINIC, str(cat.treatment_id),
                str(cat.therapist_id)]

    # Baseline first, on a quiet machine: every booking the wrk run creates queues an email, and the
    # relay, consumer and Celery work those off for a while afterwards.
    log(f"booking_create: warm-up asyncpg {shape.warmup:g}s")
    await raw_insert_loop(ctx.database_url, cat, shape.connections, shape.warmup, region_start(REGION_RAW_WARMUP))
    log(f"booking_create: measure asyncpg {shape.duration:g}s, pool of {shape.connections}")
    raw = await raw_insert_loop(ctx.database_url, cat, shape.connections, shape.duration, region_start(REGION_RAW), ctx.cpu)
    raw_cpu = raw.cpu

    paused = ctx.args.pause_downstream
    if paused:
        ctx.stack.send_signal("booking-relay", signal.SIGSTOP)
    try:
        log(f"booking_create: warm-up wrk {shape.warmup:g}s")
        warm = await run_wrk(url, shape, shape.warmup, "wrk_booking.lua", wrk_args(REGION_WRK_WARMUP))
        log(f"booking_create: measure wrk {shape.duration:g}s, {shape.connections} connections"
            + (" (relay paused)" if paused else ""))
        window_start = datetime.now(timezone.utc)
        http_cpu, http = await ctx.cpu.measure(run_wrk(url, shape, shape.duration, "wrk_booking.lua", wrk_args(REGION_WRK)))
        window_end = datetime.now(timezone.utc)
        activity = await downstream_activity(ctx.database_url, (window_start, window_end),
                                             (region_start(REGION_WRK), region_start(REGION_WRK + 1)))
    finally:
        if paused:
            ctx.stack.send_signal("booking-relay", signal.SIGCONT)

    raw_p50, raw_p90, raw_p99 = (percentile(raw.latencies_ms, p) for p in (50, 90, 99))
    section = Section("booking_create", f"b. Booking create: POST {BOOKINGS_PATH} (booking service) vs raw INSERT",
                      ("POST (wrk)", "raw INSERT", "POST vs INSERT"))
    section.rows = [
        Row(f"throughput, {shape.connections} conns", http.rps, raw.rps, "rows/s", "ratio"),
        Row("latency p50", http.ms("p50"), raw_p50, "ms", "delta", 2),
        Row("latency p90", http.ms("p90"), raw_p90, "ms", "delta", 2),
        Row("latency p99", http.ms("p99"), raw_p99, "ms", "delta", 2),
        Row("non-2xx / failed inserts", http.non_2xx, raw.errors, "", "none", 0),
        Row("socket errors", http.socket_errors, 0, "", "none", 0),
    ]
    created_201 = (http.statuses or {}).get("201", 0)
    if http.statuses and set(http.statuses) - {"201"}:
        section.notes.append(f"wrk response statuses: {http.statuses}")
    if not 0 <= activity["rows_created"] - created_201 <= shape.connections:
        section.notes.append(f"{activity['rows_created']} rows in the run's time region but {created_201} "
                             "answers 201 (expected equal, up to requests in flight when wrk stopped)")
    section.notes.append(
        f"raw INSERT: asyncpg pool of {shape.connections} in one Python process (uvloop); the service uses "
        "its own pool of 10")
    section.notes.append(
        "during the POST run the event path shared the CPUs: relay published "
        f"{activity['relay_published']}, consumer handled {activity['consumer_handled']}, Celery sent "
        f"{activity['emails_sent']} emails" + (" (relay paused: --pause-downstream)" if paused else ""))
    section.notes.append(cpu_note("POST run", http_cpu))
    section.notes.append(cpu_note("INSERT run", raw_cpu))
    section.data = {
        "endpoint": BOOKINGS_PATH, "target": "booking service directly", "load": shape.as_dict(),
        "relay_paused": paused,
        "http": http.as_dict() | {"rows_created": activity["rows_created"], "cpu": http_cpu},
        "warmup_http": {"requests": warm.requests, "non_2xx": warm.non_2xx},
        "raw_insert": {"rows": raw.rows, "errors": raw.errors, "duration_s": round(raw.duration_s, 3),
                       "rps": round(raw.rps, 1), "concurrency": shape.connections,
                       "latency_ms": summary_ms(raw.latencies_ms), "cpu": raw_cpu},
        "throughput_ratio_http_over_raw": ratio(http.rps, raw.rps),
        "added_latency_ms": {"p50": diff(http.ms("p50"), raw_p50), "p90": diff(http.ms("p90"), raw_p90),
                             "p99": diff(http.ms("p99"), raw_p99)},
        "event_path_during_run": activity,
    }
    return section


# --------------------------------------------------------------------------------------------------
# Section c: commit -> email in the SMTP sink
# --------------------------------------------------------------------------------------------------

HOP_QUERY = """
SELECT b.id AS booking_id,
       b.created_at   AS committed,    -- clock_timestamp() at INSERT, just before COMMIT
       o.published_at AS published,    -- relay XADDed it to the stream
       i.received_at  AS consumed,     -- consumer's inbox row (same transaction as the email row)
       e.id           AS email_id,
       e.created_at   AS email_row,
       e.sent_at      AS sent          -- stamped after the SMTP conversation ended
FROM booking.bookings b
JOIN booking.outbox o ON o.envelope -> 'data' ->> 'booking_id' = b.id::text
LEFT JOIN notifications.inbox i ON i.event_id = o.event_id AND i.consumer = 'notifications'
LEFT JOIN notifications.emails e ON e.event_id = o.event_id AND e.kind = 'booking_confirmed'
WHERE b.id = ANY($1::uuid[])
"""

MESSAGE_ID = re.compile(r"<([0-9a-fA-F-]{36})@")


class MaildirWatcher:
    """Maps email row ids (from each message's Message-ID) to the arrival time of its Maildir file."""

    def __init__(self, root: Path):
        self.root = root
        self.seen: set[Path] = set()
        self.arrivals: dict[str, float] = {}
        self.parser = BytesHeaderParser()

    def scan(self) -> None:
        for sub in ("new", "cur"):
            folder = self.root / sub
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path in self.seen or not path.is_file():
                    continue
                try:
                    with path.open("rb") as fh:
                        headers = self.parser.parse(fh)
                    mtime = path.stat().st_mtime_ns / 1e9
                except FileNotFoundError:        # moved new/ -> cur/ by a reader meanwhile
                    continue
                self.seen.add(path)
                if match := MESSAGE_ID.search(headers.get("Message-ID", "")):
                    self.arrivals[match.group(1).lower()] = mtime


async def book_sequentially(http, url: str, count: int, pause: float, region: int, label: str
                            ) -> tuple[list[str], list[float]]:
    """`count` bookings, one at a time, `pause` seconds apart; their ids and round-trip times (ms)."""
    from tests.support.booking import THERAPIST, TREATMENT

    ids: list[str] = []
    round_trips: list[float] = []
    for i in range(count):
        start = region_start(region) + timedelta(seconds=i * SLOT_SECONDS)
        body = {"clinic": CLINIC, "treatment": TREATMENT, "therapist": THERAPIST, "start": start.isoformat(),
                "customer": {"name": f"{label} {i}", "email": f"{label.lower()}-{i}@example.com"}}
        began = time.perf_counter()
        async with http.post(url, json=body) as resp:
            payload = await resp.json()
            if resp.status != 201:
                raise RuntimeError(f"{label} booking {i} answered {resp.status}: {payload}")
        round_trips.append((time.perf_counter() - began) * 1000.0)
        ids.append(payload["id"])
        await asyncio.sleep(pause)
    return ids, round_trips


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


async def direct_smtp_sends(conn, watcher: MaildirWatcher, env: dict[str, str], rows: list, count: int
                            ) -> list[float]:
    """Baseline of the Celery hop: the product's own smtp.send of a copy of a real email row (new id),
    called straight from here, timed from the call to the file in the sink (ms)."""
    from services.notifications import smtp
    from shared.config import load_settings

    if not rows or count <= 0:
        return []
    settings = load_settings(env)
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


async def bench_email_latency(ctx: BenchContext) -> Section:
    import aiohttp
    import asyncpg

    n, pause, n_warm = ctx.args.emails, ctx.args.email_pause, ctx.args.email_warmup
    url = assert_loopback(ctx.env["PUBLIC_URL"].rstrip("/") + BOOKINGS_PATH)
    watcher = MaildirWatcher(Path(ctx.env["MAILBOX_DIR"]))
    conn = await asyncpg.connect(ctx.database_url)
    try:
        async with aiohttp.ClientSession() as http:
            # The first emails after start pay for the Celery children's first DB connection and
            # event loop; measure them apart, then the steady state.
            log(f"email_latency: {n_warm} warm-up bookings")
            warm_ids, _ = await book_sequentially(http, url, n_warm, pause, REGION_EMAIL_WARMUP, "Warmup")
            warm_rows = await wait_for_emails(conn, watcher, warm_ids, ctx.args.email_timeout)
            log(f"email_latency: {n} bookings through the gateway, {pause:g}s apart")
            booking_ids, request_ms = await book_sequentially(http, url, n, pause, REGION_EMAIL, "Latency")
        complete = await wait_for_emails(conn, watcher, booking_ids, ctx.args.email_timeout)
        direct_smtp_ms = await direct_smtp_sends(conn, watcher, ctx.env, complete, ctx.args.smtp_sends)
    finally:
        await conn.close()
    cold = {str(r["booking_id"]): (watcher.arrivals[str(r["email_id"])] - r["committed"].timestamp()) * 1000.0
            for r in warm_rows}
    cold_ms = [cold[b] for b in warm_ids if b in cold]

    def ms(a: datetime, b: datetime | float) -> float:
        b_ts = b if isinstance(b, float) else b.timestamp()
        return (b_ts - a.timestamp()) * 1000.0

    chain = ["commit_to_published", "published_to_consumed", "consumed_to_sent", "sent_to_sink"]
    order = {b: i for i, b in enumerate(booking_ids)}
    samples = []
    for r in sorted(complete, key=lambda r: order[str(r["booking_id"])]):
        sink = watcher.arrivals[str(r["email_id"])]
        samples.append({
            "i": order[str(r["booking_id"])],
            "commit_to_published": ms(r["committed"], r["published"]),
            "published_to_consumed": ms(r["published"], r["consumed"]),
            "consumed_to_sent": ms(r["consumed"], r["sent"]),
            "sent_to_sink": ms(r["sent"], sink),
            "consumed_to_sink": ms(r["consumed"], sink),
            "total_commit_to_sink": ms(r["committed"], sink),
        })
    keys = chain + ["consumed_to_sink", "total_commit_to_sink"]
    stats = {k: summary_ms([x[k] for x in samples]) for k in keys}
    mean_total = stats["total_commit_to_sink"]["mean_ms"]

    def share(key: str) -> str:
        mean = stats[key]["mean_ms"]
        return "-" if mean is None or not mean_total else f"{mean / mean_total * 100:.0f}% of mean"

    section = Section("email_latency",
                      f"c. Commit -> email in the SMTP sink ({len(complete)}/{n} sequential bookings via gateway, "
                      f"{pause:g}s apart)", ("p50", "p99", "share (means)"))
    labels = [("commit -> published (relay)", "commit_to_published"),
              ("published -> consumed (inbox)", "published_to_consumed"),
              ("consumed -> sent_at (Celery + SMTP)", "consumed_to_sent"),
              ("sent_at -> in sink (file mtime)", "sent_to_sink"),
              ("TOTAL commit -> in sink", "total_commit_to_sink"),
              ("  of which consumed -> in sink", "consumed_to_sink")]
    section.rows = [Row(label, stats[key]["p50_ms"], stats[key]["p99_ms"], "ms", "none", 1, share(key))
                    for label, key in labels]
    section.rows.append(Row("baseline: smtp.send straight to the sink", percentile(direct_smtp_ms, 50),
                            percentile(direct_smtp_ms, 99), "ms", "none", 1,
                            f"vs consumed->sink x{ratio(stats['consumed_to_sink']['p50_ms'], percentile(direct_smtp_ms, 50)) or 0:.1f}"))
    section.rows.append(Row("POST /api/v1/bookings round trip", percentile(request_ms, 50),
                            percentile(request_ms, 99), "ms", "none", 1, ""))
    if cold_ms:
        section.rows.append(Row("first email after start (cold), total", cold_ms[0], None, "ms", "none", 1,
                                "warm-up, not above"))
    slowest = max(chain, key=lambda k: stats[k]["mean_ms"] or 0.0) if samples else None
    if slowest:
        section.notes.append(f"slowest hop: {slowest} (p50 {stats[slowest]['p50_ms']:.1f} ms, "
                             f"p99 {stats[slowest]['p99_ms']:.1f} ms, {share(slowest)})")
        worst = max(samples, key=lambda x: x["total_commit_to_sink"])
        section.notes.append(f"slowest email: booking #{worst['i']} of {n}, total {worst['total_commit_to_sink']:.1f} ms"
                             f" ({', '.join(f'{k} {worst[k]:.1f}' for k in chain)})")
    section.notes.append("published_at is stamped after XADD (same relay transaction) and sent_at after the SMTP "
                         "conversation, so published -> consumed and sent_at -> in sink can be <= 0")
    if len(complete) < n:
        section.notes.append(f"only {len(complete)} of {n} emails arrived within {ctx.args.email_timeout:g}s")
    section.data = {
        "bookings": n, "complete": len(complete), "pause_s": pause, "via": "gateway",
        "hops_ms": stats, "post_round_trip_ms": summary_ms(request_ms), "slowest_hop": slowest,
        "direct_smtp_send_to_sink_ms": summary_ms(direct_smtp_ms),
        "warmup": {"bookings": n_warm, "total_commit_to_sink_ms": [round(x, 3) for x in cold_ms]},
        "timestamps": {
            "committed": "booking.bookings.created_at", "published": "booking.outbox.published_at",
            "consumed": "notifications.inbox.received_at", "sent": "notifications.emails.sent_at",
            "sink": "mtime of the Maildir file whose Message-ID is <emails.id@...>"},
        "samples_ms": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in x.items()} for x in samples],
    }
    return section


# Later issues append their (key, function) here; each returns a Section.
SECTIONS: list[tuple[str, Callable[[BenchContext], Awaitable[Section]]]] = [
    ("gateway", bench_gateway),
    # Runs before booking_create, whose thousands of bookings keep the email pipeline busy for a while.
    ("email_latency", bench_email_latency),
    ("booking_create", bench_booking_create),
]


# --------------------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True,
                                text=True).stdout.strip())
    info = {"hostname": platform.node(), "cpu_model": cpu_model, "cpus": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "mem_total_gib": mem_total, "kernel": platform.release(), "python": platform.python_version(),
            "wrk": wrk_version(), "git_commit": commit or None, "git_dirty": dirty}
    try:
        info["redis_server"] = subprocess.run(["redis-server", "--version"], capture_output=True,
                                              text=True).stdout.strip()
    except OSError:
        info["redis_server"] = None
    return info


async def postgres_version(database_url: str) -> str:
    import asyncpg
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------------
# Set-up and tear-down
# --------------------------------------------------------------------------------------------------

async def drop_own_databases(known: list[str]) -> list[str]:
    """Drop the databases we know of, plus any this process created but did not get to record
    (tests.support.infra names them <prefix>_<pid>_<hex>)."""
    import asyncpg
    from tests.support.infra import PG_ADMIN_URL, drop_database

    names = set(known)
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        for prefix in (f"clinic_tpl_{os.getpid()}_", f"clinic_t_{os.getpid()}_"):
            rows = await admin.fetch("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix)
            names.update(r["datname"] for r in rows)
    finally:
        await admin.close()
    for name in sorted(names, key=lambda n: n.startswith("clinic_tpl_")):   # clones before the template
        await drop_database(name)
    return sorted(names)


def _raise_interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.perf.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=8.0, help="seconds per measured run (default 8)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each (default 2)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections / asyncpg pool size (default 32)")
    p.add_argument("--emails", type=int, default=40, help="sequential bookings for the email latency (default 40)")
    p.add_argument("--email-pause", type=float, default=0.25, help="seconds between them (default 0.25)")
    p.add_argument("--email-warmup", type=int, default=3,
                   help="bookings whose emails warm the Celery workers first, reported apart (default 3)")
    p.add_argument("--smtp-sends", type=int, default=20,
                   help="direct SMTP sends to the sink, the baseline of the Celery hop (default 20)")
    p.add_argument("--email-timeout", type=float, default=60.0, help="max seconds to wait for the emails")
    p.add_argument("--single-duration", type=float, default=3.0,
                   help="seconds of the 1-connection latency runs of the gateway section (default 3)")
    p.add_argument("--pause-downstream", action="store_true",
                   help="SIGSTOP the booking relay during the POST runs, so no event work shares the CPUs")
    p.add_argument("--only", action="append", choices=[k for k, _ in SECTIONS],
                   help="run only this section (repeatable)")
    p.add_argument("--output", type=Path, default=RESULTS_FILE, help="JSON results file (default bench-results.json)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import uvloop

    from tests.support.infra import PrivateRedis, clone_database, create_template_database, database_url
    from tests.support.stack import STACK_MARKER, Stack, processes_with_marker, stack_env

    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `make bench-tools` (or apt-get install -y wrk)", file=sys.stderr)
        return 2
    shape = LoadShape(args.duration, args.warmup, args.threads, args.connections)
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.monotonic()
    databases: list[str] = []
    redis_server: PrivateRedis | None = None
    stack: Stack | None = None
    sections: list[Section] = []
    exit_code = 1
    workdir = Path(tempfile.mkdtemp(prefix="clinic-bench-"))
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            log("creating the template database (migrate + seed) and a clone")
            template = runner.run(create_template_database())
            databases.append(template)
            db_name = runner.run(clone_database(template))
            databases.append(db_name)
            db_url = database_url(db_name)
            assert_loopback(db_url)

            redis_server = PrivateRedis(workdir / "redis")
            (workdir / "redis").mkdir()
            redis_server.start()
            assert_loopback(redis_server.url)

            stack_dir = workdir / "stack"
            stack_dir.mkdir()
            env = stack_env(db_url, redis_server.url, stack_dir)
            env["LOG_LEVEL"] = "WARNING"
            for key in ("PUBLIC_URL",):
                assert_loopback(env[key])
            stack = Stack(env, stack_dir)
            log("starting the stack")
            stack.start()
            stack.wait_healthy()
            log(f"stack ready in {time.monotonic() - started:.1f}s (gateway {env['PUBLIC_URL']})")

            ctx = BenchContext(args, shape, env, db_name, db_url, stack,
                               CpuMeter(stack, redis_server.proc.pid if redis_server.proc else None))
            for key, fn in SECTIONS:
                if args.only and key not in args.only:
                    continue
                sections.append(runner.run(fn(ctx)))

            sections.sort(key=lambda s: s.title)     # display as lettered ("a. ...", "b. ..."), not as run
            machine = machine_info()
            machine["postgres"] = runner.run(postgres_version(db_url))
        elapsed = time.monotonic() - started
        results = {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "runtime_s": round(elapsed, 1),
            "machine": machine,
            "load": shape.as_dict(),
            "sections": {s.key: {"title": s.title, **s.data, "notes": s.notes} for s in sections},
        }
        args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print()
        print(f"Benchmark on {machine['cpus']} CPU(s) ({machine['cpu_model']}), {LOOPBACK} only; "
              f"wrk {shape.threads} threads, {shape.connections} connections, {shape.duration:.0f}s runs "
              f"after {shape.warmup:.0f}s warm-up")
        print(render_table(sections))
        print(f"figures written to {args.output}")
        exit_code = 0
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        exit_code = 130
    except BaseException:
        if stack is not None:
            for name in stack.procs:
                if tail := stack.log(name)[-1500:].strip():
                    log(f"--- {name} log (tail) ---\n{tail}")
        raise
    finally:
        # Finish the clean-up even if Ctrl-C is pressed again.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if stack is not None:
                stack.stop_all()
                leftover = processes_with_marker(stack.env[STACK_MARKER])
                for pid in leftover:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if leftover:
                    log(f"killed {len(leftover)} leftover stack process(es): {leftover}")
            if redis_server is not None:
                redis_server.stop()
            try:
                dropped = asyncio.run(drop_own_databases(databases))
                log(f"dropped databases: {', '.join(dropped) or 'none'}")
            except Exception as exc:   # report, never hide the original error
                log(f"could not drop databases {databases}: {exc!r}")
            shutil.rmtree(workdir, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
    if exit_code == 0:
        print(f"total runtime {time.monotonic() - started:.1f}s (set-up, measurements and clean-up)")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
