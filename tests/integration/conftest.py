from dataclasses import dataclass

import pytest

from services.booking.app import create_app as create_booking_app
from services.gateway.app import create_app as create_gateway
from services.notifications.app import create_app as create_notifications
from services.payments import service as payments_service
from services.payments import voucher_service
from services.payments.app import create_app as create_payments_app
from tests.support.clinic_api import issue_keys
from tests.support.infra import free_port
from tests.support.payments import EventPath, customer_pays


def issuer_for(settings) -> payments_service.VoucherIssuer:
    return payments_service.VoucherIssuer(voucher_service.CodeKeys(settings.voucher_code_key))


@pytest.fixture
def linked(settings):
    """Settings in which booking, payments and notifications find each other on ports chosen up front."""
    ports = {"booking": free_port(), "payments": free_port(), "notifications": free_port()}
    return ports, settings.with_overrides(upstreams={s: f"http://127.0.0.1:{p}" for s, p in ports.items()})


@pytest.fixture
async def payments_server(linked, aiohttp_server):
    """The payments service in-process (no background reconciler: tests drive it)."""
    ports, settings = linked
    return await aiohttp_server(create_payments_app(settings, reconciler=False), port=ports["payments"])


@pytest.fixture
async def booking_server(linked, payments_server, aiohttp_server):
    ports, settings = linked
    return await aiohttp_server(create_booking_app(settings), port=ports["booking"])


@pytest.fixture
async def booking(booking_server, aiohttp_client):
    """The booking service in-process, on this test's own database, talking to the payments service."""
    return await aiohttp_client(booking_server)


@pytest.fixture
async def payments(booking_server, payments_server, aiohttp_client):
    """The payments service's public API (it reads the catalogue from the booking service)."""
    return await aiohttp_client(payments_server)


@pytest.fixture
async def event_path(settings, redis, booking_pool, payments_pool, notifications_pool):
    path = EventPath(
        settings, redis, {"booking": booking_pool, "payments": payments_pool, "notifications": notifications_pool}
    )
    await path.start()
    yield path
    await path.close()


@dataclass
class Checkout:
    """The customer's card payment, and what our side does about it, step by step."""

    settings: object
    payments_pool: object
    event_path: EventPath

    async def pay(self, booking: dict, card: str = "pm_card_visa") -> str:
        status = await customer_pays(self.settings.stripe_api_base, booking["payment"]["stripe_payment_intent"], card)
        await self.reconcile()
        return status

    async def reconcile(self) -> None:
        # The reconciler's path (the webhook's is proven end to end): ask Stripe, apply, relay, consume.
        async with self.payments_pool.acquire() as conn, conn.transaction():
            await payments_service.reconcile(conn, self.event_path.stripe, 0, issuer_for(self.settings))
        await self.event_path.drain()


@pytest.fixture
def checkout(settings, payments_pool, event_path) -> Checkout:
    return Checkout(settings, payments_pool, event_path)


@pytest.fixture
async def gateway(linked, booking_server, payments_server, aiohttp_server, aiohttp_client):
    """The gateway in front of in-process booking, payments and notifications services."""
    ports, settings = linked
    await aiohttp_server(create_notifications(settings), port=ports["notifications"])
    return await aiohttp_client(create_gateway(settings))


@pytest.fixture
async def keys(booking_pool) -> dict[str, str]:
    """A clinic API key for each seeded clinic, by slug."""
    return await issue_keys(booking_pool)
