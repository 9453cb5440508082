"""Section a: what the gateway hop costs, through it vs on the booking service directly (wrk), on a
public read (GET /api/v1/clinics/urban-therapy/treatments) and on a clinic API read with a key
(GET /api/v1/clinic/bookings: Bearer key at the gateway; directly, the headers the gateway would add).
Everything the gateway does per request is on: request ids, the rate limit (a Lua call per request; the
bench's limits are high so it counts but never refuses), the API key check (cached), security headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.perf.bench_database import CLINIC, insert_api_key, revoke_api_key, service_connection
from tests.perf.cpu import cpu_note
from tests.perf.figures import diff, ratio
from tests.perf.harness import BenchContext
from tests.perf.interleave import described
from tests.perf.table import Row, Section
from tests.perf.wrk import LoadShape, Target, WrkResult, combined, interleaved, warm_up

TREATMENTS_PATH = f"/api/v1/clinics/{CLINIC}/treatments"
CLINIC_BOOKINGS_PATH = "/api/v1/clinic/bookings"


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    gateway_headers: dict[str, str]
    direct_headers: dict[str, str]


@dataclass
class Measured:
    loaded: dict[str, WrkResult]
    single: dict[str, WrkResult]
    cpu: dict[str, dict[str, Any]]
    round_ratios: list[float | None]  # gateway / direct throughput, round by round, under load


def _added_latency_ms(gw: WrkResult, direct: WrkResult, percentiles: tuple[str, ...]) -> dict[str, float | None]:
    return {p: diff(gw.ms(p), direct.ms(p)) for p in percentiles}


async def _measure(ctx: BenchContext, case: Case) -> Measured:
    shape = ctx.shape
    targets = (
        Target("direct", ctx.booking_url(case.path), case.direct_headers),
        Target("gateway", ctx.gateway_url(case.path), case.gateway_headers),
    )
    await warm_up(targets, shape, f"gateway: {case.name}")
    loaded, cpu = await interleaved(ctx.cpu, targets, shape, f"gateway: {case.name}")
    # Saturated, closed-loop latency is mostly queueing (connections / throughput); one connection
    # shows what the extra hop itself adds to a single request.
    single, _cpu = await interleaved(
        ctx.cpu, targets, LoadShape(ctx.args.single_duration, 0, 1, 1), f"gateway: {case.name}"
    )
    return Measured(
        {name: combined(runs) for name, runs in loaded.items()},
        {name: combined(runs) for name, runs in single.items()},
        cpu,
        [ratio(gw.rps, direct.rps) for gw, direct in zip(loaded["gateway"], loaded["direct"])],
    )


async def bench_gateway(ctx: BenchContext) -> Section:
    from services.booking.seed import stable_id
    from services.gateway.settings import GatewaySettings
    from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER
    from shared.config import load_settings

    conn = await service_connection(ctx.database_url)
    key, key_id = await insert_api_key(conn, "bench gateway")
    internal_token = load_settings(GatewaySettings, ctx.env).internal_token
    cases = (
        Case("public read", TREATMENTS_PATH, {}, {}),
        Case(
            "clinic API read with a key",
            CLINIC_BOOKINGS_PATH,
            {"Authorization": f"Bearer {key}"},
            {CLINIC_ID_HEADER: str(stable_id(CLINIC)), INTERNAL_TOKEN_HEADER: internal_token},
        ),
    )
    try:
        results = [(case, await _measure(ctx, case)) for case in cases]
    finally:
        await revoke_api_key(conn, key_id)
        await conn.close()
    return gateway_section(ctx, results)


def gateway_section(ctx: BenchContext, results: list[tuple[Case, Measured]]) -> Section:
    shape = ctx.shape
    section = Section(
        "gateway",
        "a. Gateway vs direct on the booking service (auth, rate limit, request ids on)",
        ("gateway", "direct", "gateway vs direct"),
    )
    data: dict[str, Any] = {"load": shape.as_dict()}
    for case, m in results:
        gw, direct = m.loaded["gateway"], m.loaded["direct"]
        gw1, direct1 = m.single["gateway"], m.single["direct"]
        section.rows += [
            Row(f"{case.name}: throughput, {shape.connections} conns", gw.rps, direct.rps, "req/s", "ratio"),
            *(Row(f"{case.name}: latency {p}", gw.ms(p), direct.ms(p), "ms", "delta", 2) for p in ("p50", "p99")),
            Row(
                f"{case.name}: non-2xx + socket errors",
                gw.non_2xx + gw.socket_errors,
                direct.non_2xx + direct.socket_errors,
                "",
                "none",
                0,
            ),
            Row(f"{case.name}: throughput, 1 conn", gw1.rps, direct1.rps, "req/s", "ratio"),
            *(
                Row(f"{case.name}: latency {p}, 1 conn", gw1.ms(p), direct1.ms(p), "ms", "delta", 2)
                for p in ("p50", "p99")
            ),
        ]
        throughput = ratio(gw.rps, direct.rps)
        added_p50 = diff(gw1.ms("p50"), direct1.ms("p50"))
        clean = gw.non_2xx == 0 and gw.socket_errors == 0
        met = clean and throughput is not None and throughput >= 0.5 and added_p50 is not None and added_p50 <= 1.0
        section.notes.append(
            f"{case.name} ({case.path}): goal throughput >= x0.5 of direct and p50 added <= 1 ms "
            f"at one connection: x{throughput or 0:.3f}, +{added_p50 or 0:.2f} ms -> "
            + ("MET" if met else "NOT MET")
            + ("" if clean else " (errors in the gateway run)")
        )
        section.notes.append(
            f"{case.name}: throughput gateway / direct round by round: "
            + ", ".join(f"x{r:.3f}" if r is not None else "-" for r in m.round_ratios)
        )
        section.notes.append(cpu_note(f"{case.name}, gateway run", m.cpu["gateway"]))
        section.notes.append(cpu_note(f"{case.name}, direct run", m.cpu["direct"]))
        data[case.name] = {
            "endpoint": case.path,
            "gateway": gw.as_dict() | {"cpu": m.cpu["gateway"]},
            "direct": direct.as_dict() | {"cpu": m.cpu["direct"]},
            "throughput_ratio_gateway_over_direct": throughput,
            "added_latency_ms": _added_latency_ms(gw, direct, ("p50", "p90", "p99")),
            "single_connection": {
                "gateway": gw1.as_dict(),
                "direct": direct1.as_dict(),
                "throughput_ratio_gateway_over_direct": ratio(gw1.rps, direct1.rps),
                "added_latency_ms": _added_latency_ms(gw1, direct1, ("p50", "p99")),
            },
            "round_throughput_ratios": m.round_ratios,
            "goal_met": met,
        }
    section.notes.append(f"each figure: {described()}; requests add up, latencies are the median of the slices'")
    section.notes.append(
        "the bench's rate limits are raised (RATE_LIMIT_PER_IP etc.), so the limiter runs on every "
        "request but never refuses; the key check is cached as in production"
    )
    section.data = data
    return section
