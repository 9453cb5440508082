"""Facts about the machine and the software a run measured, for bench-results.json."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.perf.harness import REPO_ROOT
from tests.perf.wrk import wrk_version

# A fixed pure-Python workload, timed to tell how fast the machine is at a given moment.
SPEED_LOOP_STEPS = 20_000_000


def python_loop_seconds() -> float:
    """Seconds this process takes for SPEED_LOOP_STEPS additions: the same work every time, so it shows the
    machine's speed drifting (here by x1.5-2 within an hour, with nothing else of ours running)."""
    began = time.perf_counter()
    total = 0
    for step in range(SPEED_LOOP_STEPS):
        total += step
    return round(time.perf_counter() - began, 3)


def _proc_info(path: str, key: str) -> str | None:
    """The value of the first "key: value" line of a /proc file such as /proc/cpuinfo."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _output(cmd: list[str]) -> str:
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()


def machine_info() -> dict[str, Any]:
    mem_total = _proc_info("/proc/meminfo", "MemTotal:")  # "16318164 kB"
    try:
        redis_server = _output(["redis-server", "--version"])
    except OSError:
        redis_server = None
    return {
        "hostname": platform.node(),
        "cpu_model": _proc_info("/proc/cpuinfo", "model name"),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gib": None if mem_total is None else round(int(mem_total.split()[0]) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version(),
        "git_commit": _output(["git", "rev-parse", "HEAD"]) or None,
        "git_dirty": bool(_output(["git", "status", "--porcelain"])),
        "redis_server": redis_server,
    }


async def postgres_version(database_url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
