"""The whole product as real processes, started from the same Procfile as `make run`, on private
ports, a private database and a private Redis, so it runs beside a developer's `make run`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from tests.support.infra import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
HTTP_SERVICES = ("gateway", "booking", "payments", "notifications", "web")
STACK_MARKER = "CLINIC_STACK_ID"


def procfile(path: Path = REPO_ROOT / "Procfile") -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line):
            entries[match.group(1)] = match.group(2)
    return entries


def stack_env(database_url: str, redis_url: str, workdir: Path) -> dict[str, str]:
    ports = {name: free_port() for name in HTTP_SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "REDIS_PREFIX": f"e2e{uuid.uuid4().hex[:6]}:",
            "FAKE_STRIPE_PORT": str(free_port()),
            "SMTP_PORT": str(free_port()),
            "VAR_DIR": str(workdir),
            "MAILBOX_DIR": str(workdir / "mailbox"),
            "PUBLIC_URL": f"http://127.0.0.1:{ports['gateway']}",
            "RELAY_POLL_INTERVAL": "0.5",
            "CONSUMER_CLAIM_IDLE_MS": "2000",
            # Tasks of a killed worker come back after this many seconds (production: a minute).
            "CELERY_VISIBILITY_TIMEOUT": "5",
            # Work whose Celery task was lost with a killed worker is redone after this many seconds (default 90).
            "LOST_TASK_SECONDS": "8",
            # Due reminders and gift emails are looked for this often (production: a minute).
            "SCHEDULED_SWEEP_SECONDS": "1",
            # The waitlist's matcher offers freed times this often (production: every 15 seconds).
            "WAITLIST_SWEEP_SECONDS": "1",
            # Storms and benchmarks come from one address: count, but do not stop them.
            "RATE_LIMIT_PER_IP": "1000000",
            "RATE_LIMIT_HOLDS_PER_IP": "1000000",
            "RATE_LIMIT_PER_KEY": "1000000",
            "RATE_LIMIT_SIGN_INS_PER_IP": "1000000",
            "VOUCHER_BALANCE_CHECKS_PER_MINUTE": "1000000",
            "LOG_LEVEL": "INFO",
            STACK_MARKER: uuid.uuid4().hex,
            **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
        }
    )
    return env


def processes_with_marker(marker: str) -> list[int]:
    """Live pids whose environment carries this stack's marker (to prove nothing is left behind)."""
    needle = f"{STACK_MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                status = (entry / "status").read_text()
                if "State:\tZ" not in status:
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


class Stack:
    def __init__(self, env: dict[str, str], logdir: Path):
        self.env = env
        self.logdir = logdir
        self.commands = procfile()
        self.procs: dict[str, subprocess.Popen] = {}

    def url(self, service: str = "gateway") -> str:
        return f"http://127.0.0.1:{self.env[f'{service.upper()}_PORT']}"

    def start(self, *names: str) -> None:
        for name in names or self.commands:
            log = open(self.logdir / f"{name}.log", "ab")
            self.procs[name] = subprocess.Popen(
                ["bash", "-c", f"exec {self.commands[name]}"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()

    def send_signal(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, sig)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        self.send_signal(name, sig)
        try:
            self.procs[name].wait(timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(name, signal.SIGKILL)
            self.procs[name].wait(5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.send_signal(name, signal.SIGTERM)
        for name in list(self.procs):
            self.stop(name)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for service in HTTP_SERVICES:
            while True:
                try:
                    with urllib.request.urlopen(f"{self.url(service)}/readyz", timeout=1) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited early:\n{self.log(name)[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} not ready in {timeout}s:\n{self.log(service)[-3000:]}")
                time.sleep(0.1)

    def log(self, name: str) -> str:
        path = self.logdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""
