"""`python -m tests.perf.bench` (or `make bench`): throughput and latency of the real stack, each figure
beside a baseline measured in the same run on the same machine.

Sections (each a function in SECTIONS; a later issue adds its own function and it lands in the table
and in bench-results.json under "sections"):

- gateway:        GET /api/v1/clinics/urban-therapy/treatments through the gateway vs on the booking
                  service directly (wrk), i.e. what the proxy hop costs.
- email_latency:  commit -> relay -> consumer -> Celery -> SMTP sink, hop by hop, for sequential
                  bookings through the gateway (availability -> hold -> booking, all-clear screening).
- holds:          POST /api/v1/holds through the gateway at 32 concurrent clients (wrk, unique valid
                  non-overlapping starts) vs the hold's SQL transaction straight from asyncpg at the
                  same concurrency; also on the booking service directly and the use case in-process.
- availability:   one therapist's week of availability through the gateway, one request at a time,
                  at 10k .. 1M rows in booking.bookings, vs the SQL the endpoint runs (load_schedules).

The bench's database is its own clone, so it may change it: the demo clinic's booking horizon is
raised and synthetic therapists and bookings are added by SQL (see each section).

Everything runs on 127.0.0.1: a migrated and seeded template database and a clone of it, a private
redis-server and the whole Procfile stack on free ports (tests.support), all stopped and dropped at
the end, also on error, Ctrl-C or SIGTERM. Not part of the pytest suite; importing this module does
nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from datetime import date, datetime, timedelta, timezone
from datetime import time as dt_time
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

HOLDS_PATH = "/api/v1/holds"
# The bench database's booking horizon (the product allows 1..730 days; the demo default is 60).
BENCH_HORIZON_DAYS = 730
# Days the email bookings may search for a free slot of their therapist.
EMAIL_MAX_DAYS = 60


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
    """CPU seconds per stack process (Procfile name, children included), PostgreSQL (the bench
    database's backends apart from other databases' and from the shared background processes), the
    private Redis, wrk and this process over a measured interval, plus the machine's total busy time."""

    def __init__(self, stack: Any, redis_pid: int | None, database: str):
        self.stack = stack
        self.redis_pid = redis_pid
        self.database = database

    def _group(self, pid: int, comm: str, pgrp: int) -> str | None:
        for name, proc in self.stack.procs.items():
            if pgrp == proc.pid:           # each Procfile process leads its own session/group
                return name
        if comm == "postgres":
            return _postgres_role(pid, self.database)
        if pid == self.redis_pid:
            return "redis"
        if pid == os.getpid():
            return "bench (this process)"
        return None

    def _snapshot(self) -> tuple[dict[int, tuple[str, int, float]], float, float]:
        import resource
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return _process_cpu(), _system_busy_seconds(), children.ru_utime + children.ru_stime

    def _usage(self, snap0, snap1) -> dict[str, float]:
        (procs0, _, children0), (procs1, _, children1) = snap0, snap1
        usage: dict[str, float] = {}
        for pid, (comm, pgrp, cpu) in procs1.items():
            group = self._group(pid, comm, pgrp)
            if group is None:
                continue
            before = procs0.get(pid)
            delta = cpu - (before[2] if before and before[0] == comm else 0.0)
            usage[group] = usage.get(group, 0.0) + max(delta, 0.0)
        usage["wrk and other finished children"] = children1 - children0
        return usage

    async def measure(self, coro: Awaitable[Any]) -> tuple[dict[str, Any], Any]:
        snap0 = self._snapshot()
        began = time.monotonic()
        result = await coro
        wall = time.monotonic() - began
        snap1 = self._snapshot()
        usage = self._usage(snap0, snap1)
        busy = snap1[1] - snap0[1]
        usage = {k: round(v, 2) for k, v in sorted(usage.items(), key=lambda kv: -kv[1]) if v >= 0.005}
        return {"wall_s": round(wall, 2), "available_cpu_s": round(wall * (os.cpu_count() or 1), 2),
                "machine_busy_cpu_s": round(busy, 2),
                "unattributed_cpu_s": round(busy - sum(usage.values()), 2), "by_process": usage}, result

    async def wait_quiet(self, max_wait: float = 20.0, interval: float = 0.5) -> tuple[float, float]:
        """Wait until the stack (its processes, Redis, its database's backends) has been nearly idle
        for two intervals in a row, e.g. the relay and consumers have worked off the previous run's
        events, or autovacuum is done. Other work on a shared machine is not waited for. Returns the
        seconds waited and the stack's last CPU use (in CPUs)."""
        began = time.monotonic()
        calm, cpus_used = 0, 0.0
        previous = self._snapshot()
        while time.monotonic() - began < max_wait and calm < 2:
            await asyncio.sleep(interval)
            current = self._snapshot()
            usage = self._usage(previous, current)
            cpus_used = sum(v for k, v in usage.items() if k not in NOT_THE_STACK) / interval
            previous = current
            calm = calm + 1 if cpus_used < QUIET_CPUS else 0
        waited = time.monotonic() - began
        if calm < 2:
            log(f"the stack still uses {cpus_used:.2f} CPUs after {waited:.1f}s; measuring anyway")
        elif waited > 2:
            log(f"waited {waited:.1f}s for the stack to quieten")
        return waited, cpus_used


POSTGRES_OTHER = "postgres-other-databases"
POSTGRES_SHARED = "postgres-background"
# Not the stack's: left out of "is the stack quiet yet?" (the machine may be shared with other work).
NOT_THE_STACK = (POSTGRES_OTHER, "bench (this process)", "wrk and other finished children")
# The idle stack (relay polls, consumers blocked in XREADGROUP, beat) uses a few percent of one CPU.
QUIET_CPUS = 0.15


def _postgres_role(pid: int, database: str) -> str:
    """A PostgreSQL process's part: a backend (or autovacuum worker) of the bench's database, one of
    another database, or a background process serving all (checkpointer, WAL writer, ...)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return POSTGRES_OTHER
    words = title.split()
    if database in words:
        return "postgres"
    # A backend's title is "postgres: [cluster: ]user database host(port)|[local] state".
    if "autovacuum worker" in title or "(" in title or "[local]" in title:
        return POSTGRES_OTHER
    return POSTGRES_SHARED


EVENT_PATH = ("booking-relay", "payments-relay", "booking-consumer", "payments-consumer", "notifications-consumer",
              "redis", "celery-worker")


def cpu_per_tx(usage: dict[str, Any], transactions: int, names: list[str]) -> str:
    """CPU milliseconds per transaction of these processes, and of the event path together."""
    if not transactions:
        return "-"
    by = usage["by_process"]
    parts = [f"{n.split(' ')[0]} {by.get(n, 0.0) * 1000 / transactions:.2f}" for n in names if n in by]
    event_path = sum(v for k, v in by.items() if k in EVENT_PATH)
    return ", ".join(parts + [f"event path {event_path * 1000 / transactions:.2f}"])


def other_work_cpu_s(usage: dict[str, Any]) -> float:
    """CPU seconds the machine spent on work that is not the bench's (a shared machine)."""
    return max(0.0, usage["unattributed_cpu_s"] + usage["by_process"].get(POSTGRES_OTHER, 0.0))


