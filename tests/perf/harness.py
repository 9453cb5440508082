"""What the bench runs on and how it is torn down: the bench's own databases, Redis and Procfile stack on
127.0.0.1 (BenchStack), the context every section gets (BenchContext), the loopback guard and the
progress log."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from tests.perf.cpu import CpuMeter
    from tests.perf.wrk import LoadShape

PERF_DIR = Path(__file__).resolve().parent
REPO_ROOT = PERF_DIR.parents[1]
LOOPBACK = "127.0.0.1"


def assert_loopback(url: str) -> str:
    host = urlsplit(url).hostname
    if host != LOOPBACK:
        raise RuntimeError(f"refusing to load anything but {LOOPBACK}: {url}")
    return url


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class BenchContext:
    args: argparse.Namespace
    shape: LoadShape
    env: dict[str, str]
    database: str
    database_url: str
    stack: Any
    cpu: CpuMeter

    def gateway_url(self, path: str) -> str:
        return assert_loopback(self.env["PUBLIC_URL"].rstrip("/") + path)

    def booking_url(self, path: str) -> str:
        """The booking service itself, without the gateway."""
        return assert_loopback(f"http://{LOOPBACK}:{self.env['BOOKING_PORT']}{path}")


class BenchStack:
    """A migrated and seeded template database and a clone of it, a private redis-server and the whole
    Procfile stack on free ports (tests.support). As a context manager: all stopped and dropped on
    leaving, also on error, Ctrl-C or SIGTERM (which raises KeyboardInterrupt meanwhile)."""

    def __init__(self) -> None:
        self.databases: list[str] = []
        self.database = ""
        self.database_url = ""
        self.env: dict[str, str] = {}
        self.redis = None  # tests.support.infra.PrivateRedis
        self.stack = None  # tests.support.stack.Stack

    def __enter__(self) -> BenchStack:
        self._previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        self.started = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="clinic-bench-"))
        return self

    def start(self, runner: asyncio.Runner) -> None:
        from tests.support.infra import PrivateRedis, clone_database, create_template_database, database_url
        from tests.support.stack import Stack, stack_env

        log("creating the template database (migrate + seed) and a clone")
        template = runner.run(create_template_database())
        self.databases.append(template)
        self.database = runner.run(clone_database(template))
        self.databases.append(self.database)
        self.database_url = assert_loopback(database_url(self.database))

        self.redis = PrivateRedis(self.workdir / "redis")
        (self.workdir / "redis").mkdir()
        self.redis.start()
        assert_loopback(self.redis.url)

        stack_dir = self.workdir / "stack"
        stack_dir.mkdir()
        self.env = stack_env(self.database_url, self.redis.url, stack_dir)
        self.env["LOG_LEVEL"] = "WARNING"
        assert_loopback(self.env["PUBLIC_URL"])
        self.stack = Stack(self.env, stack_dir)
        log("starting the stack")
        self.stack.start()
        self.stack.wait_healthy()
        log(f"stack ready in {time.monotonic() - self.started:.1f}s (gateway {self.env['PUBLIC_URL']})")

    @property
    def redis_pid(self) -> int | None:
        return self.redis.proc.pid if self.redis is not None and self.redis.proc else None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is KeyboardInterrupt:
            log("interrupted; cleaning up")
        elif exc_type is not None and self.stack is not None:
            for name in self.stack.procs:
                if tail := self.stack.log(name)[-1500:].strip():
                    log(f"--- {name} log (tail) ---\n{tail}")
        # Finish the clean-up even if Ctrl-C is pressed again.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            self._clean_up()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, self._previous_term)

    def _clean_up(self) -> None:
        from tests.support.stack import STACK_MARKER, processes_with_marker

        if self.stack is not None:
            self.stack.stop_all()
            leftover = processes_with_marker(self.stack.env[STACK_MARKER])
            for pid in leftover:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if leftover:
                log(f"killed {len(leftover)} leftover stack process(es): {leftover}")
        if self.redis is not None:
            self.redis.stop()
        try:
            dropped = asyncio.run(drop_own_databases(self.databases))
            log(f"dropped databases: {', '.join(dropped) or 'none'}")
        except Exception as exc:  # report, never hide the original error
            log(f"could not drop databases {self.databases}: {exc!r}")
        shutil.rmtree(self.workdir, ignore_errors=True)


def _raise_interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


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
    for name in sorted(names, key=lambda n: n.startswith("clinic_tpl_")):  # clones before the template
        await drop_database(name)
    return sorted(names)
