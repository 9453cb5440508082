"""Transactional outbox: write events with the change, relay them to Redis Streams after commit.

Redis here keeps nothing on disk, so the relay also guards against Redis losing its data: it keeps
a marker key in Redis; when the marker is gone (FLUSHALL, restart, failover to an empty replica) it
re-publishes every outbox row of the republish window. Consumers dedupe by event id (inbox), so
re-publishing is always safe; losing an event is not.

A consumer group can also lose entries while Redis keeps its data: something other than the relay trimmed or
deleted them before the group read them, or the group is new and the relay had trimmed what the others had
acknowledged. The consumer asks for its topic's window again (StreamConsumer.check_gaps writes a request under
republish_requests_key); the relay whose outbox holds the topic answers at its marker check
(answer_republish_requests) and records the stream's last id at that moment under republished_key: every
re-published copy comes after it, so a gap at or below it is covered and the consumer does not ask again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from asyncpg.pool import PoolConnectionProxy
from redis.exceptions import ResponseError

from shared.db import Connection
from shared.events import Event, stream_key
from shared.logs import request_id_var
from shared.metrics import count_in_redis

log = logging.getLogger(__name__)

BATCH_SIZE = 200
# Streams are trimmed only below what every consumer group has acknowledged (trim_streams), never to a
# length: a consumer down for a long while, or a large re-publish, must not lose its events.
TRIM_EVERY = 10.0
CLEANUP_EVERY = 3600.0
# How often the running relay checks Redis's marker: not on every wake-up, which would put a round trip on
# every event's path. An event published into a Redis that lost its data meanwhile is not lost: consumers
# recreate their groups from the start, and the window is re-published at the next check (they dedupe).
MARKER_CHECK_EVERY = 1.0
# Back-off when PostgreSQL or Redis is down, so a restart of either is survived without a storm.
ERROR_BACKOFF = 1.0


# Re-publishes the window of one topic (answer_republish_requests); ensure_redis_intact does it for all topics.
RESET_TOPIC = (
    "UPDATE outbox SET published_at = NULL WHERE topic = $1 AND published_at IS NOT NULL "
    "AND created_at > clock_timestamp() - make_interval(secs => $2)"
)
# Which of the requested topics this outbox holds: only that relay (of its schema's replicas) answers them.
TOPICS_HELD = (
    "SELECT topic FROM unnest($1::text[]) AS requested (topic) "
    "WHERE EXISTS (SELECT 1 FROM outbox WHERE outbox.topic = requested.topic)"
)
# Records the answer and removes the request only if it is still the one answered: one made meanwhile (a gap
# found after the answer's last id was read) stays for the next check.
RECORD_ANSWER = """
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
"""


def republish_requests_key(prefix: str) -> str:
    """Hash: topic -> the request of a consumer that found a gap in the topic's stream."""
    return f"{prefix}republish:requests"


def republished_key(prefix: str) -> str:
    """Hash: topic -> the stream's last entry id when the relay last re-published the topic for a gap."""
    return f"{prefix}republish:answered"


# An outbox row's columns, for statements that write one alongside their own change (see outbox_row).
OUTBOX_COLUMNS = "outbox (event_id, topic, envelope)"


def outbox_row(event: Event) -> tuple[uuid.UUID, str, dict[str, Any]]:
    """The values of `event`'s outbox row (OUTBOX_COLUMNS), stamped with the current request id."""
    if event.request_id is None and (rid := request_id_var.get()):
        event = Event(
            type=event.type,
            data=event.data,
            clinic_id=event.clinic_id,
            id=event.id,
            occurred_at=event.occurred_at,
            request_id=rid,
            version=event.version,
        )
    return event.id, event.topic, event.to_dict()