def cpu_note(label: str, usage: dict[str, Any], top: int = 6) -> str:
    ours = [(k, v) for k, v in usage["by_process"].items() if k != POSTGRES_OTHER]
    parts = [f"{k.split(' ')[0]} {v:.1f}" for k, v in ours[:top]]
    return (f"CPU s during {label} (busy {usage['machine_busy_cpu_s']:.1f} of {usage['available_cpu_s']:.1f}): "
            + ", ".join(parts) + f"; other work on the machine {other_work_cpu_s(usage):.1f}")


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
# The bench database: a few settings and synthetic therapists of the demo clinic, added by SQL
# --------------------------------------------------------------------------------------------------

async def booking_connection(database_url: str):
    """A connection set up like the booking service's pool (search_path booking, jsonb codec)."""
    from shared import db
    from shared.config import Settings
    return await db.connect(Settings(database_url=assert_loopback(database_url)), "booking")


async def booking_pool(database_url: str, size: int):
    from shared import db
    from shared.config import Settings
    return await db.create_pool(Settings(database_url=assert_loopback(database_url)), "booking",
                                min_size=size, max_size=size)


@dataclass(frozen=True)
class Catalogue:
    """The demo clinic and the treatment every section books, as the service's own domain objects."""
    clinic: Any         # services.booking.domain.Clinic
    treatment: Any      # services.booking.domain.Treatment


async def load_catalogue(conn) -> Catalogue:
    from services.booking import store
    from tests.support.booking import TREATMENT

    clinic = await store.get_clinic(conn, CLINIC)
    treatment = None if clinic is None else await store.get_treatment(conn, clinic.id, uuid.UUID(TREATMENT))
    if treatment is None:
        raise RuntimeError("the seeded demo clinic is missing from the template database")
    return Catalogue(clinic, treatment)


async def set_bench_horizon(conn) -> None:
    """More bookable days for the bench's own database (the demo default is 60), so wrk never runs
    out of distinct valid starts."""
    await conn.execute("UPDATE clinics SET booking_horizon_days = $2 WHERE slug = $1", CLINIC, BENCH_HORIZON_DAYS)


