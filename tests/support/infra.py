"""Real infrastructure for tests: private databases cloned from a migrated template, a private Redis
server (so tests may FLUSHALL or restart it without touching anyone else's), free ports, polling."""
from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import asyncpg

from services.booking import seed
from shared import db
from shared.config import Settings
from shared.migrations import SERVICE_SCHEMAS, apply_migrations

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]
T = TypeVar("T")


# Ports handed out stay bound (not listening) for a while: the kernel then gives them to no other bind(0) or
# outgoing connection, which could otherwise take one between free_port() and the server's own bind. Servers
# bind with SO_REUSEADDR (asyncio, aiohttp's test server, redis-server), which Linux allows beside a socket
# that also set it and is not listening. The oldest reservations are released once this many are held.
_RESERVED_PORTS: deque[socket.socket] = deque()
_RESERVATIONS_KEPT = 64
atexit.register(lambda: [reservation.close() for reservation in _RESERVED_PORTS])


def free_port() -> int:
    """A loopback port no other socket will take until a server binds it with SO_REUSEADDR."""
    reservation = socket.socket()
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reservation.bind(("127.0.0.1", 0))
    _RESERVED_PORTS.append(reservation)
    while len(_RESERVED_PORTS) > _RESERVATIONS_KEPT:
        _RESERVED_PORTS.popleft().close()
    return reservation.getsockname()[1]


def unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


async def _admin(sql: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


async def create_template_database() -> str:
    """A database with every schema migrated and the demo clinics seeded; returns its name."""
    name = unique_name("clinic_tpl")
    await _admin(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(f"{PG_BASE}/{name}")
    try:
        for schema in SERVICE_SCHEMAS:
            await apply_migrations(conn, schema)
    finally:
        await conn.close()
    booking = await db.connect(Settings(database_url=f"{PG_BASE}/{name}"), "booking")
    try:
        await seed.seed(booking)
    finally:
        await booking.close()
    return name


async def clone_database(template: str) -> str:
    name = unique_name("clinic_t")
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


async def drop_database(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(name: str) -> str:
    return f"{PG_BASE}/{name}"


class PrivateRedis:
    """A redis-server of our own on a free port, keeping nothing on disk (as in production here)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; the tests need it (it runs Redis on this machine)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        """A crash and restart: every key is gone, as with the machine's own Redis."""
        self.stop()
        self.start()


def running_redis(tmp_path_factory, name: str):
    """Generator for a session fixture: a started PrivateRedis, stopped afterwards."""
    server = PrivateRedis(tmp_path_factory.mktemp(name))
    server.start()
    yield server
    server.stop()


async def wait_for(check: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.02,
                   what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