async def add_event(conn: Connection, event: Event) -> None:
    """Record `event` in the caller's transaction: it is published if and only if that commits."""
    await conn.execute(f"INSERT INTO {OUTBOX_COLUMNS} VALUES ($1, $2, $3)", *outbox_row(event))


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        schema: str,
        prefix: str,
        poll_interval: float = 1.0,
        republish_window: float = 7 * 24 * 3600,
    ):
        self.pool = pool
        self.redis = redis
        self.schema = schema
        self.prefix = prefix
        self.poll_interval = poll_interval
        self.republish_window = republish_window
        self.marker_key = f"{prefix}relay:{schema}:marker"
        self.channel = f"outbox_{schema}"
        self._wake = asyncio.Event()
        self._last_cleanup = 0.0
        self._last_trim = 0.0
        self._last_marker_check = float("-inf")
        self._streams: set[str] = set()  # the streams this relay has published to

    async def ensure_redis_intact(self) -> int:
        """Re-publish the window if Redis lost its data since we last published; returns rows reset."""
        if await self.redis.exists(self.marker_key):
            return 0
        async with self.pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE outbox SET published_at = NULL "
                "WHERE published_at IS NOT NULL AND created_at > clock_timestamp() - make_interval(secs => $1)",
                self.republish_window,
            )
        reset = int(status.split()[-1])
        run_id = (await self.redis.info("server")).get("run_id")
        await self.redis.set(self.marker_key, str(run_id))
        if reset:
            log.warning(
                "redis lost its data; re-publishing outbox window",
                extra={"schema": self.schema, "rows": reset, "redis_run_id": run_id},
            )
            await count_in_redis(self.redis, self.prefix, "outbox_republished_rows", (self.schema, "redis_lost"), reset)
        return reset

    async def answer_republish_requests(self) -> int:
        """Re-publish the window of each topic of this outbox a consumer found a gap in; returns rows reset."""
        requests = await self.redis.hgetall(republish_requests_key(self.prefix))
        if not requests:
            return 0
        async with self.pool.acquire() as conn:
            held = [row["topic"] for row in await conn.fetch(TOPICS_HELD, sorted(requests))]
        return sum([await self._answer(topic) for topic in held])

    async def _answer(self, topic: str) -> int:
        """Answer the request for `topic` unless another replica is doing so or has done so; rows reset."""
        lock = f"outbox_republish:{self.schema}:{topic}"
        async with self.pool.acquire() as conn:
            # A session lock, so it covers the Redis writes after the commit too (and goes with the connection
            # if we die): a second replica skips, or finds the request gone.
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock):
                return 0
            try:
                request = await self.redis.hget(republish_requests_key(self.prefix), topic)
                if request is None:
                    return 0
                covered = await last_generated_id(self.redis, stream_key(self.prefix, topic))  # before the reset
                reset = int((await conn.execute(RESET_TOPIC, topic, self.republish_window)).split()[-1])
                # A crash before this line leaves the request, so it is answered again: twice is safe, never is not.
                await self.redis.eval(
                    RECORD_ANSWER,
                    2,
                    republish_requests_key(self.prefix),
                    republished_key(self.prefix),
                    topic,
                    request,
                    covered,
                )
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock)
        log.warning(
            "consumer found a gap; re-publishing the topic's outbox window",
            extra={
                "schema": self.schema,
                "topic": topic,
                "rows": reset,
                "request": request,
                "copies_after_id": covered,
            },
        )
        await count_in_redis(self.redis, self.prefix, "outbox_republished_rows", (self.schema, "gap"), reset)
        return reset

    async def publish_batch(self) -> int:
        """Publish up to BATCH_SIZE unpublished rows in commit order; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED lets a second relay replica take the next batch instead of waiting.
            rows = await conn.fetch(
                "SELECT seq, topic, envelope FROM outbox WHERE published_at IS NULL "
                "ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                BATCH_SIZE,
            )
            if not rows:
                return 0
            pipe = self.redis.pipeline(transaction=False)
            for row in rows:
                stream = stream_key(self.prefix, row["topic"])
                pipe.xadd(stream, {"event": Event.from_dict(row["envelope"]).to_json()})
                self._streams.add(stream)
            await pipe.execute()
            await conn.execute(
                "UPDATE outbox SET published_at = clock_timestamp() WHERE seq = ANY($1::bigint[])",
                [row["seq"] for row in rows],
            )
        log.debug("outbox published", extra={"schema": self.schema, "rows": len(rows)})
        return len(rows)

    async def trim_streams(self) -> int:
        """Remove the entries every consumer group of a stream has acknowledged, and no other; how many."""
        removed = 0
        for stream in sorted(self._streams):
            floor = await acknowledged_floor(self.redis, stream)
            if floor is not None:
                removed += await self.redis.xtrim(stream, minid=floor, approximate=False)
        return removed

    async def cleanup(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM outbox WHERE published_at IS NOT NULL "
                "AND created_at < clock_timestamp() - make_interval(secs => $1)",
                self.republish_window,
            )

    async def run_once(self, check_redis: bool = True) -> int:
        if check_redis:
            await self.ensure_redis_intact()
            await self.answer_republish_requests()
            self._last_marker_check = time.monotonic()
        published = 0
        # A short batch was all there was: commits since then have notified us, and the next round takes them.
        while (n := await self.publish_batch()) > 0:
            published += n
            if n < BATCH_SIZE:
                break
        if time.monotonic() - self._last_trim > TRIM_EVERY:
            await self.trim_streams()
            self._last_trim = time.monotonic()
        if time.monotonic() - self._last_cleanup > CLEANUP_EVERY:
            await self.cleanup()
            self._last_cleanup = time.monotonic()
        return published

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Publish until `stop` is set, waking at each commit (NOTIFY) or every poll interval."""
        stop = stop or asyncio.Event()
        listener: PoolConnectionProxy | None = None
        stopping = asyncio.ensure_future(_set_when(stop, self._wake))
        log.info("relay started", extra={"schema": self.schema})
        try:
            while not stop.is_set():
                try:
                    if listener is None:
                        listener = await self.pool.acquire()
                        await listener.add_listener(self.channel, self._on_notify)
                    self._wake.clear()
                    await self.run_once(check_redis=time.monotonic() - self._last_marker_check >= MARKER_CHECK_EVERY)
                except Exception as exc:  # PostgreSQL or Redis down: log, back off, carry on
                    log.error("relay error; retrying", extra={"schema": self.schema, "error": repr(exc)})
                    if listener is not None:
                        await self._release(listener)
                        listener = None
                    self._last_marker_check = float("-inf")  # check first thing when back
                    await _wait(stop, ERROR_BACKOFF)
                    continue
                # Until a commit notifies us, `stop` is set (it wakes us too) or the poll interval passes.
                await _wait(self._wake, self.poll_interval)
        finally:
            stopping.cancel()
            if listener is not None:
                await self._release(listener)
            log.info("relay stopped", extra={"schema": self.schema})

    async def _release(self, listener: PoolConnectionProxy) -> None:
        try:
            await listener.remove_listener(self.channel, self._on_notify)
        except Exception:
            pass  # the connection is already broken; the pool discards it
        await self.pool.release(listener)


def entry_id_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id as something that sorts as Redis orders ids."""
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


async def last_generated_id(redis: aioredis.Redis, stream: str) -> str:
    """The id of the last entry ever added to `stream` (trimmed or not), "0-0" if there is no such stream."""
    try:
        last: str = (await redis.xinfo_stream(stream))["last-generated-id"]
        return last
    except ResponseError as exc:
        if "no such key" not in str(exc):
            raise
        return "0-0"


async def acknowledged_floor(redis: aioredis.Redis, stream: str) -> str | None:
    """The lowest entry id some consumer group still needs (its oldest unacknowledged entry, else the last
    one it was given): everything below is acknowledged by all. None while the stream has no group yet."""
    needed = []
    for group in await redis.xinfo_groups(stream):
        if group["pending"]:
            needed.append((await redis.xpending(stream, group["name"]))["min"])
        else:
            needed.append(group["last-delivered-id"])
    return min(needed, key=entry_id_order) if needed else None


async def _set_when(stop: asyncio.Event, wake: asyncio.Event) -> None:
    await stop.wait()
    wake.set()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` pass, whichever comes first."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        pass
