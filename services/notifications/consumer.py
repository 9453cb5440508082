"""`python -m services.notifications.consumer`: turn booking, payment and voucher events into email rows
(and, with the clinic webhooks, delivery rows) and the Celery task that sends them. The wiring only: the
handlers are each wing's (emails/handlers.py, webhooks/handlers.py), the task worker/batch.py's."""

from __future__ import annotations

import uuid
from typing import Awaitable, Callable

from services.notifications.emails.handlers import EnqueueEmail, email_handlers
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks.handlers import EnqueueDelivery, webhook_handlers
from shared.config import load_settings
from shared.runner import run_worker
from shared.streams import AfterBatch, Handler, StreamConsumer, combine, consumer_for, serve

GROUP = "notifications"
StartSending = Callable[[list[uuid.UUID], list[tuple[uuid.UUID, int]]], Awaitable[None]]


async def celery_start_sending(email_ids: list[uuid.UUID], deliveries: list[tuple[uuid.UUID, int]]) -> None:
    from services.notifications.worker.batch import send_notifications

    # kombu's publish is blocking I/O, made here on the loop: the consumer waits for it before its next
    # batch either way, and a hop to a thread and back costs more on the event path than the LPUSH.
    # A short argsrepr spares Celery a saferepr of the ids (and says more in a log line).
    args = ([str(e) for e in email_ids], [[str(d), attempt] for d, attempt in deliveries])
    send_notifications.apply_async(args, argsrepr=f"({len(email_ids)} emails, {len(deliveries)} webhook deliveries)")


class Kickoff:
    """Collects the emails and webhook deliveries that handled events committed to (the handlers' after-commit
    steps) and starts them with one Celery task per read batch: one publish and one task per event when
    events come one at a time, fewer when they queue up (a task costs more CPU than a send, so a consumer
    that falls behind catches up instead of falling further behind). A long batch is started in parts of
    MAX_ITEMS, so its first events do not wait for its last."""

    MAX_ITEMS = 20

    def __init__(self, start: StartSending):
        self._start = start
        self._emails: list[uuid.UUID] = []
        self._deliveries: list[tuple[uuid.UUID, int]] = []

    async def email(self, email_id: uuid.UUID) -> None:
        self._emails.append(email_id)
        await self._flush_if_full()

    async def delivery(self, delivery_id: uuid.UUID, attempt: int) -> None:
        self._deliveries.append((delivery_id, attempt))
        await self._flush_if_full()

    async def _flush_if_full(self) -> None:
        if len(self._emails) + len(self._deliveries) >= self.MAX_ITEMS:
            await self.flush()

    async def flush(self) -> None:
        emails, deliveries = self._emails, self._deliveries
        self._emails, self._deliveries = [], []
        if emails or deliveries:
            await self._start(emails, deliveries)


def build_handlers(
    settings: NotificationsSettings, enqueue_email: EnqueueEmail, enqueue_delivery: EnqueueDelivery
) -> dict[str, Handler]:
    return combine(
        email_handlers(enqueue_email, mail_from=settings.mail_from, public_url=settings.public_url),
        webhook_handlers(enqueue_delivery, settings.lost_task_seconds),
    )


def wiring(
    settings: NotificationsSettings,
    enqueue_email: EnqueueEmail | None = None,
    enqueue_delivery: EnqueueDelivery | None = None,
    start: StartSending = celery_start_sending,
) -> tuple[dict[str, Handler], AfterBatch]:
    """The handlers and the after-batch step: emails and deliveries start through one Celery task per batch
    (`start`), unless a test gives its own `enqueue_email` / `enqueue_delivery`."""
    kickoff = Kickoff(start)
    return build_handlers(settings, enqueue_email or kickoff.email, enqueue_delivery or kickoff.delivery), kickoff.flush


def make_consumer(
    pool,
    redis,
    settings: NotificationsSettings,
    *,
    enqueue_email: EnqueueEmail | None = None,
    enqueue_delivery: EnqueueDelivery | None = None,
    start: StartSending = celery_start_sending,
    name: str | None = None,
) -> StreamConsumer:
    handlers, after_batch = wiring(settings, enqueue_email, enqueue_delivery, start)
    return consumer_for(pool, redis, settings, group=GROUP, handlers=handlers, name=name, after_batch=after_batch)


if __name__ == "__main__":
    cfg = load_settings(NotificationsSettings)
    cfg_handlers, cfg_after_batch = wiring(cfg)
    run_worker(
        "notifications-consumer",
        cfg,
        lambda stop: serve(
            cfg, schema="notifications", group=GROUP, handlers=cfg_handlers, stop=stop, after_batch=cfg_after_batch
        ),
    )
