"""`python -m tests.chaos` (or `make chaos`): the whole stack under a steady load of bookings, card and voucher
payments and cancellations through the gateway, while, in turn, each kind of process is kill -9'd (a supervisor
restarts it, as Kubernetes would), Redis is restarted without its data, PostgreSQL crashes and restarts, the SMTP
sink and the clinic's webhook receiver stall, and the fake Stripe is delayed. After each fault: how long until
the gateway is ready and a probe booking is booked, confirmed after its card payment, emailed and announced by
webhook; then the invariant checker (shared/invariants.py), once the work in flight at the fault's end has had
its settle time. After the run, once the work in flight has settled: every paid booking as its customer left it,
every confirmation email in the SMTP sink and every booking.created delivery at the receiver, and the checker.

Everything runs on 127.0.0.1: a private PostgreSQL cluster (initdb in a temporary folder, run as the `postgres`
OS user when we are root; the machine's own server is shared with other work and never restarted) with a
migrated template database and a clone of it, a private redis-server and the Procfile's processes on free ports
(tests/support). The PostgreSQL fault is a real crash and restart: `pg_ctl stop -m immediate` (every server
process gone, nothing flushed), a few seconds without a server, `pg_ctl start` (crash recovery from the WAL).
A stall of the SMTP sink or a delay of the fake Stripe is SIGSTOP, then SIGCONT some seconds later: connections
are still accepted (into the kernel's backlog) but nothing is answered meanwhile. A stall of the webhook receiver
(in this process) holds every request it gets until the stall ends.

Exits 1 if an invariant is violated (after any fault, or at the end), a request got a 500 (or a service logged
an unhandled error), a fault did not recover, a paid booking did not end as its customer left it, or an email
or webhook never arrived."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import stripe
from aiohttp import web
from redis.exceptions import RedisError

from services.booking import api_keys
from services.booking.domain import MAX_AVAILABILITY_DAYS
from services.booking.seed import stable_id
from services.payments.settings import PaymentsSettings
from services.payments.voucher_service import CodeKeys
from shared import invariants
from shared.config import load_settings
from tests.support.booking import CLINIC, TREATMENT, booking_body, hold_body
from tests.support.infra import (
    PrivatePostgres,
    PrivateRedis,
    clone_database,
    create_template_database,
    database_url,
    free_port,
    wait_for,
)
from tests.support.payments import customer_pays
from tests.support.stack import HTTP_SERVICES, Stack, stack_env
from tests.support.vouchers import purchase_body

LOOPBACK = "127.0.0.1"
# Every process of ours (a fault of that name kill -9s it); the dev fakes (Stripe, SMTP sink) stand for the outside
# world and keep their state in memory, so they are stalled, never killed.
PROCESSES = (
    "gateway",
    "booking",
    "payments",
    "notifications",
    "web",
    "booking-relay",
    "payments-relay",
    "booking-consumer",
    "payments-consumer",
    "notifications-consumer",
    "celery-worker",
    "celery-beat",
)
REDIS = "redis"  # restarted empty
POSTGRES = "postgres"  # crashed (immediate stop) and started again
SMTP_STALL = "smtp-stall"  # the SMTP sink SIGSTOPped for the stall's length
WEBHOOK_STALL = "webhook-stall"  # the clinic's webhook receiver answers nothing for the stall's length
STRIPE_DELAY = "stripe-delay"  # the fake Stripe SIGSTOPped for the stall's length
STALLED_PROCESS = {SMTP_STALL: "smtp-sink", STRIPE_DELAY: "fake-stripe"}
STALLS = (SMTP_STALL, WEBHOOK_STALL, STRIPE_DELAY)
ALL_FAULTS = (*PROCESSES, REDIS, POSTGRES, *STALLS)
POSTGRES_DOWN = 2.0  # seconds without a PostgreSQL server between its crash and its start
RESTART_DELAY = 1.0  # seconds before a dead process is started again (a pod's first back-off)
SUPERVISE_INTERVAL = 0.2
RECOVERY_TIMEOUT = 90.0  # a fault not recovered from by then is a failure
# After each fault the checker counts work in flight older than `fault_settle` seconds, from that long after the
# fault ended (so what the fault interrupted is counted); a violation still there this much later is a failure.
FAULT_CHECK_WINDOW = 60.0
STEP_TIMEOUT = 60.0  # a customer waits this long at most for a confirmation or an issued voucher
JOURNEYS_DRAIN_TIMEOUT = 90.0
SETTLE_POLL = 2.0
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)
BLOCKED = timedelta(minutes=75)  # the demo's 60-minute deep tissue treatment and its 15-minute buffer
HORIZON_DAYS = 58  # inside the demo clinic's 60-day booking horizon
FULL_VOUCHER, PART_VOUCHER = 6500, 4000  # pays the whole treatment; pays part, the rest by card
# A Stripe webhook lost while the gateway or payments is down is made good by the reconciler: sooner than in
# production (180 s / 60 s), so within the run's settle time.
CHAOS_ENV = {"RECONCILE_AFTER": "5", "RECONCILE_INTERVAL": "2"}
# What the e2e stack fixture also looks for: an error no rule answered (a 500), or a value only the database refused.
UNHANDLED = ('"unhandled error"', '"value refused by the database"')
# What this runner's own reads meet while PostgreSQL (or Redis) restarts: it asks again.
DB_DOWN = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
CHECKER_DOWN = (*DB_DOWN, RedisError)


def say(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def assert_loopback(url: str) -> str:
    if urlsplit(url).hostname != LOOPBACK:
        raise RuntimeError(f"refusing to send anything but to {LOOPBACK}: {url}")
    return url


@dataclass(frozen=True)
class Options:
    duration: float = 180.0  # seconds of load; the faults are spread evenly over it
    rate: float = 1.5  # customer journeys started per second
    concurrency: int = 12  # journeys under way at most
    faults: tuple[str, ...] = ALL_FAULTS
    settle: float = 120.0  # seconds at most for the work in flight to finish after the load
    stall: float = 10.0  # seconds each stall or delay lasts (below the 15 s SMTP/webhook client timeouts)
    fault_settle: float = 10.0  # the checker's allowance for work in flight, after each fault


def parse_args(argv: list[str] | None = None) -> Options:
    env, d = os.environ, Options()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=float(env.get("CHAOS_DURATION", d.duration)),
        help="seconds of load with faults (env CHAOS_DURATION)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=float(env.get("CHAOS_RATE", d.rate)),
        help="customer journeys started per second (env CHAOS_RATE)",
    )
    parser.add_argument(
        "--faults",
        default=env.get("CHAOS_FAULTS", ",".join(d.faults)),
        help=f"comma-separated, in order (env CHAOS_FAULTS); any of {', '.join(ALL_FAULTS)}",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=float(env.get("CHAOS_SETTLE", d.settle)),
        help="seconds at most to wait for work in flight after the load (env CHAOS_SETTLE)",
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=float(env.get("CHAOS_STALL", d.stall)),
        help=f"seconds each of {', '.join(STALLS)} lasts (env CHAOS_STALL)",
    )
    parser.add_argument(
        "--fault-settle",
        type=float,
        default=float(env.get("CHAOS_FAULT_SETTLE", d.fault_settle)),
        help="seconds work in flight may take before the checker run after each fault counts it "
        "(env CHAOS_FAULT_SETTLE)",
    )
    args = parser.parse_args(argv)
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    if unknown := set(faults) - set(ALL_FAULTS):
        parser.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
    return Options(
        duration=args.duration,
        rate=args.rate,
        faults=faults,
        settle=args.settle,
        stall=args.stall,
        fault_settle=args.fault_settle,
    )


# --- the stack ---------------------------------------------------------------------------------------------


@dataclass
class Rig:
    """What the faults act on: the stack's processes, its Redis, its PostgreSQL cluster, and its database."""

    stack: Stack
    redis: PrivateRedis
    postgres: PrivatePostgres
    db_url: str


