import pytest

from services.booking.app import create_app as create_booking_app


@pytest.fixture
async def booking(settings, aiohttp_client):
    """The booking service in-process, on this test's own database."""
    return await aiohttp_client(create_booking_app(settings))
