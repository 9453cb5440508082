"""The customer's booking flow through the gateway, one booking at a time and timed step by step:
availability -> hold -> booking (all-clear screening) -> card payment on the fake Stripe if asked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, timedelta

from tests.perf.figures import timed_ms
from tests.perf.harness import assert_loopback

HOLDS_PATH = "/api/v1/holds"
BOOKINGS_PATH = "/api/v1/bookings"
# Days the email bookings may search for a free slot of their therapist.
EMAIL_MAX_DAYS = 60


@dataclass
class FlowTimes:
    """Round trips (ms) of each step of the booking flow through the gateway."""

    availability: list[float] = field(default_factory=list)
    hold: list[float] = field(default_factory=list)
    booking: list[float] = field(default_factory=list)
    payment: list[float] = field(default_factory=list)  # only if bookings await a card payment


class SlotPicker:
    """The next free slot of the email bookings' therapist, as a customer finds it: GET availability
    for a day, take its first slot (times already booked drop out of the answer), next day when full."""

    def __init__(self, client, first_day: date):
        self.client = client
        self.day = first_day

    async def next(self, times: FlowTimes) -> str:
        from tests.support.booking import free_slots

        for _ in range(EMAIL_MAX_DAYS):
            with timed_ms(times.availability):
                slots = await free_slots(self.client, self.day)
            if slots:
                return slots[0]["start"]
            self.day += timedelta(days=1)
        raise RuntimeError(f"no free slot within {EMAIL_MAX_DAYS} days of the email bookings' first day")


async def book_sequentially(
    client, picker: SlotPicker, count: int, pause: float, label: str, stripe_url: str
) -> tuple[list[str], FlowTimes]:
    """`count` bookings through the gateway, one at a time, `pause` seconds apart, each availability ->
    POST /api/v1/holds -> POST /api/v1/bookings (all-clear screening); their ids and round trips.
    A booking answered as pending_payment is paid on the fake Stripe as a browser would; it confirms
    when the payment's event arrives, and the email's hops start at that commit either way."""
    from tests.support.booking import booking_body, hold

    ids: list[str] = []
    times = FlowTimes()
    for i in range(count):
        start = await picker.next(times)
        with timed_ms(times.hold):
            held = await hold(client, start)
        with timed_ms(times.booking):
            resp = await client.request(
                "POST", BOOKINGS_PATH, json=booking_body(held["id"], f"{label.lower()}-{i}@example.com")
            )
            payload = await resp.json()
            if resp.status != 201:
                raise RuntimeError(f"{label} booking {i} answered {resp.status}: {payload}")
        if payload.get("status") == "pending_payment" and payload.get("payment"):
            from tests.support.payments import customer_pays

            with timed_ms(times.payment):
                outcome = await customer_pays(assert_loopback(stripe_url), payload["payment"]["stripe_payment_intent"])
                if outcome != "succeeded":
                    raise RuntimeError(f"{label} booking {i}: card payment {outcome}")
        elif payload.get("status") != "confirmed":
            raise RuntimeError(
                f"{label} booking {i} is {payload.get('status')!r}, neither confirmed nor awaiting payment"
            )
        ids.append(payload["id"])
        await asyncio.sleep(pause)
    return ids, times
