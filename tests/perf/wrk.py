"""wrk: the load shape of a run, running wrk with one of this folder's Lua scripts, and the figures of
its report (the "BENCH_JSON {...}" line that wrk_report.lua prints)."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from tests.perf.figures import rounded, summed_counts
from tests.perf.harness import PERF_DIR, assert_loopback, log
from tests.perf.interleave import ROUNDS, alternating, slice_seconds

if TYPE_CHECKING:
    from tests.perf.cpu import CpuMeter

REPORT_LINE = re.compile(r"^BENCH_JSON (\{.*\})$", re.MULTILINE)


@dataclass(frozen=True)
class LoadShape:
    duration: float
    warmup: float
    threads: int
    connections: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "threads": self.threads,
            "connections": self.connections,
        }


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
            return self.errors["status"]  # wrk counts status >= 400; 3xx never happens here
        return sum(n for code, n in self.statuses.items() if not code.startswith("2"))

    @property
    def socket_errors_by_kind(self) -> dict[str, int]:
        return {k: v for k, v in self.errors.items() if k != "status"}

    @property
    def socket_errors(self) -> int:
        return sum(self.socket_errors_by_kind.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "rps": round(self.rps, 1),
            "latency_ms": {k.replace("p99_9", "p99.9"): rounded(self.ms(k)) for k in self.latency_us},
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors_by_kind,
            "statuses": self.statuses,
        }


def combined(slices: list[WrkResult]) -> WrkResult:
    """Runs of one target taken in slices as one result: counts add up; each latency figure is the median
    of the slices' (a percentile of all requests together would need wrk's raw samples), min and max the
    extremes."""
    statuses = None
    if any(s.statuses is not None for s in slices):
        statuses = summed_counts(s.statuses or {} for s in slices)
    latency: dict[str, float | None] = {}
    for key in slices[0].latency_us:
        values = [v for s in slices if (v := s.latency_us.get(key)) is not None]
        latency[key] = (
            None
            if not values
            else min(values)
            if key == "min"
            else max(values)
            if key == "max"
            else statistics.median(values)
        )
    return WrkResult(
        requests=sum(s.requests for s in slices),
        duration_s=sum(s.duration_s for s in slices),
        errors=summed_counts(s.errors for s in slices),
        statuses=statuses,
        latency_us=latency,
    )


async def run_wrk(
    url: str,
    shape: LoadShape,
    duration: float,
    script: str,
    script_args: Sequence[str] = (),
    headers: dict[str, str] | None = None,
) -> WrkResult:
    assert_loopback(url)
    cmd = [
        "wrk",
        f"-t{shape.threads}",
        f"-c{shape.connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(PERF_DIR / script),
        url,
    ]
    for name, value in (headers or {}).items():
        cmd[1:1] = ["-H", f"{name}: {value}"]
    if script_args:
        cmd += ["--", *script_args]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=PERF_DIR
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=duration + 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode(errors="replace")
    match = REPORT_LINE.search(text)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n{text}\n{err.decode(errors='replace')}")
    data = json.loads(match.group(1))
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        errors=data["errors"],
        statuses=data["statuses"],
        latency_us=data["latency_us"],
    )


class Target(NamedTuple):
    """A target of interleaved runs: its name, URL and request headers, and the script that asks for it (a plain
    GET by default; wrk_post.lua with its JSON body as the argument posts)."""

    name: str
    url: str
    headers: dict[str, str]
    script: str = "wrk_get.lua"
    script_args: tuple[str, ...] = ()

    async def run(self, shape: LoadShape, duration: float) -> WrkResult:
        return await run_wrk(self.url, shape, duration, self.script, self.script_args, self.headers)


async def warm_up(targets: Sequence[Target], shape: LoadShape, label: str) -> None:
    for target in targets:
        log(f"{label}: warm-up {target.name} {shape.warmup:g}s")
        await target.run(shape, shape.warmup)


async def interleaved(
    cpu: CpuMeter, targets: Sequence[Target], shape: LoadShape, label: str
) -> tuple[dict[str, list[WrkResult]], dict[str, dict[str, Any]]]:
    """ROUNDS slices of shape.duration / ROUNDS per target, alternating: each target's slices and its summed
    CPU use."""
    from tests.perf.cpu import summed_usage

    seconds = slice_seconds(shape.duration)
    log(
        f"{label}: measure {' and '.join(target.name for target in targets)} alternately, "
        f"{ROUNDS} x {seconds}s each, {shape.connections} connection(s)"
    )
    slices: dict[str, list[WrkResult]] = {target.name: [] for target in targets}
    usages: dict[str, list[dict[str, Any]]] = {name: [] for name in slices}
    for _round, target in alternating(targets):
        usage, result = await cpu.measure(target.run(shape, seconds))
        slices[target.name].append(result)
        usages[target.name].append(usage)
    return slices, {name: summed_usage(u) for name, u in usages.items()}


def wrk_version() -> str:
    proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    return output.splitlines()[0].strip() if output else "unknown"
