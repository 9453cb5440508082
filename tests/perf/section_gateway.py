"""Section a: GET /api/v1/clinics/urban-therapy/treatments through the gateway vs on the booking service
directly (wrk), i.e. what the proxy hop costs."""
from __future__ import annotations

from typing import Any

from tests.perf.bench_database import CLINIC
from tests.perf.cpu import cpu_note
from tests.perf.figures import diff, ratio
from tests.perf.harness import BenchContext, log
from tests.perf.table import Row, Section
from tests.perf.wrk import LoadShape, WrkResult, run_wrk

TREATMENTS_PATH = f"/api/v1/clinics/{CLINIC}/treatments"


def _added_latency_ms(gw: WrkResult, direct: WrkResult, percentiles: tuple[str, ...]) -> dict[str, float | None]:
    return {p: diff(gw.ms(p), direct.ms(p)) for p in percentiles}


async def bench_gateway(ctx: BenchContext) -> Section:
    shape = ctx.shape
    targets = (("direct", ctx.booking_url(TREATMENTS_PATH)), ("gateway", ctx.gateway_url(TREATMENTS_PATH)))
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
        *(Row(f"latency {p}", gw.ms(p), direct.ms(p), "ms", "delta", 2) for p in ("p50", "p90", "p99")),
        Row("non-2xx responses", gw.non_2xx, direct.non_2xx, "", "none", 0),
        Row("socket errors", gw.socket_errors, direct.socket_errors, "", "none", 0),
        Row("throughput, 1 conn", gw1.rps, direct1.rps, "req/s", "ratio"),
        *(Row(f"latency {p}, 1 conn", gw1.ms(p), direct1.ms(p), "ms", "delta", 2) for p in ("p50", "p99")),
    ]
    section.notes.append(cpu_note("gateway run", cpu["gateway"]))
    section.notes.append(cpu_note("direct run", cpu["direct"]))
    section.data = {
        "endpoint": TREATMENTS_PATH, "load": shape.as_dict(),
        "gateway": gw.as_dict() | {"cpu": cpu["gateway"]}, "direct": direct.as_dict() | {"cpu": cpu["direct"]},
        "throughput_ratio_gateway_over_direct": ratio(gw.rps, direct.rps),
        "added_latency_ms": _added_latency_ms(gw, direct, ("p50", "p90", "p99")),
        "single_connection": {
            "load": single.as_dict(), "gateway": gw1.as_dict(), "direct": direct1.as_dict(),
            "throughput_ratio_gateway_over_direct": ratio(gw1.rps, direct1.rps),
            "added_latency_ms": _added_latency_ms(gw1, direct1, ("p50", "p99"))},
    }
    return section
