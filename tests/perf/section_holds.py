"""Section b: POST /api/v1/holds through the gateway at 32 concurrent clients (wrk, unique valid
non-overlapping starts) vs the hold's SQL transaction straight from asyncpg at the same concurrency;
also on the booking service directly and the use case in-process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from tests.perf.bench_database import (
    BENCH_HORIZON_DAYS,
    Catalogue,
    add_therapists,
    booking_pool,
    load_catalogue,
    service_connection,
    set_bench_horizon,
    wait_outbox_drained,
)
from tests.perf.booking_flow import HOLDS_PATH
from tests.perf.cpu import FINISHED_CHILDREN, THIS_PROCESS, cpu_note, cpu_per_tx, summed_usage
from tests.perf.figures import ratio
from tests.perf.harness import BenchContext, log
from tests.perf.hold_grid import HOLD_HOURS, HoldGrid, check_hold_grid, hold_grid
from tests.perf.hold_transactions import PROFILE_HOLDS, profile_hold_use_case, sql_hold_tx, use_case_hold_tx
from tests.perf.interleave import ROUNDS, alternating, described, slice_seconds
from tests.perf.table import Row, Section
from tests.perf.tx_loop import TxRun, combined_runs, tx_loop
from tests.perf.wrk import WrkResult, combined, run_wrk

HOLD_THERAPISTS = 16  # per set: wrk through HTTP, the SQL baseline, the in-process use case
HOLD_WRK_BLOCKS = 4  # direct warm-up, direct, gateway warm-up, gateway

HELD_ROWS_QUERY = """
SELECT count(*) FILTER (WHERE status = 'held') AS held
FROM booking.bookings WHERE therapist_id = ANY($1::uuid[])
"""


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


@dataclass
class TxTarget:
    """A baseline run from this process: `make_tx(offset)` makes the transaction for the n-th start from
    `offset` on; warm-up on the first half of its grid, measured slices on the second (disjoint starts)."""

    name: str
    make_tx: Callable[[int], Callable]
    grid: HoldGrid
    offset: int = 0
    slices: list[TxRun] = field(default_factory=list)

    @property
    def run(self) -> TxRun:
        return combined_runs(self.slices)


@dataclass
class WrkTarget:
    """An HTTP target (wrk): its warm-up, its measured slices (each on its own part of the target's block of
    the HTTP grid) and their CPU use, the held rows they created, and how long the relay then took to publish
    their events."""

    key: str
    url: str
    warm_offset: int
    offset: int
    warm: WrkResult | None = None
    slices: list[WrkResult] = field(default_factory=list)
    usages: list[dict[str, Any]] = field(default_factory=list)
    held_rows: int = 0
    drain_s: float = 0.0

    @property
    def name(self) -> str:
        return f"wrk {self.key}"

    @property
    def result(self) -> WrkResult:
        return combined(self.slices)

    @property
    def cpu(self) -> dict[str, Any]:
        return summed_usage(self.usages)


async def warm_up(
    ctx: BenchContext, pool, conn, target: TxTarget | WrkTarget, grid: HoldGrid, per_thread: int, cat: Catalogue
) -> None:
    shape = ctx.shape
    await ctx.cpu.wait_quiet()
    log(f"holds: warm-up {target.name} {shape.warmup:g}s")
    if isinstance(target, TxTarget):
        await tx_loop(pool, shape.connections, shape.warmup, target.make_tx(0))
        target.offset = target.grid.capacity // 2
    else:
        target.warm = await run_wrk(
            target.url, shape, shape.warmup, "wrk_hold.lua", grid.wrk_args(target.warm_offset, per_thread, cat)
        )
    await wait_outbox_drained(conn)


async def measure_slice(
    ctx: BenchContext,
    pool,
    conn,
    target: TxTarget | WrkTarget,
    round_no: int,
    seconds: int,
    sub_block: int,
    per_thread: int,
    cat: Catalogue,
    grid: HoldGrid,
) -> None:
    """One slice of `seconds` of one target, on a quiet stack; afterwards its events are worked off."""
    shape = ctx.shape
    await ctx.cpu.wait_quiet()
    log(f"holds: round {round_no + 1} of {ROUNDS}: {target.name} {seconds}s")
    if isinstance(target, TxTarget):
        async with relay_paused(ctx):
            # Measured while the pool's server processes exist, so their CPU is counted.
            run = await tx_loop(pool, shape.connections, seconds, target.make_tx(target.offset), ctx.cpu)
        target.offset += run.started
        target.slices.append(run)
        await wait_outbox_drained(conn)
        return
    before = await conn.fetchval(HELD_ROWS_QUERY, list(grid.therapists))
    async with relay_paused(ctx):
        usage, result = await ctx.cpu.measure(
            run_wrk(
                target.url,
                shape,
                seconds,
                "wrk_hold.lua",
                grid.wrk_args(target.offset + round_no * sub_block, per_thread, cat),
            )
        )
        await asyncio.sleep(0.5)  # requests in flight when wrk stopped
        after = await conn.fetchval(HELD_ROWS_QUERY, list(grid.therapists))
    target.slices.append(result)
    target.usages.append(usage)
    target.held_rows += after - before
    target.drain_s += await wait_outbox_drained(conn)


async def bench_holds(ctx: BenchContext) -> Section:
    from services.booking.domain import Therapist

    shape, args = ctx.shape, ctx.args
    conn = await service_connection(ctx.database_url)
    pool = None
    try:
        await set_bench_horizon(conn)
        cat = await load_catalogue(conn)
        now = datetime.now(timezone.utc)
        sets = {}
        for name in ("http", "sql", "uc"):
            ids = await add_therapists(conn, cat, f"bench-hold-{name}-", HOLD_THERAPISTS, HOLD_HOURS)
            sets[name] = hold_grid(ids, cat, now)
            check_hold_grid(sets[name], cat, now)
        therapists = {
            t: Therapist(t, f"Bench {t}", frozenset({cat.treatment.id})) for g in sets.values() for t in g.therapists
        }
        await conn.execute(
            "ANALYZE booking.therapists; ANALYZE booking.working_hours; ANALYZE booking.therapist_treatments"
        )

        # The direct SQL transaction (the baseline), the whole use case in-process, the booking service over
        # HTTP, and the gateway: each has its own starts (sets, and blocks of the HTTP set), so none meets
        # another's rows.
        grid = sets["http"]
        block = grid.capacity // HOLD_WRK_BLOCKS
        sub_block = block // ROUNDS
        per_thread = sub_block // shape.threads
        sql = TxTarget("direct SQL (asyncpg)", lambda off: sql_hold_tx(cat, sets["sql"], off, therapists), sets["sql"])
        uc = (
            None
            if args.no_use_case
            else TxTarget(
                "use case in-process (service.hold_slot)",
                lambda off: use_case_hold_tx(cat, sets["uc"], off),
                sets["uc"],
            )
        )
        http = {
            "booking": WrkTarget("booking", ctx.booking_url(HOLDS_PATH), 0, block),
            "gateway": WrkTarget("gateway", ctx.gateway_url(HOLDS_PATH), 2 * block, 3 * block),
        }
        targets = [t for t in (sql, uc, *http.values()) if t is not None]
        pool = await booking_pool(ctx.database_url, shape.connections)
        for target in targets:
            await warm_up(ctx, pool, conn, target, grid, per_thread, cat)

        await ctx.cpu.wait_quiet()
        log(f"holds: profile of the use case, {PROFILE_HOLDS} holds one at a time")
        profile = await profile_hold_use_case(ctx.database_url, cat, sets["uc"])

        seconds = slice_seconds(shape.duration)
        log(
            f"holds: measure {len(targets)} targets alternately, {ROUNDS} x {seconds}s each, "
            f"{shape.connections} concurrent" + (" (relay paused)" if args.pause_downstream else "")
        )
        for round_no, target in alternating(targets):
            await measure_slice(ctx, pool, conn, target, round_no, seconds, sub_block, per_thread, cat, grid)
    finally:
        if pool is not None:
            await pool.close()
        await conn.close()
    round_ratios = [ratio(gw.rps, base.rps) for gw, base in zip(http["gateway"].slices, sql.slices)]
    return holds_section(ctx, sql.run, uc.run if uc else None, profile, http, grid, block, round_ratios)


def _status(result: WrkResult, code: str) -> int:
    return (result.statuses or {}).get(code, 0)


def _statuses_text(result: WrkResult) -> str:
    others = {k: v for k, v in sorted((result.statuses or {}).items()) if not k.startswith("2")}
    return ", ".join(f"{k}: {v}" for k, v in others.items()) or "none"


def holds_section(
    ctx: BenchContext,
    sql: TxRun,
    uc: TxRun | None,
    profile: dict[str, Any],
    http: dict[str, WrkTarget],
    grid: HoldGrid,
    block: int,
    round_ratios: list[float | None],
) -> Section:
    shape, paused = ctx.shape, ctx.args.pause_downstream
    gw, direct = http["gateway"].result, http["booking"].result
    goal = ratio(gw.rps, sql.rps)
    section = Section(
        "holds",
        f"b. Hold creation: POST {HOLDS_PATH}, {shape.connections} concurrent clients, "
        "vs the same SQL transaction from asyncpg",
        ("value", "direct SQL", "vs direct SQL"),
    )
    rows = [
        Row("gateway: throughput", gw.rps, sql.rps, "tx/s", "ratio"),
        *(Row(f"gateway: latency p{p}", gw.ms(f"p{p}"), sql.ms(p), "ms", "delta", 2) for p in (50, 90, 99)),
        Row("gateway: non-2xx / failed tx", gw.non_2xx, sql.failed, "", "none", 0, _statuses_text(gw)),
        Row("gateway: 409 slot_taken + 422 refused", _status(gw, "409") + _status(gw, "422"), None, "", "none", 0),
        Row("gateway: socket errors", gw.socket_errors, 0, "", "none", 0),
        Row("booking service direct: throughput", direct.rps, sql.rps, "tx/s", "ratio"),
        *(
            Row(f"booking service direct: latency p{p}", direct.ms(f"p{p}"), sql.ms(p), "ms", "delta", 2)
            for p in (50, 99)
        ),
        Row("booking service direct: non-2xx", direct.non_2xx, None, "", "none", 0, _statuses_text(direct)),
    ]
    if uc is not None:
        rows += [
            Row("use case in-process, no HTTP: throughput", uc.rps, sql.rps, "tx/s", "ratio"),
            *(
                Row(f"use case in-process, no HTTP: latency p{p}", uc.ms(p), sql.ms(p), "ms", "delta", 2)
                for p in (50, 99)
            ),
            Row(
                "use case in-process, no HTTP: failed tx",
                uc.failed,
                None,
                "",
                "none",
                0,
                ", ".join(f"{k}: {v}" for k, v in uc.errors.items()) or "none",
            ),
        ]
    section.rows = rows
    section.notes.append(
        f"goal gateway >= x0.5 of direct SQL: x{goal or 0:.3f} -> "
        + ("MET" if goal is not None and goal >= 0.5 else "NOT MET")
    )
    section.notes.append(
        "gateway / direct SQL round by round: "
        + ", ".join(f"x{r:.3f}" if r is not None else "-" for r in round_ratios)
        + f"; each figure: {described()}"
    )
    section.notes.append(
        f"gateway share: gateway x{ratio(gw.rps, direct.rps) or 0:.3f} of the booking service "
        f"direct; booking service x{ratio(direct.rps, uc.rps) or 0:.3f} of the use case without HTTP"
        if uc is not None
        else f"gateway share: gateway x{ratio(gw.rps, direct.rps) or 0:.3f} of the booking service direct"
    )
    for name in ("gateway", "booking"):
        created, counted = _status(http[name].result, "201"), http[name].held_rows
        # Each slice's wrk stops with up to one request per connection in flight: held, but not counted.
        if not 0 <= counted - created <= shape.connections * ROUNDS:
            section.notes.append(
                f"{name} run: {counted} new held rows but {created} answers 201 "
                "(expected equal, up to the requests in flight when each slice's wrk stopped)"
            )
    section.notes.append(
        f"starts: {HOLD_THERAPISTS} bench therapists per set (08:00-20:00 London, every day), "
        f"{grid.days} days x {grid.slots_per_day} slots {int(grid.step.total_seconds() // 60)} min apart "
        f"from {grid.first.date()}; horizon raised to {BENCH_HORIZON_DAYS} days in the bench database"
    )
    section.notes.append(
        f"direct SQL: BEGIN, store.insert_hold (the constrained INSERT), outbox add_event, COMMIT "
        f"(the issue's baseline), asyncpg pool of {shape.connections} in this process (uvloop); "
        "the booking service has its own pool of 10"
    )
    # Each measured run: (label in the CPU-per-hold note, label of its CPU note, CPU use, holds, processes).
    runs = [
        (
            "gateway run",
            "gateway run",
            http["gateway"].cpu,
            gw.requests,
            ["postgres", "booking", "gateway", FINISHED_CHILDREN],
        ),
        (
            "booking-direct run",
            "booking-direct run",
            http["booking"].cpu,
            direct.requests,
            ["postgres", "booking", FINISHED_CHILDREN],
        ),
    ]
    if uc is not None:
        runs.append(("use case run", "in-process use case run", uc.cpu, uc.done, ["postgres", THIS_PROCESS]))
    runs.append(("direct SQL run", "direct SQL run", sql.cpu, sql.done, ["postgres", THIS_PROCESS]))
    section.notes.append(
        "CPU ms per hold: " + "; ".join(f"{label}: {cpu_per_tx(usage, n, names)}" for label, _, usage, n, names in runs)
    )
    section.notes.append(
        f"one hold at a time, in-process: p50 {profile['total_ms']['p50_ms']:.2f} ms = "
        f"{profile['statements_per_hold']:g} statements {profile['statements_sum_ms']:.2f} ms ("
        + ", ".join(f"{k} {v:.2f}" for k, v in profile["statements_ms_per_hold"].items())
        + f") + Python {profile['rest_ms']:.2f} ms (means)"
    )
    if paused:
        section.notes.append("booking relay paused (--pause-downstream) during every measured run")
    section.notes.extend(cpu_note(label, usage) for _, label, usage, _, _ in runs)
    section.data = {
        "endpoint": HOLDS_PATH,
        "load": shape.as_dict(),
        "relay_paused": paused,
        "gateway": gw.as_dict() | {"cpu": http["gateway"].cpu, "held_rows_created": http["gateway"].held_rows},
        "booking_direct": direct.as_dict()
        | {"cpu": http["booking"].cpu, "held_rows_created": http["booking"].held_rows},
        "warmup_http": {
            k: {"requests": v.warm.requests, "non_2xx": v.warm.non_2xx, "statuses": v.warm.statuses}
            for k, v in http.items()
        },
        "direct_sql": sql.as_dict() | {"concurrency": shape.connections},
        "use_case_in_process": uc.as_dict() if uc is not None else None,
        "use_case_profile_one_at_a_time": profile,
        "throughput_ratio_gateway_over_direct_sql": goal,
        "goal_met": goal is not None and goal >= 0.5,
        "round_throughput_ratios_gateway_over_sql": round_ratios,
        "rounds": ROUNDS,
        "throughput_ratio_gateway_over_booking_direct": ratio(gw.rps, direct.rps),
        "throughput_ratio_booking_direct_over_use_case": ratio(direct.rps, uc.rps) if uc else None,
        "outbox_drain_wait_s": {k: round(v.drain_s, 2) for k, v in http.items()},
        "grid": {
            "therapists_per_set": HOLD_THERAPISTS,
            "first": grid.first.isoformat(),
            "days": grid.days,
            "slots_per_day": grid.slots_per_day,
            "step_minutes": grid.step.total_seconds() / 60,
            "capacity": grid.capacity,
            "wrk_block": block,
            "horizon_days": BENCH_HORIZON_DAYS,
        },
    }
    return section