async def add_therapists(conn, cat: Catalogue, prefix: str, count: int,
                         hours: list[tuple[int, dt_time, dt_time]] = (),
                         breaks: list[tuple[int, dt_time, dt_time]] = (), with_hours: int | None = None
                         ) -> list[uuid.UUID]:
    """`count` synthetic therapists of the demo clinic (slugs <prefix>0000, <prefix>0001, ...), giving the
    bench's treatment, with these weekly hours and breaks (for the first `with_hours` of them, default
    all). Idempotent. Returns their ids in slug order."""
    with_hours = count if with_hours is None else with_hours
    if count > 10_000:
        raise ValueError("at most 10,000 synthetic therapists per prefix (4-digit slugs)")
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO therapists (id, clinic_id, slug, name, bio)
               SELECT gen_random_uuid(), $1, $2 || lpad(g::text, 4, '0'), 'Bench therapist ' || $2 || g, 'synthetic'
               FROM generate_series(0, $3 - 1) AS g ON CONFLICT (clinic_id, slug) DO NOTHING""",
            cat.clinic.id, prefix, count)
        rows = await conn.fetch("SELECT id FROM therapists WHERE clinic_id = $1 AND starts_with(slug, $2) "
                                "ORDER BY slug LIMIT $3", cat.clinic.id, prefix, count)
        ids = [r["id"] for r in rows]
        staffed = ids[:with_hours]
        await conn.execute(
            "INSERT INTO therapist_treatments (therapist_id, treatment_id) SELECT t, $2 FROM unnest($1::uuid[]) t "
            "ON CONFLICT DO NOTHING", staffed, cat.treatment.id)
        fresh = [r["id"] for r in await conn.fetch(
            "SELECT t AS id FROM unnest($1::uuid[]) t WHERE NOT EXISTS (SELECT 1 FROM working_hours w "
            "WHERE w.therapist_id = t)", staffed)]
        for table, rows_ in (("working_hours", hours), ("breaks", breaks)):
            await conn.executemany(f"INSERT INTO {table} (therapist_id, weekday, starts, ends) VALUES ($1, $2, $3, $4)",
                                   [(t, d, a, b) for t in fresh for d, a, b in rows_])
    return ids


async def wait_outbox_drained(conn, timeout: float = 60.0) -> float:
    """Wait until the relay has published every booking outbox row; returns the seconds waited."""
    began = time.monotonic()
    while await conn.fetchval("SELECT count(*) FROM booking.outbox WHERE published_at IS NULL"):
        if time.monotonic() - began > timeout:
            log(f"outbox not drained after {timeout:g}s; carrying on")
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - began


# --------------------------------------------------------------------------------------------------
# Section b: hold creation, gateway vs the same SQL transaction straight from asyncpg
# --------------------------------------------------------------------------------------------------

# The bench's hold therapists work every day, 08:00-20:00 clinic wall time (Europe/London). Whatever
# the UK offset (GMT or BST), UTC 08:00-19:00 lies inside those hours, so the grid below is laid in
# UTC: starts from 08:00 UTC every `step`, each treatment ending by 19:00 UTC. UK offsets are whole
# hours, so a UTC quarter hour is a wall-clock quarter hour (the clinic's 15-minute grid).
HOLD_HOURS = [(d, dt_time(8, 0), dt_time(20, 0)) for d in range(7)]
HOLD_UTC_OPEN, HOLD_UTC_CLOSE = timedelta(hours=8), timedelta(hours=19)
HOLD_FIRST_DAY = 2            # days after today (UTC): far past the 2 h minimum notice
HOLD_LAST_DAY_MARGIN = 3      # days kept clear of the horizon's end
HOLD_THERAPISTS = 16          # per set: wrk through HTTP, the SQL baseline, the in-process use case
HOLD_WRK_BLOCKS = 4           # direct warm-up, direct, gateway warm-up, gateway
HOLD_GRID_CHECKS = 300        # starts per grid checked against the product's own rules before use


@dataclass(frozen=True)
class HoldGrid:
    """Distinct valid hold starts for a set of therapists, indexed 0..capacity-1; the same mapping as
    wrk_hold.lua. Consecutive indices go to different therapists and days; two starts of one
    therapist on one day are `step` (>= the blocked span, treatment plus buffers) apart."""
    therapists: tuple[uuid.UUID, ...]
    first: datetime            # HOLD_UTC_OPEN of the first day
    days: int
    slots_per_day: int
    step: timedelta

    @property
    def capacity(self) -> int:
        return len(self.therapists) * self.days * self.slots_per_day

    def start(self, g: int) -> tuple[uuid.UUID, datetime]:
        if not 0 <= g < self.capacity:
            raise IndexError("hold grid exhausted")
        n = len(self.therapists)
        r = g // n
        day, slot = r % self.days, r // self.days
        return self.therapists[g % n], self.first + timedelta(days=day) + slot * self.step

    def wrk_args(self, offset: int, per_thread: int, cat: Catalogue) -> list[str]:
        return [str(int(self.first.timestamp())), str(int(self.step.total_seconds())), str(self.days), str(offset),
                str(per_thread), CLINIC, str(cat.treatment.id), ",".join(str(t) for t in self.therapists)]


def hold_grid(therapists: list[uuid.UUID], cat: Catalogue, now: datetime) -> HoldGrid:
    timing, rules = cat.treatment.timing, cat.clinic.rules
    grid = rules.slot_step_minutes
    if 60 % grid:
        raise RuntimeError(f"slot step {grid} min does not divide an hour; the UTC grid would be off the wall grid")
    blocked = timing.buffer_before_minutes + timing.duration_minutes + timing.buffer_after_minutes
    step = timedelta(minutes=-(-blocked // grid) * grid)
    span = HOLD_UTC_CLOSE - HOLD_UTC_OPEN - timedelta(minutes=timing.duration_minutes)
    first_day = now.astimezone(timezone.utc).date() + timedelta(days=HOLD_FIRST_DAY)
    days = rules.horizon_days - HOLD_FIRST_DAY - HOLD_LAST_DAY_MARGIN
    return HoldGrid(tuple(therapists), datetime.combine(first_day, dt_time(0), timezone.utc) + HOLD_UTC_OPEN,
                    days, span // step + 1, step)


def check_hold_grid(grid: HoldGrid, cat: Catalogue, now: datetime) -> None:
    """Every start a run may use is bookable by the product's own rules (refusal() is pure): on the grid,
    inside the hours, past the notice, within the horizon; checked on a sample incl. the edges."""
    import random

    from services.booking.availability import Schedule, WeeklyTime, refusal

    hours = tuple(WeeklyTime(d, a, b) for d, a, b in HOLD_HOURS)
    rng = random.Random(7)
    n = len(grid.therapists)
    edges = [0, n - 1, n * grid.days - 1, n * grid.days, grid.capacity - n, grid.capacity - 1]
    bad = []
    for g in edges + [rng.randrange(grid.capacity) for _ in range(HOLD_GRID_CHECKS)]:
        therapist, start = grid.start(g)
        reason = refusal(Schedule(therapist, hours), cat.treatment.timing, cat.clinic.rules, start, now)
        if reason is not None:
            bad.append((g, start.isoformat(), reason))
    if bad:
        raise RuntimeError(f"the hold grid has starts the product refuses: {bad[:5]}")


@dataclass
class TxRun:
    done: int
    errors: dict[str, int]
    duration_s: float
    latencies_ms: list[float]
    cpu: dict[str, Any] | None = None

    @property
    def rps(self) -> float:
        return self.done / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def ms(self, p: float) -> float | None:
        return percentile(self.latencies_ms, p)

    def as_dict(self) -> dict[str, Any]:
        return {"transactions": self.done, "errors": self.errors, "duration_s": round(self.duration_s, 3),
                "tps": round(self.rps, 1), "latency_ms": summary_ms(self.latencies_ms), "cpu": self.cpu}


async def tx_loop(pool, concurrency: int, duration: float, tx: Callable[[Any, int], Awaitable[None]],
                  meter: CpuMeter | None = None) -> TxRun:
    """`concurrency` workers calling `tx(conn, n)` back to back (n = 0, 1, 2, ... across workers) for
    `duration` seconds, each on a pooled connection; latency is acquire + transaction."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = 0
    deadline = 0.0

    async def worker() -> None:
        nonlocal counter
        while time.perf_counter() < deadline:
            n = counter
            counter += 1
            began = time.perf_counter()
            try:
                async with pool.acquire() as conn:
                    await tx(conn, n)
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            latencies.append((time.perf_counter() - began) * 1000.0)

    began = time.perf_counter()
    deadline = began + duration
    work = asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = None
    if meter is not None:
        cpu, _ = await meter.measure(work)
    else:
        await work
    return TxRun(len(latencies), errors, time.perf_counter() - began, latencies, cpu)


def sql_hold_tx(cat: Catalogue, grid: HoldGrid, offset: int, therapists: dict[uuid.UUID, Any]):
    """The writes of service.hold_slot (its _insert_holds) in one transaction, with the product's own
    store functions: expire overlapping stale holds, INSERT the 'held' row, INSERT its outbox event."""
    from services.booking import store
    from services.booking.domain import booking_event_data, new_hold
    from shared.events import Event
    from shared.outbox import add_event

    clinic, treatment = cat.clinic, cat.treatment

    async def tx(conn, n: int) -> None:
        therapist_id, start = grid.start(offset + n)
        hold = new_hold(clinic, treatment, therapist_id, start, datetime.now(timezone.utc))
        async with conn.transaction():
            await store.expire_overlapping_holds(conn, therapist_id, hold.blocked)
            await store.insert_hold(conn, hold, None)
            await add_event(conn, Event("booking.held", booking_event_data(
                booking_id=hold.id, status="held", clinic=clinic, treatment=treatment,
                therapist=therapists[therapist_id], start=hold.start, end=hold.end, customer=None,
                price_amount=hold.price_amount, currency=hold.currency, expires_at=hold.expires_at.isoformat()),
                clinic_id=str(clinic.id)))
    return tx


def use_case_hold_tx(cat: Catalogue, grid: HoldGrid, offset: int):
    """What POST /api/v1/holds runs inside its transaction, minus HTTP, JSON and pydantic: the lookups
    (clinic, treatment, therapist), service.hold_slot (schedule reads, rule check, the writes)."""
    from services.booking import service

    async def tx(conn, n: int) -> None:
        therapist_id, start = grid.start(offset + n)
        now = datetime.now(timezone.utc)
        async with conn.transaction():
            clinic = await service.clinic_or_404(conn, CLINIC)
            treatment = await service.treatment_or_404(conn, clinic, cat.treatment.id)
            therapist = await service.therapist_for(conn, clinic, therapist_id, treatment)
            await service.hold_slot(conn, clinic, treatment, therapist, start, now, None)
    return tx


