"""Real infrastructure for tests: private databases cloned from a migrated template, a private Redis
server (so tests may FLUSHALL or restart it without touching anyone else's), a private PostgreSQL cluster
(for a test that restarts PostgreSQL: the machine's own server is shared), free ports, polling."""

from __future__ import annotations

import asyncio
import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import asyncpg

from services import booking, notifications, payments
from services.booking import seed
from shared import db
from shared.config import Settings
from shared.migrations import apply_migrations

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
T = TypeVar("T")
# Each service's schema and the folder of its migrations.
SERVICE_SCHEMAS = {
    "booking": booking.MIGRATIONS,
    "payments": payments.MIGRATIONS,
    "notifications": notifications.MIGRATIONS,
}


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


async def _admin(sql: str, admin_url: str = PG_ADMIN_URL) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


async def create_template_database(admin_url: str = PG_ADMIN_URL) -> str:
    """A database with every schema migrated and the demo clinics seeded (on the server of `admin_url`:
    by default the machine's); returns its name."""
    name = unique_name("clinic_tpl")
    await _admin(f'CREATE DATABASE "{name}"', admin_url)
    conn = await asyncpg.connect(database_url(name, admin_url))
    try:
        for schema, folder in SERVICE_SCHEMAS.items():
            await apply_migrations(conn, schema, folder)
    finally:
        await conn.close()
    booking = await db.connect(Settings(database_url=database_url(name, admin_url)), "booking")
    try:
        await seed.seed(booking)
    finally:
        await booking.close()
    return name


async def clone_database(template: str, admin_url: str = PG_ADMIN_URL) -> str:
    name = unique_name("clinic_t")
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"', admin_url)
    return name


async def drop_database(name: str, admin_url: str = PG_ADMIN_URL) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin_url)


def database_url(name: str, admin_url: str = PG_ADMIN_URL) -> str:
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are (Debian keeps them off PATH): PG_BINDIR, else the newest
    /usr/lib/postgresql/<version>/bin, else PATH."""
    if configured := os.environ.get("PG_BINDIR"):
        return Path(configured)
    installed = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    installed.sort(key=lambda bindir: int(bindir.parent.name) if bindir.parent.name.isdigit() else 0)
    if installed:
        return installed[-1]
    if found := shutil.which("initdb"):
        return Path(found).parent
    raise RuntimeError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")


class PrivatePostgres:
    """A PostgreSQL cluster of our own, for a test that crashes and restarts PostgreSQL (the machine's server
    is shared with other work and is never restarted): initdb into a new temporary folder, a free loopback
    port, trust authentication, the superuser `postgres`. PostgreSQL refuses to run as root, so as root its
    programs run as the OS user `os_user` (Debian's `postgres`), which owns the folder.

    fsync is off: a crash of the server (kill, `pg_ctl stop -m immediate`) loses nothing by it, since
    committed WAL is in the kernel's page cache; only a crash of the machine would. The cluster is not a
    child of ours (pg_ctl detaches it): `destroy()` stops it and deletes the folder."""

    SETTINGS = {
        "listen_addresses": "'127.0.0.1'",
        "max_connections": "200",
        "shared_buffers": "64MB",
        "fsync": "off",
        "logging_collector": "off",
    }

    def __init__(self, os_user: str = "postgres"):
        self.port = free_port()
        self.bindir = postgres_bindir()
        self.os_user = os_user
        self.root: Path | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def datadir(self) -> Path:
        assert self.root is not None, "not initialised: start() first"
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        assert self.root is not None, "not initialised: start() first"
        return self.root / "postgres.log"

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", self.os_user, "--", *command]
        done = subprocess.run(
            command,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}")
        return done.stdout

    def _init(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="clinic-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(self.os_user)
            except KeyError:
                raise RuntimeError(
                    f"PostgreSQL will not run as root, and there is no OS user {self.os_user!r} to run it as"
                ) from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )
        settings = {**self.SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
        with open(self.datadir / "postgresql.conf", "a") as conf:  # the file stays its owner's
            conf.write("".join(f"{name} = {value}\n" for name, value in settings.items()))

    def start(self) -> None:
        """Initialises the cluster the first time; returns once it accepts connections."""
        if self.root is None:
            self._init()
        self._run("pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60")

    def running(self) -> bool:
        if self.root is None:
            return False
        try:
            self._run("pg_ctl", "status", "-D", str(self.datadir), timeout=10)
            return True
        except RuntimeError:
            return False

    def crash(self) -> None:
        """Every server process gone at once, nothing flushed: a crash, as PostgreSQL's immediate mode is."""
        self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w", "-t", "30")

    def restart(self, down: float = 0.0) -> None:
        """A crash, `down` seconds without a server, then a start (with crash recovery from the WAL)."""
        self.crash()
        time.sleep(down)
        self.start()

    def destroy(self) -> None:
        """Stopped (if running) and its folder deleted."""
        if self.root is None:
            return
        if self.running():
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "30")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


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
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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


async def wait_for(
    check: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.02, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
