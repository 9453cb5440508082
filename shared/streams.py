"""Redis Streams consumer: consumer groups, inbox dedupe, reclaim of stale entries, dead letters.

Delivery is at-least-once; effects are exactly-once: each event is handled inside a PostgreSQL
transaction that also inserts (consumer, event_id) into the inbox, and the entry is acked only
after that transaction commits. A consumer that dies before its ack leaves the entry pending;
another consumer reclaims it with XAUTOCLAIM once idle, and the inbox turns the second delivery
into a no-op. An entry delivered `max_attempts` times without success is moved to the topic's
dead-letter stream and acked, so one poison event never blocks the rest.

Entries removed from a stream before this group read them (trimmed by something other than the relay,
deleted, or trimmed before the group existed) are a gap: check_gaps finds it and asks the relay to re-publish
the topic's outbox window (see shared/outbox.py); the inbox drops the copies of what was already handled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, cast

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from shared.config import Settings
from shared.db import Connection
from shared.events import Event, dead_letter_key, stream_key
from shared.logs import request_id_var
from shared.metrics import count_in_redis
from shared.outbox import entry_id_order, republish_requests_key, republished_key

log = logging.getLogger(__name__)

READ_COUNT = 100
ERROR_BACKOFF = 1.0

# A stream entry's fields. Our clients decode replies (decode_responses=True): text, which redis-py's types,
# written for bytes and text alike, cannot know.
Fields = dict[str, str]


@dataclass
class HandlerContext:
    """What a handler gets: the transaction's connection, and a place for work to do after commit."""

    conn: Connection
    _after_commit: list[Callable[[], Any]] = field(default_factory=list)

    def after_commit(self, fn: Callable[[], Any]) -> None:
        self._after_commit.append(fn)


Handler = Callable[[HandlerContext, Event], Awaitable[None]]
AfterBatch = Callable[[], Awaitable[None]]


def combine(*handler_maps: dict[str, Handler]) -> dict[str, Handler]:
    """One handler per event type running every part's handler, in order, in the same transaction."""
    parts: dict[str, list[Handler]] = {}
    for handlers in handler_maps:
        for event_type, handler in handlers.items():
            parts.setdefault(event_type, []).append(handler)

    def chain(handlers: list[Handler]) -> Handler:
        async def run(ctx: HandlerContext, event: Event) -> None:
            for handler in handlers:
                await handler(ctx, event)

        return run

    return {event_type: chain(handlers) for event_type, handlers in parts.items()}