async def baseline_run(ctx: BenchContext, name: str, make_tx: Callable[[int], Callable], grid: HoldGrid,
                       warmup: float, duration: float) -> TxRun:
    """Warm-up on the first half of the grid, measure on the second (disjoint starts)."""
    concurrency = ctx.shape.connections
    half = grid.capacity // 2
    pool = await booking_pool(ctx.database_url, concurrency)
    try:
        await ctx.cpu.wait_quiet()
        log(f"holds: warm-up {name} {warmup:g}s")
        await tx_loop(pool, concurrency, warmup, make_tx(0))
        await ctx.cpu.wait_quiet()
        log(f"holds: measure {name} {duration:g}s, {concurrency} concurrent transactions"
            + (" (relay paused)" if ctx.args.pause_downstream else ""))
        async with relay_paused(ctx):
            # Measured while the pool's server processes still exist, so their CPU is counted.
            return await tx_loop(pool, concurrency, duration, make_tx(half), ctx.cpu)
    finally:
        await pool.close()


# Names of the statements of the hold path, for the per-statement profile.
STATEMENT_NAMES = [(re.compile(p), n) for p, n in (
    (r"^SELECT .* FROM clinics", "clinic"), (r"^SELECT .* FROM treatments", "treatment"),
    (r"^SELECT .* FROM therapists", "therapist"), (r"FROM working_hours", "hours"), (r"FROM breaks", "breaks"),
    (r"FROM time_off", "time off"), (r"^SELECT .* FROM bookings", "busy"), (r"^UPDATE bookings", "expire"),
    (r"^INSERT INTO bookings", "insert hold"), (r"^INSERT INTO outbox", "outbox"))]
PROFILE_HOLDS, PROFILE_WARMUP = 300, 50


class TimedConnection:
    """An asyncpg connection that times each statement (by name) of the code using it."""

    def __init__(self, conn, times: dict[str, list[float]]):
        self._conn = conn
        self._times = times

    def __getattr__(self, attr: str):
        target = getattr(self._conn, attr)
        if attr not in ("fetch", "fetchrow", "fetchval", "execute"):
            return target

        async def timed(query: str, *args, **kwargs):
            began = time.perf_counter()
            try:
                return await target(query, *args, **kwargs)
            finally:
                text = " ".join(query.split())
                name = next((n for pattern, n in STATEMENT_NAMES if pattern.search(text)), text[:40])
                self._times.setdefault(name, []).append((time.perf_counter() - began) * 1000.0)
        return timed


async def profile_hold_use_case(database_url: str, cat: Catalogue, grid: HoldGrid) -> dict[str, Any]:
    """The use case one hold at a time on one connection, each statement timed: where a hold's time
    goes when nothing queues (statements, and the rest: BEGIN/COMMIT and Python)."""
    conn = await booking_connection(database_url)
    times: dict[str, list[float]] = {}
    totals: list[float] = []
    offset = grid.capacity - PROFILE_WARMUP - PROFILE_HOLDS      # far from the measured runs' starts
    try:
        tx = use_case_hold_tx(cat, grid, offset)
        for n in range(PROFILE_WARMUP + PROFILE_HOLDS):
            if n == PROFILE_WARMUP:                  # the first ones warm the statement caches
                times.clear()
                totals.clear()
            began = time.perf_counter()
            await tx(TimedConnection(conn, times), n)
            totals.append((time.perf_counter() - began) * 1000.0)
    finally:
        await conn.close()
    holds = len(totals)
    per_hold = {name: sum(v) / holds for name, v in times.items()}
    statements = sum(len(v) for v in times.values()) / holds
    return {"holds": holds, "total_ms": summary_ms(totals), "statements_per_hold": round(statements, 2),
            "statements_ms_per_hold": {k: round(v, 3) for k, v in per_hold.items()},
            "statements_sum_ms": round(sum(per_hold.values()), 3),
            "rest_ms": round(sum(totals) / holds - sum(per_hold.values()), 3)}


@contextlib.asynccontextmanager
async def relay_paused(ctx: BenchContext):
    """With --pause-downstream: SIGSTOP the booking relay meanwhile (events queue in the outbox, so
    the relay and the consumers do not share the CPUs with the measured run)."""
    if not ctx.args.pause_downstream:
        yield
        return
    ctx.stack.send_signal("booking-relay", signal.SIGSTOP)
    try:
        yield
    finally:
        ctx.stack.send_signal("booking-relay", signal.SIGCONT)


HOLD_STATUS_QUERY = """
SELECT count(*) FILTER (WHERE status = 'held') AS held, count(*) AS rows
FROM booking.bookings WHERE therapist_id = ANY($1::uuid[])
"""


