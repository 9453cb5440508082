"""Consumers handle each event once in effect: redelivery, reclaim, poison events, Redis data loss."""

from __future__ import annotations

import asyncio
import json

from redis.exceptions import ConnectionError as RedisConnectionError

from services.notifications.consumer import GROUP, make_consumer
from shared.events import dead_letter_key, stream_key
from shared.outbox import OutboxRelay
from shared.streams import StreamConsumer
from tests.support.events import booking_confirmed, commit_event
from tests.support.infra import wait_for


class RecordingEnqueue:
    """Stands in for the Celery hand-off (Celery itself is tested elsewhere), counting calls."""

    def __init__(self):
        self.ids = []

    async def __call__(self, email_id):
        self.ids.append(email_id)


def count_handler_runs(consumer: StreamConsumer) -> list:
    """Record every run of the consumer's handlers (the emails table has its own unique key, so
    counting rows alone would not show whether the inbox stopped a second run)."""
    runs = []

    def counted(handler):
        async def run(ctx, event):
            runs.append(event.id)
            await handler(ctx, event)

        return run

    consumer.handlers = {event_type: counted(h) for event_type, h in consumer.handlers.items()}
    return runs


def relay_for(booking_pool, redis, settings) -> OutboxRelay:
    return OutboxRelay(booking_pool, redis, schema="booking", prefix=settings.redis_prefix)


async def email_count(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM emails")


async def emails_once_handled(consumer, pool) -> int:
    """Run the consumer until an email row exists; the number of rows."""

    async def handled():
        await consumer.run_once(block_ms=20)
        return await email_count(pool)

    return await wait_for(handled, what="the event to be handled")


async def pending_count(redis, settings) -> int:
    info = await redis.xpending(stream_key(settings.redis_prefix, "booking"), GROUP)
    return info["pending"]


async def test_published_event_is_handled_once_and_acked(booking_pool, notifications_pool, redis, settings):
    enqueue = RecordingEnqueue()
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=enqueue, name="c1")
    await consumer.ensure_groups()
    await commit_event(booking_pool, booking_confirmed())
    await relay_for(booking_pool, redis, settings).run_once()

    assert await consumer.run_once() == 1

    assert await email_count(notifications_pool) == 1
    assert len(enqueue.ids) == 1
    assert await pending_count(redis, settings) == 0


async def test_consumer_killed_after_commit_before_ack_is_redelivered_without_second_effect(
    booking_pool, notifications_pool, redis, settings
):
    enqueue = RecordingEnqueue()
    doomed = make_consumer(notifications_pool, redis, settings, enqueue_email=enqueue, name="doomed")
    await doomed.ensure_groups()
    await commit_event(booking_pool, booking_confirmed())
    await relay_for(booking_pool, redis, settings).run_once()

    # The doomed consumer reads and commits its handler, then dies before XACK.
    [(stream, entry_id, fields)] = await doomed.read_new(block_ms=100)
    from shared.events import Event

    assert await doomed.handle(Event.from_json(fields["event"])) is True
    assert await pending_count(redis, settings) == 1

    survivor = make_consumer(notifications_pool, redis, settings, enqueue_email=enqueue, name="survivor")
    survivor_runs = count_handler_runs(survivor)

    async def reclaimed_and_acked():
        await survivor.run_once(block_ms=20)
        return await pending_count(redis, settings) == 0

    await wait_for(reclaimed_and_acked, what="the stale entry to be reclaimed and acked")
    assert survivor_runs == [], "the inbox must make the redelivery a no-op"
    assert await email_count(notifications_pool) == 1
    assert len(enqueue.ids) == 1


async def test_poison_event_is_dead_lettered_and_the_consumer_moves_on(
    booking_pool, notifications_pool, redis, settings
):
    handled = []

    async def always_fails(ctx, event):
        raise ValueError("cannot handle this one")

    async def works(ctx, event):
        handled.append(event.id)

    consumer = StreamConsumer(
        notifications_pool,
        redis,
        prefix=settings.redis_prefix,
        group="test-group",
        name="c1",
        handlers={"booking.poison": always_fails, "booking.fine": works},
        block_ms=20,
        claim_idle_ms=100,
        max_attempts=3,
    )
    await consumer.ensure_groups()
    from shared.events import Event

    poison = await commit_event(booking_pool, Event("booking.poison", {}))
    good = await commit_event(booking_pool, Event("booking.fine", {}))
    await relay_for(booking_pool, redis, settings).run_once()
    dlq = dead_letter_key(settings.redis_prefix, "booking")

    async def dead_lettered():
        await consumer.run_once()
        return await redis.xrange(dlq)

    [(_id, record)] = await wait_for(dead_lettered, what="the poison event in the dead-letter stream")
    assert json.loads(record["event"])["id"] == str(poison.id)
    assert record["attempts"] == "3"
    assert "cannot handle this one" in record["error"]
    assert handled == [good.id], "the good event behind the poison one is handled"
    assert (await redis.xpending(stream_key(settings.redis_prefix, "booking"), "test-group"))["pending"] == 0
    async with notifications_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", poison.id) == 0


