"""Prometheus metrics on every service: requests by route and status, and what waits on the event path."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from services.notifications.app import create_app as create_notifications
from shared.config import DEV_METRICS_TOKEN
from tests.support.events import booking_confirmed, commit_event

SCRAPER = {"Authorization": f"Bearer {DEV_METRICS_TOKEN}"}


def samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def test_requests_are_counted_by_route_and_status(booking):
    await booking.get("/api/v1/clinics")
    await booking.get("/api/v1/clinics/nowhere")
    text = await (await booking.get("/metrics", headers=SCRAPER)).text()
    got = samples(text)
    assert got[("http_requests_total", (("method", "GET"), ("route", "/api/v1/clinics"), ("status", "200")))] == 1
    assert (
        got[("http_requests_total", (("method", "GET"), ("route", "/api/v1/clinics/{clinic}"), ("status", "404")))] == 1
    )
    assert got[("http_request_duration_seconds_count", (("route", "/api/v1/clinics"),))] == 1


async def test_the_event_path_backlog_is_visible(booking, booking_pool):
    await commit_event(booking_pool, booking_confirmed())
    got = samples(await (await booking.get("/metrics", headers=SCRAPER)).text())
    assert got[("outbox_backlog", ())] == 1


async def test_notifications_shows_celery_queue_webhooks_and_emails(settings, aiohttp_client, redis):
    client = await aiohttp_client(create_notifications(settings))
    await redis.rpush("notifications", "task-1", "task-2")
    got = samples(await (await client.get("/metrics", headers=SCRAPER)).text())
    assert got[("celery_queue_depth", ())] == 2
    assert got[("service_up", (("service", "notifications"),))] == 1


async def test_metrics_are_for_the_scraper_only(booking, gateway):
    for client in (booking, gateway):
        for headers in ({}, {"Authorization": "Bearer guess"}, {"Authorization": DEV_METRICS_TOKEN}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status == 401 and (await refused.json())["error"]["code"] == "unauthorized"
        assert (await client.get("/metrics", headers=SCRAPER)).status == 200