async def bench_holds(ctx: BenchContext) -> Section:
    shape, args = ctx.shape, ctx.args
    conn = await booking_connection(ctx.database_url)
    try:
        await set_bench_horizon(conn)
        cat = await load_catalogue(conn)
        now = datetime.now(timezone.utc)
        sets = {}
        for name in ("http", "sql", "uc"):
            ids = await add_therapists(conn, cat, f"bench-hold-{name}-", HOLD_THERAPISTS, HOLD_HOURS)
            sets[name] = hold_grid(ids, cat, now)
            check_hold_grid(sets[name], cat, now)
        from services.booking.domain import Therapist
        therapists = {t: Therapist(t, f"Bench {t}", frozenset({cat.treatment.id}))
                      for g in sets.values() for t in g.therapists}
        await conn.execute("ANALYZE booking.therapists; ANALYZE booking.working_hours; "
                           "ANALYZE booking.therapist_treatments")

        # Baselines first: the direct SQL transaction, then the whole use case in-process.
        sql = await baseline_run(ctx, "direct SQL (asyncpg)",
                                 lambda off: sql_hold_tx(cat, sets["sql"], off, therapists), sets["sql"],
                                 shape.warmup, shape.duration)
        await wait_outbox_drained(conn)
        uc = None
        if not args.no_use_case:
            uc = await baseline_run(ctx, "use case in-process (service.hold_slot)",
                                    lambda off: use_case_hold_tx(cat, sets["uc"], off), sets["uc"],
                                    shape.warmup, shape.duration)
            await wait_outbox_drained(conn)

        await ctx.cpu.wait_quiet()
        log(f"holds: profile of the use case, {PROFILE_HOLDS} holds one at a time")
        profile = await profile_hold_use_case(ctx.database_url, cat, sets["uc"])

        grid = sets["http"]
        block = grid.capacity // HOLD_WRK_BLOCKS
        per_thread = block // shape.threads
        targets = [("booking", f"http://{LOOPBACK}:{ctx.env['BOOKING_PORT']}{HOLDS_PATH}"),
                   ("gateway", ctx.env["PUBLIC_URL"].rstrip("/") + HOLDS_PATH)]
        http: dict[str, WrkResult] = {}
        http_cpu: dict[str, dict[str, Any]] = {}
        warm: dict[str, WrkResult] = {}
        drained: dict[str, float] = {}
        counted: dict[str, int] = {}
        paused = args.pause_downstream
        for i, (name, url) in enumerate(targets):
            assert_loopback(url)
            await ctx.cpu.wait_quiet()
            log(f"holds: warm-up wrk {name} {shape.warmup:g}s")
            warm[name] = await run_wrk(url, shape, shape.warmup, "wrk_hold.lua",
                                       grid.wrk_args(2 * i * block, per_thread, cat))
            # Requests in flight when the warm-up stopped finish, and its events are worked off.
            await ctx.cpu.wait_quiet()
            before = await conn.fetchrow(HOLD_STATUS_QUERY, list(grid.therapists))
            log(f"holds: measure wrk {name} {shape.duration:g}s, {shape.connections} connections"
                + (" (relay paused)" if paused else ""))
            async with relay_paused(ctx):
                http_cpu[name], http[name] = await ctx.cpu.measure(
                    run_wrk(url, shape, shape.duration, "wrk_hold.lua", grid.wrk_args((2 * i + 1) * block, per_thread, cat)))
                await asyncio.sleep(0.5)      # requests in flight when wrk stopped
                after = await conn.fetchrow(HOLD_STATUS_QUERY, list(grid.therapists))
            counted[name] = after["held"] - before["held"]
            drained[name] = await wait_outbox_drained(conn)
    finally:
        await conn.close()

    gw, direct = http["gateway"], http["booking"]

    def status(result: WrkResult, code: str) -> int:
        return (result.statuses or {}).get(code, 0)

    def statuses_text(result: WrkResult) -> str:
        others = {k: v for k, v in sorted((result.statuses or {}).items()) if not k.startswith("2")}
        return ", ".join(f"{k}: {v}" for k, v in others.items()) or "none"

    goal = ratio(gw.rps, sql.rps)
    section = Section("holds", f"b. Hold creation: POST {HOLDS_PATH}, {shape.connections} concurrent clients, "
                               "vs the same SQL transaction from asyncpg",
                      ("value", "direct SQL", "vs direct SQL"))
    rows = [
        Row("gateway: throughput", gw.rps, sql.rps, "tx/s", "ratio"),
        Row("gateway: latency p50", gw.ms("p50"), sql.ms(50), "ms", "delta", 2),
        Row("gateway: latency p90", gw.ms("p90"), sql.ms(90), "ms", "delta", 2),
        Row("gateway: latency p99", gw.ms("p99"), sql.ms(99), "ms", "delta", 2),
        Row("gateway: non-2xx / failed tx", gw.non_2xx, sql.failed, "", "none", 0, statuses_text(gw)),
        Row("gateway: 409 slot_taken + 422 refused", status(gw, "409") + status(gw, "422"), None, "", "none", 0),
        Row("gateway: socket errors", gw.socket_errors, 0, "", "none", 0),
        Row("booking service direct: throughput", direct.rps, sql.rps, "tx/s", "ratio"),
        Row("booking service direct: latency p50", direct.ms("p50"), sql.ms(50), "ms", "delta", 2),
        Row("booking service direct: latency p99", direct.ms("p99"), sql.ms(99), "ms", "delta", 2),
        Row("booking service direct: non-2xx", direct.non_2xx, None, "", "none", 0, statuses_text(direct)),
    ]
    if uc is not None:
        rows += [
            Row("use case in-process, no HTTP: throughput", uc.rps, sql.rps, "tx/s", "ratio"),
            Row("use case in-process, no HTTP: latency p50", uc.ms(50), sql.ms(50), "ms", "delta", 2),
            Row("use case in-process, no HTTP: latency p99", uc.ms(99), sql.ms(99), "ms", "delta", 2),
            Row("use case in-process, no HTTP: failed tx", uc.failed, None, "", "none", 0,
                ", ".join(f"{k}: {v}" for k, v in uc.errors.items()) or "none"),
        ]
    section.rows = rows
    section.notes.append(f"goal gateway >= x0.5 of direct SQL: x{goal or 0:.3f} -> "
                         + ("MET" if goal is not None and goal >= 0.5 else "NOT MET"))
    section.notes.append(f"gateway share: gateway x{ratio(gw.rps, direct.rps) or 0:.3f} of the booking service "
                         f"direct; booking service x{ratio(direct.rps, uc.rps) or 0:.3f} of the use case without HTTP"
                         if uc is not None else
                         f"gateway share: gateway x{ratio(gw.rps, direct.rps) or 0:.3f} of the booking service direct")
    for name, result in (("gateway", gw), ("booking", direct)):
        created = status(result, "201")
        if not 0 <= counted[name] - created <= shape.connections:
            section.notes.append(f"{name} run: {counted[name]} new held rows but {created} answers 201 "
                                 "(expected equal, up to requests in flight when wrk stopped)")
    section.notes.append(
        f"starts: {HOLD_THERAPISTS} bench therapists per set (08:00-20:00 London, every day), "
        f"{grid.days} days x {grid.slots_per_day} slots {int(grid.step.total_seconds() // 60)} min apart "
        f"from {grid.first.date()}; horizon raised to {BENCH_HORIZON_DAYS} days in the bench database")
    section.notes.append(
        f"direct SQL: per transaction store.expire_overlapping_holds + store.insert_hold + outbox add_event "
        f"(the writes of service.hold_slot), asyncpg pool of {shape.connections} in this process (uvloop); "
        "the booking service has its own pool of 10")
    per_tx = [("gateway run", http_cpu["gateway"], gw.requests, ["postgres", "booking", "gateway", "wrk and other finished children"]),
              ("booking-direct run", http_cpu["booking"], direct.requests, ["postgres", "booking", "wrk and other finished children"])]
    if uc is not None and uc.cpu:
        per_tx.append(("use case run", uc.cpu, uc.done, ["postgres", "bench (this process)"]))
    if sql.cpu:
        per_tx.append(("direct SQL run", sql.cpu, sql.done, ["postgres", "bench (this process)"]))
    section.notes.append("CPU ms per hold: " + "; ".join(f"{label}: {cpu_per_tx(u, n, names)}" for label, u, n, names in per_tx))
    section.notes.append(
        f"one hold at a time, in-process: p50 {profile['total_ms']['p50_ms']:.2f} ms = "
        f"{profile['statements_per_hold']:g} statements {profile['statements_sum_ms']:.2f} ms ("
        + ", ".join(f"{k} {v:.2f}" for k, v in profile["statements_ms_per_hold"].items())
        + f") + BEGIN/COMMIT and Python {profile['rest_ms']:.2f} ms (means)")
    if paused:
        section.notes.append("booking relay paused (--pause-downstream) during every measured run")
    section.notes.append(cpu_note("gateway run", http_cpu["gateway"]))
    section.notes.append(cpu_note("booking-direct run", http_cpu["booking"]))
    if uc is not None and uc.cpu:
        section.notes.append(cpu_note("in-process use case run", uc.cpu))
    if sql.cpu:
        section.notes.append(cpu_note("direct SQL run", sql.cpu))
    section.data = {
        "endpoint": HOLDS_PATH, "load": shape.as_dict(), "relay_paused": paused,
        "gateway": gw.as_dict() | {"cpu": http_cpu["gateway"], "held_rows_created": counted["gateway"]},
        "booking_direct": direct.as_dict() | {"cpu": http_cpu["booking"], "held_rows_created": counted["booking"]},
        "warmup_http": {k: {"requests": v.requests, "non_2xx": v.non_2xx, "statuses": v.statuses}
                        for k, v in warm.items()},
        "direct_sql": sql.as_dict() | {"concurrency": shape.connections},
        "use_case_in_process": uc.as_dict() if uc is not None else None,
        "use_case_profile_one_at_a_time": profile,
        "throughput_ratio_gateway_over_direct_sql": goal,
        "goal_met": goal is not None and goal >= 0.5,
        "throughput_ratio_gateway_over_booking_direct": ratio(gw.rps, direct.rps),
        "throughput_ratio_booking_direct_over_use_case": ratio(direct.rps, uc.rps) if uc else None,
        "outbox_drain_wait_s": {k: round(v, 2) for k, v in drained.items()},
        "grid": {"therapists_per_set": HOLD_THERAPISTS, "first": grid.first.isoformat(), "days": grid.days,
                 "slots_per_day": grid.slots_per_day, "step_minutes": grid.step.total_seconds() / 60,
                 "capacity": grid.capacity, "wrk_block": block, "horizon_days": BENCH_HORIZON_DAYS},
    }
    return section


