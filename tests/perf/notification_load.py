"""The load of the notifications section: a clinic API key and a webhook endpoint registered through the
gateway's clinic API, bookings awaiting their card payment on synthetic therapists, and their
confirmations committed at a fixed rate from this process by the booking service's own code (the
booking consumer's handling of `payment.succeeded`: inbox row + service.on_payment_succeeded, i.e.
store.confirm_paid and the booking.confirmed outbox event of _announce_confirmed, in one transaction)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time
from typing import Any, Awaitable, Callable

from tests.perf.bench_database import Catalogue, insert_api_key, revoke_api_key
from tests.perf.harness import BenchContext, assert_loopback

ENDPOINTS_PATH = "/api/v1/clinic/webhook-endpoints"
NOTIFY_PREFIX = "bench-notify-"
NOTIFY_THERAPISTS = 20
# Synthetic bookings: from this many days ahead, 08:00-18:00 UTC starts 2 h apart (more than the 60-minute
# treatment plus its buffers), inside the therapists' 08:00-20:00 London hours whatever the UK offset.
NOTIFY_FIRST_DAY = 30
NOTIFY_FIRST_START = dt_time(8, 0)
NOTIFY_STEP = timedelta(hours=2)
NOTIFY_SLOTS_PER_DAY = 6
# The bookings await their payment this long (longer than the section runs), so none expires meanwhile.
PENDING_FOR = timedelta(hours=2)
# As the booking consumer's pool (shared.streams.serve): confirmations that overlap queue for these.
CONFIRM_POOL = 4


@dataclass(frozen=True)
class PendingBooking:
    id: uuid.UUID
    payment_id: uuid.UUID
    email: str


@dataclass
class Confirmation:
    booking: PendingBooking
    began: float  # time.time() when the handling started
    committed: float  # time.time() when its transaction had committed (the handler returned)


@dataclass
class PacedRun:
    confirmations: list[Confirmation]
    lateness_ms: list[float] = field(default_factory=list)  # start vs its slot in the fixed schedule
    errors: dict[str, int] = field(default_factory=dict)
    not_confirmed: int = 0  # bookings whose row is not 'confirmed' afterwards (set by the section)

    def achieved_rate(self) -> float | None:
        times = sorted(c.committed for c in self.confirmations)
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])


class ClinicApi:
    """The demo clinic's API through the gateway with a key inserted straight into the bench database
    (as tests/e2e/test_crash_recovery.py does); revoked again by `close`."""

    def __init__(self, ctx: BenchContext, http, key: str, key_id: uuid.UUID):
        self.ctx, self.http, self.key, self.key_id = ctx, http, key, key_id

    @classmethod
    async def create(cls, ctx: BenchContext, conn, http) -> ClinicApi:
        key, key_id = await insert_api_key(conn, "bench notifications")
        return cls(ctx, http, key, key_id)

    async def request(self, method: str, path: str, **kwargs) -> tuple[int, Any]:
        async with self.http.request(
            method, self.ctx.gateway_url(path), headers={"Authorization": f"Bearer {self.key}"}, **kwargs
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    async def register_endpoint(self, url: str) -> tuple[uuid.UUID, str]:
        """POST the webhook endpoint for booking.created; its id and `whsec_` secret."""
        status, body = await self.request(
            "POST",
            ENDPOINTS_PATH,
            json={"url": assert_loopback(url), "events": ["booking.created"], "description": "bench receiver"},
        )
        if status != 201 or not str(body.get("secret", "")).startswith("whsec_"):
            raise RuntimeError(f"registering the bench webhook endpoint answered {status}: {body}")
        return uuid.UUID(body["id"]), body["secret"]

    async def close(self, conn, endpoint_id: uuid.UUID | None) -> None:
        try:
            if endpoint_id is not None:
                status, body = await self.request("DELETE", f"{ENDPOINTS_PATH}/{endpoint_id}")
                if status not in (200, 204):
                    raise RuntimeError(f"deleting the bench webhook endpoint answered {status}: {body}")
        finally:
            await revoke_api_key(conn, self.key_id)


async def prepare_pending(
    conn, cat: Catalogue, therapists: list[uuid.UUID], count: int, tag: str
) -> list[PendingBooking]:
    """`count` bookings awaiting their card payment, as service.submit leaves them (store.insert_hold,
    then store.await_payment), each with a unique customer email. No events: the holds and the submit
    happened long before the payment, and their events are not what is measured."""
    from services.booking import store
    from services.booking.domain import Customer, new_hold

    now = datetime.now(timezone.utc)
    first = datetime.combine(now.date() + timedelta(days=NOTIFY_FIRST_DAY), NOTIFY_FIRST_START, tzinfo=timezone.utc)
    pending: list[PendingBooking] = []
    async with conn.transaction():
        for i in range(count):
            slot, t = divmod(i, len(therapists))
            day, k = divmod(slot, NOTIFY_SLOTS_PER_DAY)
            hold = new_hold(
                cat.clinic, cat.treatment, therapists[t], first + timedelta(days=day) + k * NOTIFY_STEP, now
            )
            await store.insert_hold(conn, hold, None)
            booking = PendingBooking(hold.id, uuid.uuid4(), f"notify-{tag}-{i}@example.com")
            await store.await_payment(
                conn, [hold.id], Customer(f"Bench Customer {i}", booking.email, None), None, now + PENDING_FOR
            )
            await store.attach_payment(conn, [hold.id], booking.payment_id)
            pending.append(booking)
    return pending


class Confirmer:
    """Confirms a pending booking as the booking consumer does when its `payment.succeeded` arrives:
    StreamConsumer.handle with the consumer's own handlers (inbox row + service.on_payment_succeeded,
    one transaction, on a pool like the consumer's)."""

    def __init__(self, pool, settings, clinic_id: uuid.UUID, amount: int, currency: str):
        from services.booking.consumer import GROUP, build_handlers
        from shared.streams import StreamConsumer

        # handle() uses only the pool; Redis is for reading the stream, which is skipped here.
        self.consumer = StreamConsumer(
            pool,
            None,
            prefix=settings.redis_prefix,
            group=GROUP,
            name="bench-confirmer",
            handlers=build_handlers(settings),
        )
        self.clinic_id, self.amount, self.currency = str(clinic_id), amount, currency

    async def confirm(self, booking: PendingBooking) -> Confirmation:
        from shared.events import Event

        event = Event(
            "payment.succeeded",
            {
                "payment_id": str(booking.payment_id),
                "purpose": "booking",
                "reference_id": str(booking.id),
                "amount": {"amount": self.amount, "currency": self.currency},
                "stripe_payment_intent": None,
            },
            clinic_id=self.clinic_id,
        )
        began = time.time()
        if not await self.consumer.handle(event):
            raise RuntimeError(f"payment.succeeded of booking {booking.id} was not handled")
        return Confirmation(booking, began, time.time())


