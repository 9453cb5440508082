"""`python -m services.booking.consumer`: the booking service's reactions to other services' events
(a payment succeeded → confirm the booking, or ask for a refund)."""

from __future__ import annotations

import uuid

from services.booking import service
from services.booking.settings import BookingSettings
from services.booking.unit_of_work import PostgresUnitOfWork
from shared import contracts
from shared.config import load_settings
from shared.events import Event
from shared.runner import run_worker
from shared.streams import Handler, HandlerContext, serve

GROUP = "booking"


def build_handlers(settings: BookingSettings) -> dict[str, Handler]:
    links = service.Links(settings.public_url, settings.manage_link_key)

    async def on_payment_succeeded(ctx: HandlerContext, event: Event) -> None:
        payment = contracts.parse(contracts.PaymentStatusChanged, event)
        if payment.purpose == "booking":
            in_handlers_transaction = PostgresUnitOfWork.on(ctx.conn)  # kept with the inbox row, or neither
            await service.on_payment_succeeded(
                in_handlers_transaction, uuid.UUID(payment.reference_id), payment.payment_id, links
            )

    return {"payment.succeeded": on_payment_succeeded}


if __name__ == "__main__":
    cfg = load_settings(BookingSettings)
    run_worker(
        "booking-consumer",
        cfg,
        lambda stop: serve(cfg, schema="booking", group=GROUP, handlers=build_handlers(cfg), stop=stop),
    )