# --------------------------------------------------------------------------------------------------
# Section c: commit -> email in the SMTP sink
# --------------------------------------------------------------------------------------------------

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


@dataclass
class FlowTimes:
    """Round trips (ms) of each step of the booking flow through the gateway."""
    availability: list[float] = field(default_factory=list)
    hold: list[float] = field(default_factory=list)
    booking: list[float] = field(default_factory=list)
    payment: list[float] = field(default_factory=list)     # only if bookings await a card payment


class SlotPicker:
    """The next free slot of the email bookings' therapist, as a customer finds it: GET availability
    for a day, take its first slot (times already booked drop out of the answer), next day when full."""

    def __init__(self, client, first_day: date):
        self.client = client
        self.day = first_day

    async def next(self, times: FlowTimes) -> str:
        from tests.support.booking import free_slots

        for _ in range(EMAIL_MAX_DAYS):
            began = time.perf_counter()
            slots = await free_slots(self.client, self.day)
            times.availability.append((time.perf_counter() - began) * 1000.0)
            if slots:
                return slots[0]["start"]
            self.day += timedelta(days=1)
        raise RuntimeError(f"no free slot within {EMAIL_MAX_DAYS} days of the email bookings' first day")


async def book_sequentially(client, picker: SlotPicker, count: int, pause: float, label: str,
                            stripe_url: str) -> tuple[list[str], FlowTimes]:
    """`count` bookings through the gateway, one at a time, `pause` seconds apart, each availability ->
    POST /api/v1/holds -> POST /api/v1/bookings (all-clear screening); their ids and round trips.
    A booking answered as pending_payment is paid on the fake Stripe as a browser would; it confirms
    when the payment's event arrives, and the hops below start at that commit either way."""
    from tests.support.booking import booking_body, hold

    ids: list[str] = []
    times = FlowTimes()
    for i in range(count):
        start = await picker.next(times)
        began = time.perf_counter()
        held = await hold(client, start)
        times.hold.append((time.perf_counter() - began) * 1000.0)
        began = time.perf_counter()
        resp = await client.request("POST", BOOKINGS_PATH,
                                    json=booking_body(held["id"], f"{label.lower()}-{i}@example.com"))
        payload = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"{label} booking {i} answered {resp.status}: {payload}")
        times.booking.append((time.perf_counter() - began) * 1000.0)
        if payload.get("status") == "pending_payment" and payload.get("payment"):
            from tests.support.payments import customer_pays

            began = time.perf_counter()
            outcome = await customer_pays(assert_loopback(stripe_url), payload["payment"]["stripe_payment_intent"])
            if outcome != "succeeded":
                raise RuntimeError(f"{label} booking {i}: card payment {outcome}")
            times.payment.append((time.perf_counter() - began) * 1000.0)
        elif payload.get("status") != "confirmed":
            raise RuntimeError(f"{label} booking {i} is {payload.get('status')!r}, neither confirmed nor awaiting payment")
        ids.append(payload["id"])
        await asyncio.sleep(pause)
    return ids, times


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

    from shared import db
    from shared.config import Settings

    from tests.support.booking import THERAPIST, BaseUrlClient

    n, pause, n_warm = ctx.args.emails, ctx.args.email_pause, ctx.args.email_warmup
    gateway = assert_loopback(ctx.env["PUBLIC_URL"])
    first_day = datetime.now(timezone.utc).date() + timedelta(days=1)
    stripe_url = f"http://{LOOPBACK}:{ctx.env['FAKE_STRIPE_PORT']}"
    watcher = MaildirWatcher(Path(ctx.env["MAILBOX_DIR"]))
    # As the notifications service connects (jsonb codec): direct_smtp_sends hands its rows to smtp.send.
    conn = await db.connect(Settings(database_url=ctx.database_url), "notifications")
    try:
        async with aiohttp.ClientSession() as http:
            client = BaseUrlClient(http, gateway)
            picker = SlotPicker(client, first_day)
            # The first emails after start pay for the Celery children's first DB connection and
            # event loop; measure them apart, then the steady state.
            log(f"email_latency: {n_warm} warm-up bookings")
            warm_ids, _ = await book_sequentially(client, picker, n_warm, pause, "Warmup", stripe_url)
            warm_rows = await wait_for_emails(conn, watcher, warm_ids, ctx.args.email_timeout)
            log(f"email_latency: {n} bookings through the gateway (availability -> hold -> booking), "
                f"{pause:g}s apart")
            flow_cpu, (booking_ids, flow) = await ctx.cpu.measure(
                book_sequentially(client, picker, n, pause, "Latency", stripe_url))
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
    for label, values in (("GET availability round trip (1 day)", flow.availability),
                          (f"POST {HOLDS_PATH} round trip", flow.hold),
                          (f"POST {BOOKINGS_PATH} round trip", flow.booking),
                          ("card payment on fake Stripe (browser side)", flow.payment)):
        if not values:
            continue
        section.rows.append(Row(label, percentile(values, 50), percentile(values, 99), "ms", "none", 1, ""))
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
    section.notes.append("commit = bookings.confirmed_at; published = the booking.confirmed outbox row (each booking "
                         "also has a booking.held event, not measured)"
                         + ("; bookings awaited a card payment, paid on the fake Stripe, and confirmed on its event"
                            if flow.payment else ""))
    section.notes.append(cpu_note("the bookings", flow_cpu))
    section.notes.append("published_at is stamped after XADD (same relay transaction) and sent_at after the SMTP "
                         "conversation, so published -> consumed and sent_at -> in sink can be <= 0")
    if len(complete) < n:
        section.notes.append(f"only {len(complete)} of {n} emails arrived within {ctx.args.email_timeout:g}s")
    section.data = {
        "bookings": n, "complete": len(complete), "pause_s": pause, "via": "gateway",
        "hops_ms": stats, "slowest_hop": slowest,
        "round_trips_ms": {"availability": summary_ms(flow.availability), "hold": summary_ms(flow.hold),
                           "booking": summary_ms(flow.booking), "payment": summary_ms(flow.payment)},
        "paid_by_card": bool(flow.payment),
        "therapist": THERAPIST, "days_used": [first_day.isoformat(), picker.day.isoformat()],
        "direct_smtp_send_to_sink_ms": summary_ms(direct_smtp_ms), "cpu_during_bookings": flow_cpu,
        "warmup": {"bookings": n_warm, "total_commit_to_sink_ms": [round(x, 3) for x in cold_ms]},
        "timestamps": {
            "committed": "booking.bookings.confirmed_at",
            "published": "booking.outbox.published_at of the booking.confirmed event",
            "consumed": "notifications.inbox.received_at", "sent": "notifications.emails.sent_at",
            "sink": "mtime of the Maildir file whose Message-ID is <emails.id@...>"},
        "samples_ms": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in x.items()} for x in samples],
    }
    return section


