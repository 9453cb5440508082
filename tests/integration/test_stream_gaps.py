"""A consumer group that lost entries it never read (trimmed or deleted by something other than the relay, or
trimmed before the group existed) asks the relay to re-publish from the outbox, the source of truth: it then
handles every event once. Steady state, the relay's own trimming included, asks for nothing."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client.parser import text_string_to_metric_families

from services.notifications.app import create_app as create_notifications
from shared.config import DEV_METRICS_TOKEN
from shared.events import Event, stream_key
from shared.outbox import OutboxRelay, republish_requests_key, republished_key
from shared.streams import READ_COUNT, StreamConsumer
from tests.support.events import commit_event

GROUP = "gap-test"
OLD_CAP = 10  # as the old fixed stream length cap (MAXLEN), scaled down


class Recorder:
    """The consumer's only handler: records each run (the inbox must make a redelivery no run at all)."""

    def __init__(self):
        self.runs: list = []

    async def __call__(self, ctx, event):
        self.runs.append(event.id)


def consumer_for(
    pool, redis, settings, recorder: Recorder, group: str = GROUP, claim_idle_ms: int = 200
) -> StreamConsumer:
    """A consumer process of `group` (a new one is a restart); it looks for gaps every claim_idle_ms / 2."""
    return StreamConsumer(
        pool,
        redis,
        prefix=settings.redis_prefix,
        group=group,
        name="c1",
        handlers={"booking.confirmed": recorder},
        block_ms=5,
        claim_idle_ms=claim_idle_ms,
    )


async def relay_for(pool, redis, settings, schema: str = "booking") -> OutboxRelay:
    """A relay that has checked Redis's marker (so its later checks re-publish for gaps only)."""
    relay = OutboxRelay(pool, redis, schema=schema, prefix=settings.redis_prefix)
    await relay.ensure_redis_intact()
    return relay


async def publish(booking_pool, relay: OutboxRelay, n: int) -> list[Event]:
    events = [await commit_event(booking_pool, Event("booking.confirmed", {"n": i})) for i in range(n)]
    while await relay.run_once(check_redis=False):
        pass
    return events


async def drain(consumer: StreamConsumer, relay: OutboxRelay) -> None:
    """Relay and consume until nothing moves (the relay answers requests at its marker check)."""
    while await relay.run_once() + await consumer.run_once(block_ms=1):
        pass