async def paced(
    items: list[PendingBooking], rate: float, fn: Callable[[PendingBooking], Awaitable[Confirmation]]
) -> PacedRun:
    """Start `fn(item)` for item i at t0 + i/rate, on a fixed schedule: a slow one does not delay the
    next (they overlap, up to the pool), so the offered rate stays `rate`."""
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    tasks, lateness = [], []
    for i, item in enumerate(items):
        due = t0 + i / rate
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        lateness.append((loop.time() - due) * 1000.0)
        tasks.append(asyncio.create_task(fn(item)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    run = PacedRun([r for r in results if isinstance(r, Confirmation)], lateness)
    for r in results:
        if isinstance(r, BaseException):
            name = type(r).__name__
            run.errors[name] = run.errors.get(name, 0) + 1
    return run


@dataclass
class QueueSample:
    t_s: float  # seconds since sampling began
    stream_unread: int | None  # booking.* entries not yet read by the notifications consumer group (lag)
    stream_pending: int | None  # read but not acked
    celery_queue: int | None  # tasks waiting in the Celery broker's queue


LOCK_WAITS_QUERY = """
SELECT application_name, wait_event_type || ':' || wait_event AS wait,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS query
FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


class QueueDepths:
    """Where work waits, sampled every `interval` s: from the stack's Redis, the notifications consumer
    group's lag and pending entries on the booking stream and the Celery queue's length; from
    pg_stat_activity, the bench database's sessions waiting for a lock (by service, wait and statement)."""

    def __init__(self, env: dict[str, str], database_url: str, interval: float = 0.1):
        from shared.events import stream_key

        self.database_url = assert_loopback(database_url)
        self.lock_waits: Counter[tuple[str, str, str]] = Counter()
        self.redis_url = assert_loopback(env["REDIS_URL"])
        self.stream = stream_key(env["REDIS_PREFIX"], "booking")
        self.queue = "notifications"  # celery_app: task_default_queue
        self.interval = interval
        self.samples: list[QueueSample] = []
        self.began = time.monotonic()

    async def _sample(self, redis) -> QueueSample:
        unread = pending = None
        for group in await redis.xinfo_groups(self.stream):
            if group["name"] == "notifications":
                unread, pending = group.get("lag"), group.get("pending")
        return QueueSample(time.monotonic() - self.began, unread, pending, await redis.llen(self.queue))

    async def run(self, stop: asyncio.Event) -> None:
        import asyncpg
        import redis.asyncio as aioredis

        redis = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
        conn = await asyncpg.connect(self.database_url)
        try:
            while not stop.is_set():
                self.samples.append(await self._sample(redis))
                for r in await conn.fetch(LOCK_WAITS_QUERY):
                    self.lock_waits[(r["application_name"], r["wait"], r["query"])] += 1
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            await conn.close()
            await redis.aclose()

    def peak(self, attr: str) -> int | None:
        values = [getattr(s, attr) for s in self.samples if getattr(s, attr) is not None]
        return max(values) if values else None

    def at(self, t_s: float) -> QueueSample | None:
        """The last sample taken at or before t_s."""
        before = [s for s in self.samples if s.t_s <= t_s]
        return before[-1] if before else None