# --------------------------------------------------------------------------------------------------
# Section d: availability of one therapist over one week, as the bookings table grows
# --------------------------------------------------------------------------------------------------

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
AVAIL_LOAD_PARTS = 2          # concurrent INSERT ... SELECT statements per load step
BULK_TIMEOUT = 600.0          # seconds, for the load, DELETE and VACUUM statements

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

BUSY_QUERY_PLAN = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT therapist_id, blocked FROM bookings " \
                  "WHERE therapist_id = ANY($1::uuid[]) AND blocked && $2 AND {live}"


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
    return {"nodes": nodes, "indexes": indexes, "seq_scan": "Seq Scan" in nodes,
            "shared_blocks": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
            "rows": top.get("Actual Rows"), "execution_ms": plan.get("Execution Time")}


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
                AVAIL_LOAD_SQL, cat.clinic.id, cat.treatment.id, AVAIL_PREFIX, a, b, AVAIL_ROWS_PER_THERAPIST,
                first_monday, len(AVAIL_DAY_STARTS), AVAIL_DAY_STARTS, timedelta(minutes=timing.duration_minutes),
                timedelta(minutes=timing.buffer_before_minutes), timedelta(minutes=timing.buffer_after_minutes),
                cat.treatment.price_amount, cat.treatment.currency, cat.clinic.timezone)
        finally:
            await conn.close()
        return int(status.split()[-1])

    inserted = sum(await asyncio.gather(*(part(a, b) for a, b in zip(bounds, bounds[1:]))))
    if inserted != hi - lo:
        raise RuntimeError(f"loaded {inserted} synthetic bookings, expected {hi - lo} (too few therapists?)")


async def sql_schedule_loop(conn, therapist_id: uuid.UUID, window, duration: float, warmup: int = 50
                            ) -> list[float]:
    """store.load_schedules (its four queries) for one therapist and window, one call at a time."""
    from services.booking import store

    for _ in range(warmup):
        await store.load_schedules(conn, [therapist_id], window)
    times = []
    deadline = time.perf_counter() + duration
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        await store.load_schedules(conn, [therapist_id], window)
        times.append((time.perf_counter() - began) * 1000.0)
    return times