async def inbox_count(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", GROUP)


async def scraped(settings, aiohttp_client) -> dict[tuple, float]:
    client = await aiohttp_client(create_notifications(settings))
    text = await (await client.get("/metrics", headers={"Authorization": f"Bearer {DEV_METRICS_TOKEN}"})).text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def rigged(
    booking_pool, notifications_pool, redis, settings, **consumer_options
) -> tuple[str, Recorder, StreamConsumer, OutboxRelay]:
    """The booking stream, a notifications-side group on it (recording what it handles), the booking relay."""
    recorder = Recorder()
    consumer = consumer_for(notifications_pool, redis, settings, recorder, **consumer_options)
    relay = await relay_for(booking_pool, redis, settings)
    await consumer.ensure_groups()
    return stream_key(settings.redis_prefix, "booking"), recorder, consumer, relay


def warnings_saying(caplog, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


async def test_a_group_down_through_more_events_than_the_old_cap_gets_every_one_once(
    booking_pool, notifications_pool, redis, settings, aiohttp_client, caplog
):
    caplog.set_level(logging.WARNING)
    stream, recorder, consumer, relay = await rigged(booking_pool, notifications_pool, redis, settings)
    before = await publish(booking_pool, relay, 5)
    await drain(consumer, relay)  # handled while up
    handled_up_to = (await redis.xrange(stream))[-1][0]

    # Down meanwhile, and something trims what it never read.
    during = await publish(booking_pool, relay, 3 * OLD_CAP)
    await redis.xtrim(stream, maxlen=OLD_CAP, approximate=False)

    await drain(consumer_for(notifications_pool, redis, settings, recorder), relay)  # back

    every = [e.id for e in before + during]
    assert sorted(recorder.runs) == sorted(every), "every event handled, once"
    assert await inbox_count(notifications_pool) == len(every)
    [gap] = warnings_saying(caplog, "stream gap")
    assert (gap.group, gap.stream, gap.last_delivered_id) == (GROUP, stream, handled_up_to)
    [answer] = warnings_saying(caplog, "re-publishing the topic's outbox window")
    assert (answer.schema, answer.topic, answer.rows) == ("booking", "booking", len(every))
    metrics = await scraped(settings, aiohttp_client)
    assert metrics[("stream_gaps_total", (("group", GROUP), ("stream", "booking")))] == 1
    assert metrics[("outbox_republished_rows_total", (("reason", "gap"), ("schema", "booking")))] == len(every)

    # Steady state: the copies read, nothing is asked for again and nothing moves.
    assert await consumer_for(notifications_pool, redis, settings, recorder).check_gaps() == []
    assert await redis.hgetall(republish_requests_key(settings.redis_prefix)) == {}
    assert await relay.run_once() == 0


async def test_a_group_behind_that_a_trim_overtakes_finds_the_gap(booking_pool, notifications_pool, redis, settings):
    """Up, but a batch or more behind: the gap is looked for before the next read, not at the next period."""
    stream, recorder, consumer, relay = await rigged(
        booking_pool, notifications_pool, redis, settings, claim_idle_ms=600_000
    )
    events = await publish(booking_pool, relay, READ_COUNT + 3 * OLD_CAP)
    assert await consumer.run_once(block_ms=1) == READ_COUNT
    await redis.xtrim(stream, maxlen=OLD_CAP, approximate=False)

    await drain(consumer, relay)
    assert sorted(recorder.runs) == sorted(e.id for e in events)


async def test_a_deleted_entry_deep_in_the_backlog_is_asked_for_once(booking_pool, notifications_pool, redis, settings):
    """A gap the group reads its way to slowly: once the relay answered, checks on the way ask no more."""
    stream, recorder, consumer, relay = await rigged(booking_pool, notifications_pool, redis, settings)
    events = await publish(booking_pool, relay, 30)
    entry_ids = [entry_id for entry_id, _ in await redis.xrange(stream)]
    await redis.xdel(stream, entry_ids[20])

    assert await consumer.check_gaps() == [stream]
    assert await relay.answer_republish_requests() == 30
    assert await consumer.check_gaps() == [], "the answer covers the gap before the group reads the copies"
    assert await redis.hgetall(republish_requests_key(settings.redis_prefix)) == {}

    await drain(consumer, relay)
    assert sorted(recorder.runs) == sorted(e.id for e in events)
    assert await redis.xlen(stream) == 29 + 30, "re-published once"


async def test_the_relays_own_trimming_and_removing_what_was_read_are_no_gap(
    booking_pool, notifications_pool, redis, settings, caplog
):
    caplog.set_level(logging.WARNING)
    stream, recorder, consumer, relay = await rigged(booking_pool, notifications_pool, redis, settings)
    await redis.xgroup_create(stream, "quick", id="0")
    await publish(booking_pool, relay, 30)
    [[_, quick]] = await redis.xreadgroup("quick", "q1", {stream: ">"})
    await redis.xack(stream, "quick", *[entry_id for entry_id, _ in quick])
    await drain(consumer, relay)
    assert len(recorder.runs) == 30

    assert await relay.trim_streams() == 29  # all acknowledged: all but the last delivered entry
    await publish(booking_pool, relay, 5)  # new entries, not read yet
    assert await consumer.check_gaps() == []

    await consumer.run_once(block_ms=1)
    first_entry = (await redis.xrange(stream, count=1))[0][0]
    await redis.xdel(stream, first_entry)  # read and acknowledged: no loss to this group
    await publish(booking_pool, relay, 5)
    unread = [entry_id for entry_id, _ in await redis.xrange(stream)][-5:]
    await redis.xtrim(stream, minid=unread[0], approximate=False)  # by another hand, just past what it read
    assert await consumer.check_gaps() == []
    assert await redis.hgetall(republish_requests_key(settings.redis_prefix)) == {}
    assert warnings_saying(caplog, "stream gap") == []

    # The same check on the same stream finds a gap for a group that starts now: the entries trimmed
    # before it existed are events it never had.
    newcomer = consumer_for(notifications_pool, redis, settings, Recorder(), group="newcomer")
    await newcomer.ensure_groups()
    assert await newcomer.check_gaps() == [stream]


class PausedBeforeTheReset:
    """The real Redis client, with the relay that uses it pausing when it reads the stream's last id (after
    taking the request, before resetting the rows) until `go` is set."""

    def __init__(self, redis):
        self.redis, self.paused, self.go = redis, asyncio.Event(), asyncio.Event()

    def __getattr__(self, name):
        return getattr(self.redis, name)

    async def xinfo_stream(self, *args, **kwargs):
        self.paused.set()
        await self.go.wait()
        return await self.redis.xinfo_stream(*args, **kwargs)


async def test_a_request_is_answered_once_by_the_relay_holding_the_topic(
    booking_pool, payments_pool, notifications_pool, redis, settings
):
    stream = stream_key(settings.redis_prefix, "booking")
    requests = republish_requests_key(settings.redis_prefix)
    recorder = Recorder()
    consumer = consumer_for(notifications_pool, redis, settings, recorder)
    # Two replicas of the booking relay, one of them slow between taking the request and resetting the rows.
    slow_redis = PausedBeforeTheReset(redis)
    quick, slow = [await relay_for(booking_pool, r, settings) for r in (redis, slow_redis)]
    payments_relay = await relay_for(payments_pool, redis, settings, schema="payments")
    await consumer.ensure_groups()
    await commit_event(payments_pool, Event("payment.succeeded", {}))
    events = await publish(booking_pool, quick, 3 * OLD_CAP)
    await redis.xtrim(stream, maxlen=OLD_CAP, approximate=False)
    assert await consumer.check_gaps() == [stream]

    assert await payments_relay.answer_republish_requests() == 0, "not its topic"
    assert list(await redis.hgetall(requests)) == ["booking"]

    answering = asyncio.create_task(slow.answer_republish_requests())
    try:
        async with asyncio.timeout(5):
            await slow_redis.paused.wait()
        published_meanwhile = await quick.run_once()
    finally:
        slow_redis.go.set()
    assert await answering == len(events)
    assert published_meanwhile == 0, "it leaves the request another replica is answering"
    assert await redis.hgetall(requests) == {}
    assert await redis.hexists(republished_key(settings.redis_prefix), "booking")

    for relay in (quick, slow):
        assert await relay.answer_republish_requests() == 0, "answered once"
        while await relay.run_once(check_redis=False):
            pass
    assert await redis.xlen(stream) == OLD_CAP + len(events), "the window re-published once"
    await drain(consumer, quick)
    assert sorted(recorder.runs) == sorted(e.id for e in events)


class NewRequestDuringAnswer:
    """The real Redis client, with a consumer asking again (a gap found meanwhile) just before the relay
    records its answer."""

    def __init__(self, redis, key: str, topic: str):
        self.redis, self.key, self.topic = redis, key, topic

    def __getattr__(self, name):
        return getattr(self.redis, name)

    async def eval(self, *args):
        await self.redis.hset(self.key, self.topic, "group=other missing_up_to=later")
        return await self.redis.eval(*args)


async def test_a_request_made_while_the_relay_answers_is_not_lost(booking_pool, notifications_pool, redis, settings):
    stream = stream_key(settings.redis_prefix, "booking")
    requests = republish_requests_key(settings.redis_prefix)
    consumer = consumer_for(notifications_pool, redis, settings, Recorder())
    relay = await relay_for(booking_pool, redis, settings)
    await consumer.ensure_groups()
    events = await publish(booking_pool, relay, 3 * OLD_CAP)
    await redis.xtrim(stream, maxlen=OLD_CAP, approximate=False)
    assert await consumer.check_gaps() == [stream]

    racing = await relay_for(booking_pool, NewRequestDuringAnswer(redis, requests, "booking"), settings)
    assert await racing.answer_republish_requests() == len(events)
    assert await redis.hgetall(requests) == {"booking": "group=other missing_up_to=later"}, "it stays"
    while await relay.run_once(check_redis=False):
        pass
    assert await relay.answer_republish_requests() == len(events), "and is answered at the next check"
    assert await redis.hgetall(requests) == {}
