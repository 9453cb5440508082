"""The services' public operations in-process, as the gateway assembles them from their internal APIs:
the tests' source of truth to compare the served document with, and to walk every route."""

from __future__ import annotations

from services.booking import api_spec as booking_spec
from services.gateway import openapi
from services.notifications import api_spec as notifications_spec
from services.payments import api_spec as payments_spec
from shared.openapi import Operation

BY_SERVICE: dict[str, tuple[Operation, ...]] = {
    "booking": booking_spec.OPERATIONS,
    "payments": payments_spec.OPERATIONS,
    "notifications": notifications_spec.OPERATIONS,
}
assert set(BY_SERVICE) == set(openapi.SPEC_SERVICES), "a service with public operations this module does not know"
# In the gateway's order.
OPERATIONS: tuple[Operation, ...] = tuple(op for service in openapi.SPEC_SERVICES for op in BY_SERVICE[service])


def build_document(public_url: str, operations: tuple[Operation, ...] = OPERATIONS) -> dict:
    """The document the gateway serves, built from the operations in-process."""
    return openapi.build_document(public_url, operations)