class SlowPendingListing:
    """The real Redis client, with the answer to XPENDING arriving late (a slow network, a busy loop): the
    time in which an entry can cross the idle threshold between reclaim's check and its claim."""

    def __init__(self, redis, delay_s: float):
        self.redis, self.delay_s = redis, delay_s

    def __getattr__(self, name):
        return getattr(self.redis, name)

    async def xpending_range(self, *args, **kwargs):
        listing = await self.redis.xpending_range(*args, **kwargs)
        await asyncio.sleep(self.delay_s)
        return listing


async def test_a_poison_event_gets_exactly_max_attempts_tries(booking_pool, notifications_pool, redis, settings):
    """Reclaim decides "dead-letter or try again" from one listing, so an entry that becomes idle enough
    between that listing and the claim waits for the next pass instead of getting a try beyond the limit."""
    tries = {}

    async def always_fails(ctx, event):
        tries[event.id] = tries.get(event.id, 0) + 1
        raise ValueError("cannot handle this one")

    claim_idle_ms = 50
    consumer = StreamConsumer(
        notifications_pool,
        SlowPendingListing(redis, 1.2 * claim_idle_ms / 1000),
        prefix=settings.redis_prefix,
        group="test-group",
        name="c1",
        handlers={"booking.poison": always_fails},
        block_ms=5,
        claim_idle_ms=claim_idle_ms,
        max_attempts=3,
    )
    await consumer.ensure_groups()
    from shared.events import Event

    poison = [await commit_event(booking_pool, Event("booking.poison", {})) for _ in range(5)]
    await relay_for(booking_pool, redis, settings).run_once()
    dlq = dead_letter_key(settings.redis_prefix, "booking")

    async def all_dead_lettered():
        await consumer.run_once()
        return await redis.xlen(dlq) == len(poison)

    await wait_for(all_dead_lettered, what="every poison event in the dead-letter stream")
    assert sorted(tries.values()) == [3] * len(poison)
    assert {record["attempts"] for _id, record in await redis.xrange(dlq)} == {"3"}


async def test_redis_flushed_after_publish_before_consume_event_still_handled_once(
    booking_pool, notifications_pool, redis, settings
):
    enqueue = RecordingEnqueue()
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=enqueue, name="c1")
    relay = relay_for(booking_pool, redis, settings)
    await consumer.ensure_groups()
    await commit_event(booking_pool, booking_confirmed())
    await relay.run_once()

    await redis.flushall()  # the event is gone from Redis before anyone handled it

    await consumer.run_once(block_ms=20)  # notices its group vanished, recreates it
    await relay.run_once()  # notices the marker vanished, re-publishes the window

    assert await emails_once_handled(consumer, notifications_pool) == 1
    assert len(enqueue.ids) == 1


async def test_redis_flushed_before_the_relay_ran(booking_pool, notifications_pool, redis, settings):
    enqueue = RecordingEnqueue()
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=enqueue, name="c1")
    relay = relay_for(booking_pool, redis, settings)
    await relay.run_once()
    await consumer.ensure_groups()
    await commit_event(booking_pool, booking_confirmed())
    await redis.flushall()

    await relay.run_once()

    assert await emails_once_handled(consumer, notifications_pool) == 1
    assert len(enqueue.ids) == 1


async def test_republish_after_handling_has_no_second_effect(booking_pool, notifications_pool, redis, settings):
    enqueue = RecordingEnqueue()
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=enqueue, name="c1")
    runs = count_handler_runs(consumer)
    relay = relay_for(booking_pool, redis, settings)
    await consumer.ensure_groups()
    await commit_event(booking_pool, booking_confirmed())
    await relay.run_once()
    assert await consumer.run_once() == 1

    await redis.flushall()
    await consumer.run_once(block_ms=20)
    assert await relay.run_once() == 1
    assert await consumer.run_once() == 1  # delivered again ...

    assert len(runs) == 1  # ... but the handler does not run again
    assert await email_count(notifications_pool) == 1
    assert len(enqueue.ids) == 1


async def test_redis_server_restart_loses_nothing(booking_pool, notifications_pool, redis, settings, private_redis):
    enqueue = RecordingEnqueue()
    consumer = make_consumer(notifications_pool, redis, settings, enqueue_email=enqueue, name="c1")
    relay = relay_for(booking_pool, redis, settings)
    await consumer.ensure_groups()
    await commit_event(booking_pool, booking_confirmed())
    await relay.run_once()

    private_redis.restart()  # a real crash: the server keeps nothing on disk

    async def handled():
        for step in (consumer.run_once(block_ms=20), relay.run_once()):
            try:
                await step
            except RedisConnectionError:
                pass  # the first command after the restart may find the old connection dead
        return await email_count(notifications_pool)

    assert await wait_for(handled, what="the event to survive the restart") == 1
    assert len(enqueue.ids) == 1