@asynccontextmanager
async def chaos_stack(workdir: Path) -> AsyncIterator[Rig]:
    """A private PostgreSQL cluster with a migrated template database and a clone of it, a private Redis and every
    Procfile process on that clone; all stopped and deleted on leaving."""
    postgres, redis, stack = PrivatePostgres(), None, None
    try:
        await asyncio.to_thread(postgres.start)
        assert_loopback(postgres.admin_url)
        template = await create_template_database(postgres.admin_url)
        url = assert_loopback(database_url(await clone_database(template, postgres.admin_url), postgres.admin_url))
        (workdir / "redis").mkdir(parents=True, exist_ok=True)
        redis = PrivateRedis(workdir / "redis")
        redis.start()
        stack = Stack({**stack_env(url, assert_loopback(redis.url), workdir), **CHAOS_ENV}, workdir)
        assert_loopback(stack.url())
        stack.start()
        await asyncio.to_thread(stack.wait_healthy)
        yield Rig(stack, redis, postgres, url)
    finally:
        if stack is not None:
            for name in STALLED_PROCESS.values():  # a stopped process would take SIGTERM only once continued
                with contextlib.suppress(OSError):
                    stack.send_signal(name, signal.SIGCONT)
            await asyncio.to_thread(stack.stop_all)
        if redis is not None:
            redis.stop()
        if postgres.root is not None and postgres.logfile.exists():  # kept with the processes' logs
            shutil.copyfile(postgres.logfile, workdir / "postgres.log")
        await asyncio.to_thread(postgres.destroy)  # the cluster, its databases and its folder


