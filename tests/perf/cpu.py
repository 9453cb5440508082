"""CPU accounting: who used the (few) CPUs during a measured run, and waiting until the stack is quiet
before the next one."""

from __future__ import annotations

import asyncio
import os
import resource
import time
from pathlib import Path
from typing import Any, Awaitable

from tests.perf.figures import summed_counts
from tests.perf.harness import log

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Groups of CPU use besides the Procfile processes.
THIS_PROCESS = "bench (this process)"
FINISHED_CHILDREN = "wrk and other finished children"
POSTGRES_OTHER = "postgres-other-databases"
POSTGRES_SHARED = "postgres-background"
# Not the stack's: left out of "is the stack quiet yet?" (the machine may be shared with other work).
NOT_THE_STACK = (POSTGRES_OTHER, THIS_PROCESS, FINISHED_CHILDREN)
# The idle stack (relay polls, consumers blocked in XREADGROUP, beat) uses a few percent of one CPU.
QUIET_CPUS = 0.15


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
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
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
            if pgrp == proc.pid:  # each Procfile process leads its own session/group
                return name
        if comm == "postgres":
            return _postgres_role(pid, self.database)
        if pid == self.redis_pid:
            return "redis"
        if pid == os.getpid():
            return THIS_PROCESS
        return None

    def _snapshot(self) -> tuple[dict[int, tuple[str, int, float]], float, float]:
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
        usage[FINISHED_CHILDREN] = children1 - children0
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
        return {
            "wall_s": round(wall, 2),
            "available_cpu_s": round(wall * (os.cpu_count() or 1), 2),
            "machine_busy_cpu_s": round(busy, 2),
            "unattributed_cpu_s": round(busy - sum(usage.values()), 2),
            "by_process": usage,
        }, result

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


def summed_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """Several measure() results as one, e.g. the slices of an interleaved run."""
    total: dict[str, Any] = {
        k: round(sum(u[k] for u in usages), 2)
        for k in ("wall_s", "available_cpu_s", "machine_busy_cpu_s", "unattributed_cpu_s")
    }
    by = summed_counts(u["by_process"] for u in usages)
    total["by_process"] = {k: round(v, 2) for k, v in sorted(by.items(), key=lambda kv: -kv[1])}
    return total


EVENT_PATH = (
    "booking-relay",
    "payments-relay",
    "booking-consumer",
    "payments-consumer",
    "notifications-consumer",
    "redis",
    "celery-worker",
)


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
    return (
        f"CPU s during {label} (busy {usage['machine_busy_cpu_s']:.1f} of {usage['available_cpu_s']:.1f}): "
        + ", ".join(parts)
        + f"; other work on the machine {other_work_cpu_s(usage):.1f}"
    )
