"""Prometheus metrics on every service at /metrics: requests by route and status with latency histograms,
and, read at scrape time, what is waiting on the event path (outbox backlog, stream lag and pending
entries of each consumer group, Celery queue depth, the relays' and consumers' counters) plus anything a
service adds."""

from __future__ import annotations

import hmac
import time
from typing import Awaitable, Callable, Iterator, cast

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

from shared.errors import ApiError
from shared.events import stream_key
from shared.keys import DB, REDIS, SERVICE_NAME, SETTINGS

Probe = Callable[[web.Application], Awaitable[None]]

# Counters of the relays and stream consumers, name -> (help, labels). Those processes serve no /metrics, so
# they keep the counts in Redis (count_in_redis) and every service's scrape reads them, as it reads stream lag.
# Redis keeps nothing on disk: they start again from zero with it, which rate() and increase() take as a reset.
WORKER_COUNTERS = {
    "stream_gaps": ("Gaps a consumer group found: stream entries removed before it read them", ("group", "stream")),
    "outbox_republished_rows": ("Outbox rows a relay reset to be published again", ("schema", "reason")),
}
_LABEL_SEPARATOR = "|"


def worker_counter_key(prefix: str, name: str) -> str:
    return f"{prefix}metrics:{name}"


async def count_in_redis(
    redis: aioredis.Redis, prefix: str, name: str, labels: tuple[str, ...], amount: int = 1
) -> None:
    """Add `amount` to a WORKER_COUNTERS counter; `labels` are its label values, in its labels' order."""
    if amount:
        await redis.hincrby(worker_counter_key(prefix, name), _LABEL_SEPARATOR.join(labels), amount)


class WorkerCounters:
    """The WORKER_COUNTERS as last read from Redis, which the registry collects as counters."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, str]] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, (help_text, labels) in WORKER_COUNTERS.items():
            family = CounterMetricFamily(name, help_text, labels=list(labels))
            for label_values, value in self.values.get(name, {}).items():
                family.add_metric(label_values.split(_LABEL_SEPARATOR), float(value))
            yield family


class Metrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self, topics: tuple[str, ...] = ()) -> None:
        self.topics = topics
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests answered", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.outbox_backlog = Gauge("outbox_backlog", "Outbox rows not yet published", registry=self.registry)
        self.stream_lag = Gauge(
            "stream_lag", "Entries not yet read by the consumer group", ["stream", "group"], registry=self.registry
        )
        self.stream_pending = Gauge(
            "stream_pending", "Entries read but not acknowledged", ["stream", "group"], registry=self.registry
        )
        self.worker_counters = WorkerCounters()
        self.registry.register(self.worker_counters)
        self.gauges: dict[str, Gauge] = {}
        self.probes: list[Probe] = []

    def gauge(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> Gauge:
        if name not in self.gauges:
            self.gauges[name] = Gauge(name, help_text, list(labels), registry=self.registry)
        return self.gauges[name]


METRICS = web.AppKey("metrics", Metrics)


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics = request.app[METRICS]
        metrics.requests.labels(route, request.method, str(status)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - started)


async def _event_path(app: web.Application) -> None:
    metrics = app[METRICS]
    if DB in app:
        async with app[DB].acquire() as conn:
            metrics.outbox_backlog.set(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    if REDIS in app:
        prefix = app[SETTINGS].redis_prefix
        for topic in metrics.topics:
            stream = stream_key(prefix, topic)
            if not await app[REDIS].exists(stream):
                continue
            for group in await app[REDIS].xinfo_groups(stream):
                metrics.stream_lag.labels(topic, group["name"]).set(group.get("lag") or 0)
                metrics.stream_pending.labels(topic, group["name"]).set(group["pending"])
        for name in WORKER_COUNTERS:
            # The app's client decodes replies (decode_responses=True), which redis-py's types cannot know.
            counts = cast("dict[str, str]", await app[REDIS].hgetall(worker_counter_key(prefix, name)))
            metrics.worker_counters.values[name] = counts


def _scraper(request: web.Request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = request.app[SETTINGS].metrics_token
    return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


async def metrics_handler(request: web.Request) -> web.Response:
    """For Prometheus only (`Authorization: Bearer <METRICS_TOKEN>`): the figures say much about the business."""
    if not _scraper(request):
        raise ApiError(401, "unauthorized", "Metrics need `Authorization: Bearer <METRICS_TOKEN>`")
    metrics = request.app[METRICS]
    for probe in [_event_path, *metrics.probes]:
        await probe(request.app)
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def install(app: web.Application, topics: tuple[str, ...] = ()) -> None:
    """/metrics on `app`; `topics`: the event topics whose streams' lag it shows (those the service publishes
    or reads)."""
    app[METRICS] = Metrics(topics)
    app.middlewares.insert(0, metrics_middleware)  # outermost: it sees the status the client gets
    app.router.add_get("/metrics", metrics_handler)
    app[METRICS].gauge("service_up", "1 while the service runs", ("service",)).labels(app[SERVICE_NAME]).set(1)