class Supervisor:
    """Starts again any process of ours that exits, after a short delay, as Kubernetes restarts a container
    (honcho would stop the whole stack instead). Exits it did not cause are counted as unexpected."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.killing: set[str] = set()
        self.restarts: Counter = Counter()
        self.unexpected: Counter = Counter()

    def kill(self, name: str) -> None:
        self.killing.add(name)
        self.stack.send_signal(name, signal.SIGKILL)  # the whole process group: a pod killed, children too

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for name in PROCESSES:
                if self.stack.procs[name].poll() is not None:
                    await self._restart(name)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), SUPERVISE_INTERVAL)

    async def _restart(self, name: str) -> None:
        if name in self.killing:
            self.killing.discard(name)
        else:
            self.unexpected[name] += 1
            say(f"{name} exited by itself (exit code {self.stack.procs[name].returncode}); restarting it")
        await asyncio.sleep(RESTART_DELAY)
        self.stack.start(name)
        self.restarts[name] += 1


# --- customers -----------------------------------------------------------------------------------------------


class Gateway:
    """The public API as a customer uses it; every answer is tallied by what was asked and how it went."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, tally: Counter, label: str = ""):
        self.session, self.base_url, self.tally, self.label = session, assert_loopback(base_url), tally, label

    def note(self, what: str, outcome: object) -> None:
        self.tally[(f"{self.label}{what}", str(outcome))] += 1

    async def call(self, method: str, path: str, what: str, **kwargs) -> tuple[int | None, dict]:
        try:
            async with self.session.request(method, self.base_url + path, **kwargs) as resp:
                body = await resp.json() if resp.content_type == "application/json" else {}
                code = body.get("error", {}).get("code") if resp.status >= 400 else None
                self.note(what, f"{resp.status} {code}" if code else resp.status)
                return resp.status, body
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self.note(what, type(exc).__name__)
            return None, {}

    async def post(self, path: str, what: str, body: dict, **kwargs) -> tuple[int | None, dict]:
        # Every create carries its own key, as a careful client would send it.
        return await self.call("POST", path, what, json=body, headers={"Idempotency-Key": str(uuid.uuid4())}, **kwargs)


class Receiver:
    """The clinic's webhook endpoint: counts the arrivals of each webhook-id, and notes when each booking's
    webhook was first answered 2xx. While stalled, it takes every request in (and counts it) but answers none
    until the stall ends; a sender that gave up meanwhile tries again later, under the same webhook-id."""

    def __init__(self) -> None:
        self.arrivals: Counter = Counter()
        self.first_seen: dict[str, float] = {}  # booking id -> time.monotonic() it was first answered 2xx
        self.answering = asyncio.Event()
        self.answering.set()

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.arrivals[request.headers.get("webhook-id", "")] += 1
        await self.answering.wait()
        if request.transport is not None and not request.transport.is_closing():  # the sender still waits
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                self.first_seen.setdefault(json.loads(body)["data"]["booking_id"], time.monotonic())
        return web.Response(text="ok")

    async def stall(self, seconds: float) -> None:
        self.answering.clear()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.answering.set()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, LOOPBACK, port).start()
        try:
            yield f"http://{LOOPBACK}:{port}/hook"
        finally:
            self.answering.set()
            await runner.cleanup()


@dataclass
class Run:
    stack: Stack
    session: aiohttp.ClientSession
    pool: asyncpg.Pool
    gateway: Gateway
    probe: Gateway  # the recovery probes' requests, tallied apart from the load's
    receiver: Receiver
    endpoint: str = ""  # the webhook endpoint's id
    slots: deque = field(default_factory=deque)
    # booking id -> (manage token, the statuses it may end in as its customer left it)
    paid: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    journeys: Counter = field(default_factory=Counter)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    message_ids: dict[str, str | None] = field(default_factory=dict)  # SMTP sink file name -> its Message-ID

    @property
    def stripe_url(self) -> str:
        return assert_loopback(f"http://{LOOPBACK}:{self.stack.env['FAKE_STRIPE_PORT']}")

    def email(self, who: object) -> str:
        return f"chaos-{self.tag}-{who}@example.com"


async def free_starts(gateway: Gateway, first: date, days: int) -> list[tuple[str, str]]:
    """(therapist, start) of the demo clinic's deep tissue treatment, soonest first, none of one therapist
    overlapping another, so that every hold can succeed."""
    slots = []
    for offset in range(0, days, MAX_AVAILABILITY_DAYS):
        frm = first + timedelta(days=offset)
        to = min(first + timedelta(days=days - 1), frm + timedelta(days=MAX_AVAILABILITY_DAYS - 1))
        status, body = await gateway.call(
            "GET",
            f"/api/v1/clinics/{CLINIC}/availability",
            "availability",
            params={"treatment": TREATMENT, "from": frm.isoformat(), "to": to.isoformat()},
        )
        if status != 200:
            raise RuntimeError(f"availability answered {status}")
        slots += [(s["therapist"]["id"], datetime.fromisoformat(s["start"]), s["start"]) for s in body["slots"]]
    chosen, free_from = [], {}
    for therapist, start, text in sorted(slots):
        if start >= free_from.get(therapist, start):
            chosen.append((start, therapist, text))
            free_from[therapist] = start + BLOCKED
    return [(therapist, text) for _, therapist, text in sorted(chosen)]


def token_of(booking: dict) -> str:
    return booking["manage_url"].split("token=", 1)[1]


async def book(run: Run, email: str, gateway: Gateway | None = None, last: bool = False, **extra) -> dict | None:
    """Hold the soonest free slot (the `last` one: for a customer who will cancel, outside the clinic's
    change window) and book it; None if either step failed."""
    gateway = gateway or run.gateway
    if not run.slots:
        run.journeys["no free slot left"] += 1
        return None
    therapist, start = slot = run.slots.pop() if last else run.slots.popleft()
    status, held = await gateway.post("/api/v1/holds", "hold", hold_body(start, therapist=therapist))
    if status != 201:
        if status != 409:  # nothing was held: the next customer may try it
            (run.slots.append if last else run.slots.appendleft)(slot)
        return None
    status, booking = await gateway.post("/api/v1/bookings", "book", booking_body(held["id"], email, **extra))
    return booking if status == 201 else None


