"""The baseline driver of a throughput section: database transactions from this process, back to back at
a fixed concurrency on an asyncpg pool, with their latencies, errors and (optionally) CPU use."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from tests.perf.cpu import CpuMeter, summed_usage
from tests.perf.figures import percentile, summary_ms, summed_counts, timed_ms


@dataclass
class TxRun:
    done: int
    errors: dict[str, int]
    duration_s: float
    latencies_ms: list[float]
    cpu: dict[str, Any] | None = None
    started: int = 0  # transactions begun (n = 0 .. started - 1), failed ones included

    @property
    def rps(self) -> float:
        return self.done / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def ms(self, p: float) -> float | None:
        return percentile(self.latencies_ms, p)

    def as_dict(self) -> dict[str, Any]:
        return {
            "transactions": self.done,
            "errors": self.errors,
            "duration_s": round(self.duration_s, 3),
            "tps": round(self.rps, 1),
            "latency_ms": summary_ms(self.latencies_ms),
            "cpu": self.cpu,
        }


async def tx_loop(
    pool, concurrency: int, duration: float, tx: Callable[[Any, int], Awaitable[None]], meter: CpuMeter | None = None
) -> TxRun:
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
            try:
                with timed_ms(latencies):
                    async with pool.acquire() as conn:
                        await tx(conn, n)
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    began = time.perf_counter()
    deadline = began + duration
    work = asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = None
    if meter is not None:
        cpu, _ = await meter.measure(work)
    else:
        await work
    return TxRun(len(latencies), errors, time.perf_counter() - began, latencies, cpu, counter)


def combined_runs(runs: list[TxRun]) -> TxRun:
    """Slices of one baseline as one run (latencies pooled, CPU use summed)."""
    usages = [run.cpu for run in runs if run.cpu is not None]
    return TxRun(
        sum(r.done for r in runs),
        summed_counts(r.errors for r in runs),
        sum(r.duration_s for r in runs),
        [ms for r in runs for ms in r.latencies_ms],
        summed_usage(usages) if usages else None,
        sum(r.started for r in runs),
    )