async def bench_availability(ctx: BenchContext) -> Section:
    import aiohttp

    from services.booking import service, store
    from services.booking.availability import Interval

    args = ctx.args
    sizes = sorted(args.avail_sizes)
    single = LoadShape(args.avail_duration, 0, 1, 1)
    conn = await booking_connection(ctx.database_url)
    points: list[dict[str, Any]] = []
    try:
        cat = await load_catalogue(conn)
        zone = cat.clinic.rules.zone
        today = datetime.now(timezone.utc).astimezone(zone).date()
        week_first = today + timedelta(days=7 - today.weekday())        # next Monday
        week_last = week_first + timedelta(days=6)
        first_monday = week_first - timedelta(weeks=AVAIL_WEEKS_BACK)
        window = service._local_window(cat.clinic, week_first, week_last)    # what the endpoint reads
        week = Interval(datetime.combine(week_first, dt_time(0), zone),
                        datetime.combine(week_last + timedelta(days=1), dt_time(0), zone))

        # Section b's holds would count towards the sizes; they are not part of this picture.
        removed = await conn.execute("DELETE FROM bookings WHERE therapist_id IN (SELECT id FROM therapists "
                                     "WHERE starts_with(slug, 'bench-hold-'))", timeout=BULK_TIMEOUT)
        removed_rows = int(removed.split()[-1])
        if removed_rows:
            await conn.execute("VACUUM (ANALYZE) booking.bookings", timeout=BULK_TIMEOUT)
        therapist_count = -(-sizes[-1] // AVAIL_ROWS_PER_THERAPIST) + 1
        ids = await add_therapists(conn, cat, AVAIL_PREFIX, therapist_count, AVAIL_HOURS, AVAIL_BREAKS, with_hours=1)
        focus = ids[0]
        await conn.execute("ANALYZE booking.therapists; ANALYZE booking.working_hours; ANALYZE booking.breaks")
        url = assert_loopback(
            ctx.env["PUBLIC_URL"].rstrip("/") + f"/api/v1/clinics/{CLINIC}/availability?treatment={cat.treatment.id}"
            f"&therapist={focus}&from={week_first.isoformat()}&to={week_last.isoformat()}")
        loaded = 0          # synthetic rows so far
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
                rows = await conn.fetchval("SELECT count(*) FROM bookings")
                live_in_week = await conn.fetchval(
                    f"SELECT count(*) FROM bookings WHERE blocked && $1 AND {store.LIVE}", store._range(window))
                focus_in_week = await conn.fetchval(
                    f"SELECT count(*) FROM bookings WHERE therapist_id = $2 AND blocked && $1 AND {store.LIVE}",
                    store._range(week), focus)
                plan = (await conn.fetchval(BUSY_QUERY_PLAN.format(live=store.LIVE), [focus], store._range(window)))
                plan = plan_summary((json.loads(plan) if isinstance(plan, str) else plan)[0])

                async with http.get(url) as resp:
                    body = await resp.json()
                    if resp.status != 200:
                        raise RuntimeError(f"availability answered {resp.status}: {body}")
                quiet_s, busy = await ctx.cpu.wait_quiet()
                log(f"availability: {rows:,} rows: wrk 1 connection {single.duration:g}s through the gateway")
                await run_wrk(url, LoadShape(1, 0, 1, 1), 1, "wrk_get.lua")
                gw_cpu, gw = await ctx.cpu.measure(run_wrk(url, single, single.duration, "wrk_get.lua"))
                sql_ms = await sql_schedule_loop(conn, focus, window, args.avail_sql_duration)
                points.append({
                    "rows": rows, "loaded": add, "load_s": round(load_s, 2), "vacuum_analyze_checkpoint_s": round(vacuum_s, 2),
                    "live_rows_in_week_all_therapists": live_in_week, "focus_bookings_in_week": focus_in_week,
                    "free_slots_answered": len(body["slots"]), "busy_query_plan": plan,
                    "waited_for_quiet_s": round(quiet_s, 2), "stack_cpus_before": round(busy, 3),
                    "gateway": gw.as_dict() | {"cpu": gw_cpu}, "sql_load_schedules_ms": summary_ms(sql_ms),
                    "other_work_cpu_s": round(other_work_cpu_s(gw_cpu), 2),
                    "_gw": gw, "_sql": sql_ms})
        load_total = sum(p["load_s"] for p in points)
    finally:
        await conn.close()

    section = Section("availability",
                      "d. Availability, one therapist, one week: GET via gateway (wrk, 1 connection) "
                      "vs store.load_schedules SQL (asyncpg, one at a time)",
                      ("gateway", "SQL (4 queries)", "gateway - SQL"))
    for p in points:
        gw, sql_ms = p.pop("_gw"), p.pop("_sql")
        label = f"{p['rows']:>9,} rows"
        section.rows.append(Row(f"{label}: p50", gw.ms("p50"), percentile(sql_ms, 50), "ms", "delta", 2))
        section.rows.append(Row(f"{label}: p99", gw.ms("p99"), percentile(sql_ms, 99), "ms", "delta", 2))
        if gw.non_2xx or gw.socket_errors:
            section.notes.append(f"{p['rows']:,} rows: {gw.non_2xx} non-2xx, {gw.socket_errors} socket errors")
    first, last = points[0], points[-1]
    gw_flat = ratio(last["gateway"]["latency_ms"]["p99"], first["gateway"]["latency_ms"]["p99"])
    sql_flat = ratio(last["sql_load_schedules_ms"]["p99_ms"], first["sql_load_schedules_ms"]["p99_ms"])
    section.notes.append(f"p99 at {last['rows']:,} rows / p99 at {first['rows']:,} rows: gateway x{gw_flat or 0:.2f}, "
                         f"SQL x{sql_flat or 0:.2f}")
    section.notes.append(
        "busy query (bookings overlapping the window) plan per size: "
        + "; ".join(f"{p['rows']:,}: {'+'.join(dict.fromkeys(p['busy_query_plan']['nodes']))}"
                    f" on {','.join(dict.fromkeys(p['busy_query_plan']['indexes'])) or '-'}, "
                    f"{p['busy_query_plan']['shared_blocks']} blocks" for p in points))
    steps = ", ".join(f"+{p['loaded']:,} rows {p['load_s']:.1f}s (+VACUUM ANALYZE, CHECKPOINT {p['vacuum_analyze_checkpoint_s']:.1f}s)"
                      for p in points)
    section.notes.append(f"load: {steps}; INSERT ... SELECT generate_series, {AVAIL_LOAD_PARTS} statements in "
                         f"parallel; total {load_total:.1f}s" + (" -- over the ~60 s budget" if load_total > 60 else ""))
    section.notes.append(
        f"queried week {week_first}..{week_last}: the therapist has {last['focus_bookings_in_week']} bookings in it, "
        f"{last['free_slots_answered']} free slots answered; all therapists {first['live_rows_in_week_all_therapists']:,}"
        f" -> {last['live_rows_in_week_all_therapists']:,} live rows overlap it. Synthetic rows: confirmed, "
        f"{AVAIL_ROWS_PER_THERAPIST:,} per therapist over {AVAIL_WEEKS} weeks, 4 a weekday")
    if removed_rows:
        section.notes.append(f"removed section b's {removed_rows:,} bench holds first (VACUUM ANALYZE), so the sizes "
                             "are the table's")
    section.notes.append("other work on the machine during the gateway runs (CPU s of "
                         f"{points[0]['gateway']['cpu']['available_cpu_s']:g}): "
                         + ", ".join(f"{p['rows']:,}: {p['other_work_cpu_s']:.1f}" for p in points))
    section.notes.append(f"gateway: wrk -t1 -c1, {single.duration:g}s per size after 1s warm-up (latency in us); "
                         f"SQL: {args.avail_sql_duration:g}s per size after 50 warm-up calls, on one connection")
    section.data = {
        "endpoint": url.split("?")[0].removeprefix(ctx.env["PUBLIC_URL"].rstrip("/")), "query": url.split("?")[1],
        "week": [week_first.isoformat(), week_last.isoformat()], "therapist": str(focus),
        "rows_per_synthetic_therapist": AVAIL_ROWS_PER_THERAPIST, "load_total_s": round(load_total, 2),
        "removed_bench_holds": removed_rows,
        "p99_ratio_last_over_first": {"gateway": gw_flat, "sql": sql_flat}, "sizes": points,
    }
    return section


# Later issues append their (key, function) here; each returns a Section.
SECTIONS: list[tuple[str, Callable[[BenchContext], Awaitable[Section]]]] = [
    ("gateway", bench_gateway),
    # Before the holds: their tens of thousands of outbox events keep the relay and consumer busy.
    ("email_latency", bench_email_latency),
    ("holds", bench_holds),
    # Last: it removes the holds' rows and leaves up to a million bookings behind.
    ("availability", bench_availability),
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


def _sizes(text: str) -> list[int]:
    sizes = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError("give positive row counts, e.g. 10000,100000")
    return sizes


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
                   help="SIGSTOP the booking relay during the measured hold runs (HTTP and baselines), so no "
                        "event work shares the CPUs")
    p.add_argument("--no-use-case", action="store_true",
                   help="skip the in-process use-case run of the holds section (saves ~10 s)")
    p.add_argument("--avail-sizes", type=_sizes, default=[10_000, 100_000, 200_000, 1_000_000],
                   help="comma-separated table sizes of the availability section (default 10000,100000,200000,1000000)")
    p.add_argument("--avail-duration", type=float, default=3.0,
                   help="seconds of the 1-connection wrk run per table size (default 3)")
    p.add_argument("--avail-sql-duration", type=float, default=1.5,
                   help="seconds of the sequential load_schedules loop per table size (default 1.5)")
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
                               CpuMeter(stack, redis_server.proc.pid if redis_server.proc else None, db_name))
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