async def pay_intent(gateway: Gateway, stripe_url: str, intent: str) -> str:
    try:
        outcome = await customer_pays(stripe_url, intent)
    except stripe.StripeError as exc:
        outcome = type(exc).__name__
    gateway.note("stripe: pay", outcome)
    return outcome


async def pay(run: Run, booking: dict, gateway: Gateway | None = None) -> bool:
    """Pay what the booking leaves to the card, if anything; from then on it must end confirmed."""
    intent = (booking.get("payment") or {}).get("stripe_payment_intent")
    if intent and await pay_intent(gateway or run.gateway, run.stripe_url, intent) != "succeeded":
        return False
    run.paid[booking["id"]] = (token_of(booking), frozenset({"confirmed"}))
    return True


async def status_of(run: Run, booking_id: str, gateway: Gateway | None = None) -> str | None:
    token = run.paid[booking_id][0]
    status, body = await (gateway or run.gateway).call(
        "GET", f"/api/v1/bookings/{booking_id}", "booking status", params={"token": token}
    )
    return body.get("status") if status == 200 else None


async def confirmed(run: Run, booking_id: str, gateway: Gateway | None = None) -> bool:
    return await status_of(run, booking_id, gateway) == "confirmed"


async def cancel_when_confirmed(run: Run, booking_id: str) -> None:
    try:
        await wait_for(lambda: confirmed(run, booking_id), timeout=STEP_TIMEOUT, interval=0.5, what="confirmation")
    except AssertionError:
        run.journeys["not confirmed in time to cancel"] += 1
        return
    token = run.paid[booking_id][0]
    status, _ = await run.gateway.post(f"/api/v1/bookings/{booking_id}/cancel", "cancel", {"token": token})
    if status == 200:
        run.paid[booking_id] = (token, frozenset({"cancelled"}))
    elif status is None or status >= 500:  # it may have happened all the same
        run.paid[booking_id] = (token, frozenset({"confirmed", "cancelled"}))


async def card_journey(run: Run, n: int, cancel: bool) -> None:
    booking = await book(run, run.email(n), last=cancel)
    if booking is not None and await pay(run, booking) and cancel:
        await cancel_when_confirmed(run, booking["id"])


async def issued_code(run: Run, voucher_id: str) -> str | None:
    """The code the recipient's email will carry on the delivery date (tomorrow): read and decrypted with the
    stack's own key, since no customer of this run can wait for that email."""

    async def code() -> str | None:
        try:
            return await run.pool.fetchval(
                "SELECT code_ciphertext FROM payments.vouchers WHERE id = $1 AND issued_at IS NOT NULL",
                uuid.UUID(voucher_id),
            )
        except DB_DOWN:  # PostgreSQL restarting: ask again
            return None

    try:
        token = await wait_for(code, timeout=STEP_TIMEOUT, interval=0.5, what="the voucher issued")
    except AssertionError:
        return None
    return CodeKeys(load_settings(PaymentsSettings, run.stack.env).voucher_code_key).decrypt(token)


async def voucher_journey(run: Run, n: int, amount: int) -> None:
    """A gift voucher bought and paid by card, then spent on a booking (the rest, if any, by card)."""
    body = purchase_body(
        amount={"amount": amount, "currency": "GBP"}, buyer={"name": "Ada Lovelace", "email": run.email(f"{n}-buyer")}
    )
    status, voucher = await run.gateway.post("/api/v1/vouchers", "buy voucher", body)
    if (
        status != 201
        or await pay_intent(run.gateway, run.stripe_url, voucher["payment"]["stripe_payment_intent"]) != "succeeded"
    ):
        return
    if (code := await issued_code(run, voucher["id"])) is None:
        run.journeys["voucher not issued in time"] += 1
        return
    booking = await book(run, run.email(n), voucher_code=code)
    if booking is not None:
        await pay(run, booking)


def journey_for(n: int) -> tuple[str, Callable[[Run, int], Awaitable[None]]]:
    """Of every ten customers: two pay with a voucher (one in full, one in part), two cancel after paying."""
    step = n % 10
    if step in (2, 7):
        amount = FULL_VOUCHER if step == 2 else PART_VOUCHER
        return "voucher", lambda run, n: voucher_journey(run, n, amount)
    return (
        ("card, then cancel", lambda run, n: card_journey(run, n, cancel=True))
        if step in (4, 9)
        else ("card", lambda run, n: card_journey(run, n, cancel=False))
    )


async def one_journey(run: Run, n: int, gate: asyncio.Semaphore) -> None:
    kind, journey = journey_for(n)
    run.journeys[kind] += 1
    try:
        await journey(run, n)
    except Exception as exc:  # a bug of this runner: counted and shown, the load goes on
        run.journeys[f"runner error: {type(exc).__name__}"] += 1
        say("".join(traceback.format_exception(exc))[-2000:])
    finally:
        gate.release()


