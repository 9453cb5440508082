"""The outbox relay publishes exactly what committed, and refills a Redis that lost its data."""

from __future__ import annotations

from shared.events import Event, stream_key
from shared.outbox import OutboxRelay, add_event


def make_relay(pool, redis, settings) -> OutboxRelay:
    return OutboxRelay(pool, redis, schema="booking", prefix=settings.redis_prefix, poll_interval=0.05)


async def stream_events(redis, settings, topic="booking") -> list[Event]:
    entries = await redis.xrange(stream_key(settings.redis_prefix, topic))
    return [Event.from_json(fields["event"]) for _id, fields in entries]


async def test_only_committed_events_are_published(booking_pool, redis, settings):
    committed = Event("booking.confirmed", {"n": 1})
    rolled_back = Event("booking.confirmed", {"n": 2})
    async with booking_pool.acquire() as conn:
        async with conn.transaction():
            await add_event(conn, committed)
        try:
            async with conn.transaction():
                await add_event(conn, rolled_back)
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass

    assert await make_relay(booking_pool, redis, settings).run_once() == 1

    published = await stream_events(redis, settings)
    assert [e.id for e in published] == [committed.id]
    assert published[0].data == {"n": 1} and published[0].type == "booking.confirmed"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_a_second_run_publishes_nothing_again(booking_pool, redis, settings):
    async with booking_pool.acquire() as conn:
        await add_event(conn, Event("booking.confirmed", {}))
    relay = make_relay(booking_pool, redis, settings)
    assert await relay.run_once() == 1
    assert await relay.run_once() == 0
    assert len(await stream_events(redis, settings)) == 1


async def test_redis_flush_makes_the_relay_republish_the_window(booking_pool, redis, settings):
    events = [Event("booking.confirmed", {"n": i}) for i in range(3)]
    async with booking_pool.acquire() as conn:
        for e in events:
            await add_event(conn, e)
    relay = make_relay(booking_pool, redis, settings)
    await relay.run_once()

    await redis.flushall()
    assert await stream_events(redis, settings) == []
    assert await relay.run_once() == 3

    assert sorted(str(e.id) for e in await stream_events(redis, settings)) == sorted(str(e.id) for e in events)


async def test_events_older_than_the_window_are_not_republished(booking_pool, redis, settings):
    async with booking_pool.acquire() as conn:
        await add_event(conn, Event("booking.confirmed", {"old": True}))
        await add_event(conn, Event("booking.confirmed", {"old": False}))
        await conn.execute(
            "UPDATE outbox SET created_at = now() - interval '30 days' WHERE envelope->'data'->>'old' = 'true'"
        )
    relay = make_relay(booking_pool, redis, settings)
    await relay.run_once()
    await redis.flushall()
    assert await relay.run_once() == 1
    assert [e.data for e in await stream_events(redis, settings)] == [{"old": False}]


async def test_relay_wakes_on_commit_without_waiting_for_the_poll(booking_pool, redis, settings):
    import asyncio

    from tests.support.infra import wait_for

    relay = OutboxRelay(booking_pool, redis, schema="booking", prefix=settings.redis_prefix, poll_interval=30)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_for(lambda: redis.exists(relay.marker_key), what="relay start")
        async with booking_pool.acquire() as conn:
            await add_event(conn, Event("booking.confirmed", {"woken": True}))
        # The poll interval is 30 s; only the commit-time NOTIFY can make this arrive in time.
        published = await wait_for(lambda: stream_events(redis, settings), timeout=5, what="notified publish")
        assert published[0].data == {"woken": True}
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_trimming_keeps_every_entry_a_consumer_group_has_not_acknowledged(booking_pool, redis, settings):
    """A consumer down through many more events than the old fixed cap (100,000; 300 here, as if the cap
    were 100) finds every one of them when it comes back; what all groups acknowledged is trimmed."""
    stream = stream_key(settings.redis_prefix, "booking")
    await redis.xgroup_create(stream, "quick", id="0", mkstream=True)
    await redis.xgroup_create(stream, "down", id="0")
    relay = make_relay(booking_pool, redis, settings)
    async with booking_pool.acquire() as conn:
        for i in range(300):
            await add_event(conn, Event("booking.confirmed", {"n": i}))
    while await relay.run_once():
        pass

    async def read_and_ack(group: str, count: int, ack: int) -> list[str]:
        [[_, entries]] = await redis.xreadgroup(group, "c1", {stream: ">"}, count=count)
        ids = [entry_id for entry_id, _ in entries]
        if ack:
            await redis.xack(stream, group, *ids[:ack])
        return ids

    await read_and_ack("quick", 300, ack=300)
    await relay.trim_streams()
    assert await redis.xlen(stream) == 300, "the group that read nothing still needs them all"

    down = await read_and_ack("down", 200, ack=150)  # back: reads 200, acknowledges 150 so far
    await relay.trim_streams()
    remaining = [entry_id for entry_id, _ in await redis.xrange(stream)]
    assert remaining[0] == down[150] and len(remaining) == 150, "the 50 it holds and the 100 it has not read"
    rest = await read_and_ack("down", 300, ack=300)
    await redis.xack(stream, "down", *down[150:])
    assert [e for e in down[150:] + rest] == remaining, "every event reached it, once"
    await relay.trim_streams()
    assert await redis.xlen(stream) == 1, "all acknowledged: only the last delivered entry is kept"