class StreamConsumer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        prefix: str,
        group: str,
        name: str,
        handlers: dict[str, Handler],
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        max_attempts: int = 5,
        after_batch: AfterBatch | None = None,
    ):
        """`after_batch`: run after each read batch's events were handled (and their after-commit steps
        run), before the batch is acked; e.g. to start in one go the work the batch's handlers collected."""
        self.pool = pool
        self.redis = redis
        self.prefix = prefix
        self.group = group
        self.name = name
        self.handlers = handlers
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_attempts = max_attempts
        self.after_batch = after_batch
        self.topics = sorted({event_type.split(".", 1)[0] for event_type in handlers})
        self.streams = {stream_key(prefix, t): t for t in self.topics}
        self._last_errors: dict[str, str] = {}
        self._last_claim = 0.0
        self._last_gap_check = float("-inf")
        self._behind = False  # the last read filled a batch: more entries wait
        self._gaps_reported: dict[str, str] = {}  # stream -> the gap last counted and logged

    async def ensure_groups(self) -> None:
        # Groups start at 0, not $: after Redis lost its data the relay re-publishes the window and we
        # must read it all; the inbox drops what was already handled.
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read_new(self, block_ms: int | None = None) -> list[tuple[str, str, Fields]]:
        """Entries never delivered to this group, as (stream, entry_id, fields)."""
        try:
            reply = await self.redis.xreadgroup(
                self.group,
                self.name,
                {s: ">" for s in self.streams},
                count=READ_COUNT,
                block=self.block_ms if block_ms is None else block_ms,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("consumer group missing (redis lost its data?); recreating", extra={"group": self.group})
            await self.ensure_groups()
            self._last_gap_check = float("-inf")  # a group new on a trimmed stream has a gap: look before reading
            return []
        # RESP2, decoded: a [stream, [(entry_id, fields), ...]] pair per stream with entries; None if none came.
        streams = cast("list[tuple[str, list[tuple[str, Fields]]]] | None", reply)
        return [(stream, entry_id, fields) for stream, entries in (streams or []) for entry_id, fields in entries]

    async def check_gaps(self) -> list[str]:
        """Ask the relay to re-publish each stream with a gap for this group not yet covered; those streams.

        Run before reading: a read past a gap moves the group's last-delivered id beyond it, which hides it."""
        pipe = self.redis.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xinfo_stream(stream)
            pipe.xinfo_groups(stream)
        pipe.hgetall(republished_key(self.prefix))
        *replies, answered = await pipe.execute(raise_on_error=False)
        asked = []
        for (stream, topic), info, groups in zip(self.streams.items(), replies[::2], replies[1::2]):
            if isinstance(info, ResponseError) and "no such key" in str(info):
                continue  # no stream, no group: Redis lost its data, which the relay's marker covers
            for reply in (info, groups, answered):
                if isinstance(reply, Exception):
                    raise reply
            group = next((g for g in groups if g["name"] == self.group), None)
            if group is None:
                continue
            missing = missing_up_to(info, group)
            if missing is None or (topic in answered and missing <= entry_id_order(answered[topic])):
                continue  # no gap, or the relay re-published after it (the copies are on their way)
            await self._request_republish(stream, topic, group["last-delivered-id"], "%d-%d" % missing)
            asked.append(stream)
        self._last_gap_check = time.monotonic()  # only once done: a failed check is made again before reading
        return asked

    async def _request_republish(self, stream: str, topic: str, delivered: str, missing: str) -> None:
        """Leave the relay a request for `topic`; count and log the gap once."""
        # Made again at each check until answered (a request the relay lost, dying, is made again); one made
        # by another group meanwhile is as good: the answer covers every gap found before it.
        await self.redis.hset(republish_requests_key(self.prefix), topic, f"group={self.group} missing_up_to={missing}")
        if self._gaps_reported.get(stream) == missing:
            return
        self._gaps_reported[stream] = missing
        await count_in_redis(self.redis, self.prefix, "stream_gaps", (self.group, topic))
        log.warning(
            "stream gap: entries were removed before this group read them; re-publish requested",
            extra={"group": self.group, "stream": stream, "last_delivered_id": delivered, "missing_up_to": missing},
        )

    async def process(self, stream: str, entry_id: str, fields: Fields) -> bool:
        """Handle one entry and ack it; False (entry left pending) if the handler failed."""
        if not await self._handled(entry_id, fields):
            return False
        await self.redis.xack(stream, self.group, entry_id)
        return True

    async def _handled(self, entry_id: str, fields: Fields) -> bool:
        """Run the entry's handler (its transaction commits or rolls back); False if it failed."""
        try:
            await self.handle(Event.from_json(fields["event"]))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._last_errors[entry_id] = repr(exc)[:500]
            log.exception("event handler failed; will retry", extra={"group": self.group, "entry_id": entry_id})
            return False
        self._last_errors.pop(entry_id, None)
        return True

    async def handle(self, event: Event) -> bool:
        """Run the handler for `event` once per consumer group; False if it was a duplicate or unhandled."""
        handler = self.handlers.get(event.type)
        if handler is None:
            return False
        token = request_id_var.set(event.request_id)
        try:
            async with self.pool.acquire() as conn:
                ctx = HandlerContext(conn)
                async with conn.transaction():
                    first = await conn.fetchval(
                        "INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3) "
                        "ON CONFLICT DO NOTHING RETURNING true",
                        self.group,
                        event.id,
                        event.type,
                    )
                    if not first:
                        log.info("duplicate event ignored", extra={"event_id": str(event.id), "type": event.type})
                        return False
                    await handler(ctx, event)
            for fn in ctx._after_commit:
                try:
                    result = fn()
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    # The committed state is the record; sweepers pick up work whose kick-off failed.
                    log.exception("after-commit step failed", extra={"event_id": str(event.id)})
            log.info("event handled", extra={"event_id": str(event.id), "type": event.type, "group": self.group})
            return True
        finally:
            request_id_var.reset(token)

    async def reclaim(self) -> int:
        """Claim stale entries, then dead-letter those out of attempts and process the others.

        Attempts are read after the claim, for what was claimed, so check and claim see the same entries
        (checked in a listing before the claim, an entry turning stale in between escaped the check, and a
        poison entry could be retried forever)."""
        processed = 0
        for stream, topic in self.streams.items():
            _next, claimed, _deleted = await self.redis.xautoclaim(
                stream, self.group, self.name, min_idle_time=self.claim_idle_ms, start_id="0-0", count=READ_COUNT
            )
            claimed = [(entry_id, fields) for entry_id, fields in claimed if fields]
            if not claimed:
                continue
            deliveries = await self._deliveries(stream, [entry_id for entry_id, _fields in claimed])
            for entry_id, fields in claimed:
                tries = deliveries.get(entry_id, 1) - 1  # the claim itself counts as a delivery
                if tries >= self.max_attempts:
                    await self.dead_letter(stream, topic, entry_id, tries, fields)
                else:
                    await self.process(stream, entry_id, fields)
                    processed += 1
        return processed

    async def _deliveries(self, stream: str, entry_ids: list[str]) -> dict[str, int]:
        """How many times each of this consumer's pending entries was delivered, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xpending_range(stream, self.group, min=entry_id, max=entry_id, count=1, consumername=self.name)
        return {entry["message_id"]: entry["times_delivered"] for listing in await pipe.execute() for entry in listing}

    async def dead_letter(self, stream: str, topic: str, entry_id: str, attempts: int, fields: Fields) -> None:
        record: dict[FieldT, EncodableT] = {
            "stream": stream,
            "entry_id": entry_id,
            "group": self.group,
            "attempts": str(attempts),
            "error": self._last_errors.pop(entry_id, "unknown (failed in another consumer)"),
            "event": fields.get("event", ""),
        }
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(dead_letter_key(self.prefix, topic), record)
        pipe.xack(stream, self.group, entry_id)
        await pipe.execute()
        log.error("event dead-lettered", extra={"group": self.group, "entry_id": entry_id, "attempts": attempts})

    async def run_once(self, block_ms: int | None = None) -> int:
        # Gaps are looked for first thing, as often as stale entries are reclaimed, and before each read while
        # the group is behind: that is when a trim can overtake it (a group at the head has nothing to lose).
        if self._behind or time.monotonic() - self._last_gap_check >= self.claim_idle_ms / 2000:
            await self.check_gaps()
        entries = await self.read_new(block_ms)
        self._behind = len(entries) >= READ_COUNT
        handled = 0
        done: dict[str, list[str]] = {}
        for stream, entry_id, fields in entries:
            if await self._handled(entry_id, fields):
                done.setdefault(stream, []).append(entry_id)
            handled += 1
        await self._after_batch()
        if done:
            # One round trip acks the batch; all were committed first, and a crash before this line only
            # means redelivery, which the inbox absorbs.
            pipe = self.redis.pipeline(transaction=False)
            for stream, ids in done.items():
                pipe.xack(stream, self.group, *ids)
            await pipe.execute()
        # Reclaim often enough that a stale entry waits about claim_idle_ms, not much longer.
        if time.monotonic() - self._last_claim >= self.claim_idle_ms / 2000:
            handled += await self.reclaim()
            await self._after_batch()
            self._last_claim = time.monotonic()
        return handled

    async def _after_batch(self) -> None:
        if self.after_batch is None:
            return
        try:
            await self.after_batch()
        except Exception:
            # The handled events' committed state is the record; sweepers pick up what this failed to start.
            log.exception("after-batch step failed", extra={"group": self.group})

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        await self.ensure_groups()
        log.info("consumer started", extra={"group": self.group, "streams": list(self.streams)})
        while not stop.is_set():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or PostgreSQL down: back off and carry on
                log.error("consumer error; retrying", extra={"group": self.group, "error": repr(exc)})
                await asyncio.sleep(ERROR_BACKOFF)
        log.info("consumer stopped", extra={"group": self.group})


def missing_up_to(info: dict[str, Any], group: dict[str, Any]) -> tuple[int, int] | None:
    """The highest id among the entries removed from a stream before `group` was given them, or a bound of it;
    None if the group missed none. `info` and `group` are XINFO STREAM's and XINFO GROUPS' answers (Redis 7)."""
    delivered = entry_id_order(group["last-delivered-id"])
    found = []
    deleted = entry_id_order(info["max-deleted-entry-id"])  # XDEL's doing; "0-0" if none
    if deleted > delivered:
        found.append(deleted)
    removed = info["entries-added"] - info["length"]
    if removed and info["first-entry"] is None:
        last = entry_id_order(info["last-generated-id"])  # all gone, and some were never delivered
        if last > delivered:
            found.append(last)
    elif removed and entry_id_order(info["first-entry"][0]) > delivered and not _read_all_removed(info, group):
        found.append(_before(entry_id_order(info["first-entry"][0])))  # trimmed: all below the first entry
    return max(found, default=None)


def _read_all_removed(info: dict[str, Any], group: dict[str, Any]) -> bool:
    """Whether the group was given every entry trimmed below the first one (say, it had read them before an
    outside trim stopped just past its last-delivered id). Redis knows only while it counts the group's reads;
    it does not for a group that never read (which missed them all, being at 0)."""
    if group["entries-read"] is None or group["lag"] is None:
        return False
    lag: int = group["lag"]
    length: int = info["length"]
    return lag <= length  # no more entries were added after its last than remain


def _before(entry_id: tuple[int, int]) -> tuple[int, int]:
    milliseconds, sequence = entry_id
    return (milliseconds, sequence - 1) if sequence else (milliseconds - 1, 2**64 - 1)


def consumer_for(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    settings: Settings,
    *,
    group: str,
    handlers: dict[str, Handler],
    name: str | None = None,
    after_batch: AfterBatch | None = None,
) -> StreamConsumer:
    """A consumer configured from settings; the name defaults to host and pid (one per process)."""
    import os
    import socket

    return StreamConsumer(
        pool,
        redis,
        prefix=settings.redis_prefix,
        group=group,
        name=name or f"{socket.gethostname()}-{os.getpid()}",
        handlers=handlers,
        block_ms=settings.consumer_block_ms,
        claim_idle_ms=settings.consumer_claim_idle_ms,
        max_attempts=settings.consumer_max_attempts,
        after_batch=after_batch,
    )


async def serve(
    settings: Settings,
    *,
    schema: str,
    group: str,
    handlers: dict[str, Handler],
    stop: asyncio.Event,
    after_batch: AfterBatch | None = None,
) -> None:
    """The body of a consumer process: a pool on `schema`, a Redis client, and the loop until `stop`."""
    from shared import db

    pool = await db.create_pool(settings, schema, min_size=1, max_size=4)
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await consumer_for(pool, redis, settings, group=group, handlers=handlers, after_batch=after_batch).run(stop)
    finally:
        await redis.aclose()
        await pool.close()