async def drive_load(run: Run, options: Options, stop: asyncio.Event) -> None:
    """A new customer every 1/rate seconds (fewer if `concurrency` are still under way) until `stop`."""
    gate, under_way = asyncio.Semaphore(options.concurrency), set()
    most = int(options.duration * options.rate * 1.5) + 10
    for n in range(most):
        if stop.is_set() or not run.slots:
            break
        await gate.acquire()
        task = asyncio.create_task(one_journey(run, n, gate))
        under_way.add(task)
        task.add_done_callback(under_way.discard)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1 / options.rate)
    if under_way:
        _, late = await asyncio.wait(set(under_way), timeout=JOURNEYS_DRAIN_TIMEOUT)
        for task in late:
            task.cancel()
            run.journeys["cut short at the end"] += 1


# --- faults and recovery ----------------------------------------------------------------------------------------


@dataclass
class Recovery:
    """Seconds from the fault until each step of a probe customer's path worked again (None: not in time), and
    what the invariant checker found once the work in flight at the fault's end had had its settle time."""

    fault: str
    lasted: float = 0.0  # the fault itself: a restart's time without the server, a stall's length
    ready: float | None = None  # the gateway's /readyz (and the killed service's own, or all) answer 200
    booked: float | None = None  # a hold and a booking through the gateway answer 201
    confirmed: float | None = None  # paid by card, it is confirmed (Stripe webhook, relay, consumers)
    emailed: float | None = None  # its confirmation email is in the SMTP sink (relay, consumer, Celery)
    webhooked: float | None = None  # its booking.created webhook reached the clinic's receiver (Celery)
    findings: list[invariants.Finding] | None = None  # the checker's last answer after the fault (None: none)
    clean_after: float | None = None  # seconds from the fault's end until the checker found nothing

    @property
    def recovered(self) -> bool:
        return self.emailed is not None and self.webhooked is not None

    @property
    def violations(self) -> int:
        return sum(f.count for f in self.findings or ())


async def is_ready(run: Run, fault: str) -> bool:
    services = HTTP_SERVICES if fault == POSTGRES else ["gateway"] + ([fault] if fault in HTTP_SERVICES else [])
    for service in services:
        try:
            async with run.session.get(f"{run.stack.url(service)}/readyz") as resp:
                if resp.status != 200:
                    return False
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False
    return True


def _head(path: Path) -> bytes:
    return path.read_bytes().split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]


def _maildir_files(maildir: Path) -> list[Path]:
    return [path for folder in ("new", "cur") if (maildir / folder).is_dir() for path in (maildir / folder).iterdir()]


def mail_arrived(maildir: Path, address: str) -> bool:
    """Is the confirmation email to `address` in the SMTP sink's Maildir? (Headers only; no parsing of all.)"""
    wanted = (address.encode(), b"X-Clinic-Email-Kind: booking_confirmed")
    for path in _maildir_files(maildir):
        with contextlib.suppress(OSError):
            if all(w in _head(path) for w in wanted):
                return True
    return False


def confirmation_copies(run: Run) -> Counter:
    """The confirmation emails in the SMTP sink, counted by Message-ID (its local part: the emails row's id).
    Each file is read once (a Maildir file never changes; only its folder and flags may)."""
    for path in _maildir_files(Path(run.stack.env["MAILBOX_DIR"])):
        name = path.name.split(":", 1)[0]
        if name in run.message_ids:
            continue
        try:
            head = _head(path).decode("ascii", "replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in head.splitlines() if ":" in line and line[:1] not in " \t")
        fields = {key.strip().lower(): value.strip() for key, value in fields.items()}
        confirmation = fields.get("x-clinic-email-kind") == "booking_confirmed"
        run.message_ids[name] = fields.get("message-id", "").strip("<>").split("@", 1)[0] if confirmation else None
    return Counter(mid for mid in run.message_ids.values() if mid)


async def measure_recovery(run: Run, fault: str, injected_at: float) -> Recovery:
    found, email = Recovery(fault), run.email(f"probe-{fault}")
    deadline = injected_at + RECOVERY_TIMEOUT
    maildir = Path(run.stack.env["MAILBOX_DIR"])

    async def until(check: Callable[[], Awaitable[object]], what: str) -> object:
        return await wait_for(check, timeout=max(0.0, deadline - time.monotonic()), interval=0.25, what=what)

    async def delivered() -> bool:
        if found.emailed is None and await asyncio.to_thread(mail_arrived, maildir, email):
            found.emailed = time.monotonic() - injected_at
        if found.webhooked is None and (at := run.receiver.first_seen.get(booking["id"])) is not None:
            found.webhooked = max(0.0, at - injected_at)
        return found.emailed is not None and found.webhooked is not None

    try:
        await until(lambda: is_ready(run, fault), "readiness")
        found.ready = time.monotonic() - injected_at
        booking = await until(lambda: book(run, email, gateway=run.probe), "a probe booking")
        found.booked = time.monotonic() - injected_at
        await until(lambda: pay(run, booking, gateway=run.probe), "the probe's card payment")
        await until(lambda: confirmed(run, booking["id"], gateway=run.probe), "the probe confirmed")
        found.confirmed = time.monotonic() - injected_at
        await until(delivered, "the probe's email and webhook")
    except AssertionError as exc:
        say(f"{fault}: {exc}")
    return found


async def _stall_process(stack: Stack, name: str, seconds: float) -> float:
    """SIGSTOP (the whole process group) for `seconds`, then SIGCONT; returns when it ended (monotonic)."""
    stack.send_signal(name, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        stack.send_signal(name, signal.SIGCONT)
    return time.monotonic()


async def _stall_receiver(receiver: Receiver, seconds: float) -> float:
    await receiver.stall(seconds)
    return time.monotonic()


def _over() -> asyncio.Future:
    over = asyncio.get_running_loop().create_future()
    over.set_result(time.monotonic())
    return over


async def inject(fault: str, run: Run, rig: Rig, supervisor: Supervisor, options: Options) -> asyncio.Future:
    """Starts `fault`; what it returns resolves (to time.monotonic()) when the fault is over: a stall goes on in
    the background for `options.stall` seconds, anything else is over when this returns."""
    if fault == REDIS:
        await asyncio.to_thread(rig.redis.restart)  # killed and started empty, as Redis runs here
    elif fault == POSTGRES:
        await asyncio.to_thread(rig.postgres.restart, POSTGRES_DOWN)
    elif fault == WEBHOOK_STALL:
        return asyncio.create_task(_stall_receiver(run.receiver, options.stall))
    elif fault in STALLED_PROCESS:
        return asyncio.create_task(_stall_process(rig.stack, STALLED_PROCESS[fault], options.stall))
    else:
        supervisor.kill(fault)
    return _over()


async def check_after(run: Run, found: Recovery, fault_over: float, options: Options) -> None:
    """The invariant checker after a fault: from `fault_settle` seconds after its end, counting work in flight
    older than that (so what the fault interrupted counts), and again every SETTLE_POLL seconds until it finds
    nothing; what it still finds FAULT_CHECK_WINDOW seconds later is violated."""
    env = run.stack.env
    await asyncio.sleep(max(0.0, fault_over + options.fault_settle - time.monotonic()))
    deadline = time.monotonic() + FAULT_CHECK_WINDOW
    while True:
        try:
            found.findings = await invariants.check(
                env["DATABASE_URL"], env["REDIS_URL"], env["REDIS_PREFIX"], settle=options.fault_settle
            )
        except CHECKER_DOWN as exc:  # another fault under way (PostgreSQL or Redis restarting)
            say(f"{found.fault}: the checker could not run ({type(exc).__name__}); trying again")
        else:
            if not found.violations:
                found.clean_after = time.monotonic() - fault_over
                say(f"{found.fault}: the checker finds no violation ({found.clean_after:.1f}s after the fault ended)")
                return
        if time.monotonic() > deadline:
            say(
                f"{found.fault}: "
                + (
                    f"the checker finds {found.violations} violation(s):\n" + invariants.report(found.findings)
                    if found.findings is not None
                    else "the checker could not run"
                )
            )
            return
        await asyncio.sleep(SETTLE_POLL)


async def inject_faults(
    run: Run, rig: Rig, supervisor: Supervisor, options: Options, checks: list[asyncio.Task]
) -> list[Recovery]:
    """Each fault in turn, evenly spread over the run, the next only once the last one was recovered from and
    is over; the checker after each runs in the background (its task added to `checks`)."""
    gap, began, recoveries = options.duration / (len(options.faults) + 1), time.monotonic(), []
    for i, fault in enumerate(options.faults):
        await asyncio.sleep(max(0.0, began + gap * (i + 1) - time.monotonic()))  # pacing, not waiting on state
        injected_at = time.monotonic()
        ongoing = await inject(fault, run, rig, supervisor, options)
        found = await measure_recovery(run, fault, injected_at)
        fault_over = await ongoing
        found.lasted = fault_over - injected_at if fault in (REDIS, POSTGRES, *STALLS) else 0.0
        recoveries.append(found)
        say(f"{fault}: " + recovery_line(found))
        checks.append(asyncio.create_task(check_after(run, found, fault_over, options)))
    return recoveries


# --- settling and the verdict -----------------------------------------------------------------------------------


async def paid_not_as_left(run: Run, suspects: set[str]) -> set[str]:
    """The paid bookings among `suspects` whose status is not (yet) what their customers left them in."""
    return {bid for bid in suspects if await status_of(run, bid) not in run.paid[bid][1]}


@dataclass
class Arrivals:
    """Every confirmation email in the SMTP sink and every booking.created delivery at the clinic's endpoint:
    what has not arrived (by emails row id, by webhook-id), and second copies of one (a redelivery, not a
    second email or webhook: the receiver drops it by its Message-ID or webhook-id)."""

    emails: int = 0
    emails_missing: set[str] = field(default_factory=set)
    email_copies: int = 0
    webhooks: int = 0
    webhooks_missing: set[str] = field(default_factory=set)
    webhook_copies: int = 0

    @property
    def complete(self) -> bool:
        return not self.emails_missing and not self.webhooks_missing


async def arrivals(run: Run) -> Arrivals:
    emails = {
        r[0] for r in await run.pool.fetch("SELECT id::text FROM notifications.emails WHERE kind = 'booking_confirmed'")
    }
    deliveries = {
        r[0]
        for r in await run.pool.fetch(
            "SELECT id::text FROM notifications.webhook_deliveries WHERE endpoint_id = $1", uuid.UUID(run.endpoint)
        )
    }
    copies, hooks = await asyncio.to_thread(confirmation_copies, run), run.receiver.arrivals
    return Arrivals(
        len(emails),
        emails - copies.keys(),
        sum(copies.values()) - len(copies),
        len(deliveries),
        deliveries - hooks.keys(),
        sum(hooks[d] for d in deliveries if d in hooks) - len(deliveries & hooks.keys()),
    )


async def settle(run: Run, options: Options) -> tuple[list[invariants.Finding], set[str], Arrivals, float]:
    """Poll until every paid booking is as its customer left it, every email and webhook has arrived and no
    invariant is violated, or time is up."""
    began, deadline = time.monotonic(), time.monotonic() + options.settle
    env, suspects = run.stack.env, set(run.paid)
    while True:
        suspects = await paid_not_as_left(run, suspects)
        arrived = await arrivals(run)
        findings = await invariants.check(env["DATABASE_URL"], env["REDIS_URL"], env["REDIS_PREFIX"], settle=0)
        if (not suspects and arrived.complete and not any(f.count for f in findings)) or time.monotonic() > deadline:
            return findings, suspects, arrived, time.monotonic() - began
        await asyncio.sleep(SETTLE_POLL)


@dataclass
class Result:
    options: Options
    seconds: float
    requests: Counter
    journeys: Counter
    recoveries: list[Recovery]
    restarts: Counter
    unexpected_exits: Counter
    paid: int
    not_as_left: set[str]
    arrivals: Arrivals
    findings: list[invariants.Finding]
    settled_in: float
    unhandled_errors: dict[str, int]

    @property
    def status_500(self) -> int:
        return sum(n for (_, outcome), n in self.requests.items() if outcome.split()[0] == "500")

    @property
    def failures(self) -> list[str]:
        reasons = []
        if violations := sum(f.count for f in self.findings):
            reasons.append(f"{violations} invariant violation(s) at the end")
        if after := [f"{r.fault} ({r.violations})" for r in self.recoveries if r.violations]:
            reasons.append(f"invariant violation(s) after a fault: {', '.join(after)}")
        if unchecked := [r.fault for r in self.recoveries if r.findings is None]:
            reasons.append(f"the checker could not run after: {', '.join(unchecked)}")
        if self.status_500:
            reasons.append(f"{self.status_500} request(s) answered 500")
        if logged := sum(self.unhandled_errors.values()):
            reasons.append(f"{logged} unhandled error(s) logged")
        if late := [r.fault for r in self.recoveries if not r.recovered]:
            reasons.append(f"not recovered within {RECOVERY_TIMEOUT:.0f}s: {', '.join(late)}")
        if self.not_as_left:
            reasons.append(f"{len(self.not_as_left)} paid booking(s) not as their customers left them")
        if self.arrivals.emails_missing:
            reasons.append(f"{len(self.arrivals.emails_missing)} confirmation email(s) never reached the SMTP sink")
        if self.arrivals.webhooks_missing:
            reasons.append(
                f"{len(self.arrivals.webhooks_missing)} booking.created webhook(s) never reached the receiver"
            )
        if not self.paid:
            reasons.append("no booking was paid: the load did not run")
        return reasons


async def subscribe(run: Run, url: str) -> str:
    """The demo clinic subscribes `url` to booking.created, with an API key of its own; returns the endpoint's id."""
    key, prefix = api_keys.generate()
    await run.pool.execute(
        "INSERT INTO booking.api_keys (id, clinic_id, prefix, key_hash, name) VALUES ($1, $2, $3, $4, 'chaos')",
        uuid.uuid4(),
        stable_id(CLINIC),
        prefix,
        api_keys.digest(key),
    )
    status, body = await run.gateway.call(
        "POST",
        "/api/v1/clinic/webhook-endpoints",
        "register webhook endpoint",
        json={"url": url, "events": ["booking.created"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    if status != 201:
        raise RuntimeError(f"registering the webhook endpoint answered {status}: {body}")
    return body["id"]


def unhandled_errors(stack: Stack) -> dict[str, int]:
    return {name: n for name in HTTP_SERVICES if (n := sum(stack.log(name).count(m) for m in UNHANDLED))}


async def load_with_faults(
    run: Run, rig: Rig, supervisor: Supervisor, options: Options, checks: list[asyncio.Task]
) -> list[Recovery]:
    """The load for `duration` seconds, the faults spread over it; returns once the load has stopped."""
    stop_load, began = asyncio.Event(), time.monotonic()
    load = asyncio.create_task(drive_load(run, options, stop_load))
    try:
        recoveries = await inject_faults(run, rig, supervisor, options, checks)
        await asyncio.sleep(max(0.0, began + options.duration - time.monotonic()))  # the rest of the run
    finally:
        stop_load.set()
        await load
    return recoveries


async def run_chaos(rig: Rig, options: Options) -> Result:
    """Load, faults, settling and the checks, on a stack already started (see chaos_stack)."""
    began, tally, receiver, stack = time.monotonic(), Counter(), Receiver(), rig.stack
    supervisor, stop_supervising, checks = Supervisor(stack), asyncio.Event(), []
    async with (
        aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session,
        asyncpg.create_pool(rig.db_url, min_size=0, max_size=4) as pool,
        receiver.serving() as hook_url,
    ):
        run = Run(
            stack,
            session,
            pool,
            Gateway(session, stack.url(), tally),
            Gateway(session, stack.url(), tally, "probe: "),
            receiver,
        )
        run.endpoint = await subscribe(run, hook_url)
        today = datetime.now(timezone.utc).date()
        run.slots.extend(await free_starts(run.gateway, today + timedelta(days=1), HORIZON_DAYS))
        say(
            f"stack ready; {len(run.slots)} free slots; {options.duration:.0f}s of load at {options.rate}/s, "
            f"faults: {', '.join(options.faults)}"
        )
        supervising = asyncio.create_task(supervisor.run(stop_supervising))
        try:
            recoveries = await load_with_faults(run, rig, supervisor, options, checks)
            say("load stopped; waiting for the work in flight to settle")
            findings, not_as_left, arrived, settled_in = await settle(run, options)
            await asyncio.gather(*checks)
        finally:
            for check in checks:
                check.cancel()
            stop_supervising.set()
            await supervising
    return Result(
        options,
        time.monotonic() - began,
        tally,
        run.journeys,
        recoveries,
        supervisor.restarts,
        supervisor.unexpected,
        len(run.paid),
        not_as_left,
        arrived,
        findings,
        settled_in,
        unhandled_errors(stack),
    )


# --- the report ------------------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return f"{value:6.1f}s" if value is not None else "   n/a "


def recovery_line(r: Recovery) -> str:
    return (
        f"lasted {_seconds(r.lasted)}  ready {_seconds(r.ready)}  booked {_seconds(r.booked)}  "
        f"confirmed {_seconds(r.confirmed)}  emailed {_seconds(r.emailed)}  webhook {_seconds(r.webhooked)}"
    )


def check_line(r: Recovery) -> str:
    if r.findings is None:
        return "checker: not run"
    if not r.violations:
        return f"checker: 0 violations (clean {r.clean_after:.1f}s after the fault)"
    return "checker: " + "; ".join(f"{f.count} x {f.name}" for f in r.findings if f.count)


def render(result: Result) -> str:
    a = result.arrivals
    lines = [
        f"chaos run: {result.seconds:.0f}s in all, {result.options.duration:.0f}s of load at "
        f"{result.options.rate}/s; {len(result.recoveries)} faults injected",
        "",
        "customer journeys started:",
    ]
    lines += [f"  {n:6d}  {kind}" for kind, n in sorted(result.journeys.items())]
    lines += ["", "requests sent (by outcome):"]
    lines += [f"  {n:6d}  {what:32s} {outcome}" for (what, outcome), n in sorted(result.requests.items())]
    lines += [
        "",
        "faults (seconds from the fault until each step of a probe booking worked again; then the "
        f"invariant checker, counting work in flight older than {result.options.fault_settle:g}s):",
    ]
    lines += [f"  {r.fault:24s} {recovery_line(r)}\n  {'':24s} {check_line(r)}" for r in result.recoveries]
    unexpected = ", ".join(f"{k} x{n}" for k, n in result.unexpected_exits.items()) or "none"
    lines += [
        f"restarts by the supervisor: {sum(result.restarts.values())}; exits nobody caused: {unexpected}",
        f"paid bookings: {result.paid}; not as their customers left them: {len(result.not_as_left)}"
        + (f" (e.g. {', '.join(sorted(result.not_as_left)[:3])})" if result.not_as_left else ""),
        f"confirmation emails: {a.emails}; not in the SMTP sink: {len(a.emails_missing)}; "
        f"second copies of a Message-ID: {a.email_copies}",
        f"booking.created webhooks: {a.webhooks}; not received: {len(a.webhooks_missing)}; "
        f"redeliveries of a webhook-id: {a.webhook_copies}",
        f"unhandled errors in the service logs: {result.unhandled_errors or 'none'}",
        f"settled in {result.settled_in:.1f}s; the invariant checker says:",
        invariants.report(result.findings),
        "",
        "verdict: " + ("OK" if not result.failures else "FAILED: " + "; ".join(result.failures)),
    ]
    return "\n".join(lines)


async def run_from_scratch(options: Options, workdir: Path) -> Result:
    """A private PostgreSQL cluster, Redis and stack, the run; everything stopped and deleted afterwards."""
    async with chaos_stack(workdir) as rig:
        return await run_chaos(rig, options)


async def _main(options: Options, workdir: Path) -> Result:
    # SIGTERM ends the run as Ctrl-C does: the stack and the PostgreSQL cluster are stopped on the way out.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    return await run_from_scratch(options, workdir)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="clinic-chaos-"))
    try:
        result = asyncio.run(_main(options, workdir))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say(f"interrupted; the processes' logs are in {workdir}")
        return 130
    print(render(result))
    if result.failures:
        say(f"the processes' logs are kept in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0
