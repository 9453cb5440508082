"""Storm: 200 customers press "hold" on the same time at once, through the gateway. Exactly one wins."""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import aiohttp
import pytest

from tests.support.booking import BaseUrlClient, free_slots, hold_body, next_weekday

pytestmark = pytest.mark.e2e
STORM = 200


async def storm(stack, bodies: list[dict]) -> Counter:
    connector = aiohttp.TCPConnector(limit=STORM)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one(body):
            async with http.post(f"{stack.url()}/api/v1/holds", json=body) as resp:
                await resp.read()
                return resp.status
        return Counter(await asyncio.gather(*(one(b) for b in bodies)))


async def slots_of(stack, day) -> list[dict]:
    async with aiohttp.ClientSession() as http:
        return await free_slots(BaseUrlClient(http, stack.url()), day)


async def test_200_holds_for_the_same_slot_one_wins(stack):
    slot = (await slots_of(stack, next_weekday(4, weeks_ahead=2)))[0]
    outcome = await storm(stack, [hold_body(slot["start"])] * STORM)
    assert outcome == Counter({201: 1, 409: STORM - 1}), outcome


async def test_200_holds_for_overlapping_different_slots_one_wins(stack):
    first = datetime.fromisoformat((await slots_of(stack, next_weekday(4, weeks_ahead=3)))[0]["start"])
    # 09:00, 09:15, 09:30, 09:45 for a 60-minute massage: every pair overlaps.
    starts = [(first + timedelta(minutes=15 * (i % 4))).isoformat() for i in range(STORM)]
    outcome = await storm(stack, [hold_body(s) for s in starts])
    assert outcome == Counter({201: 1, 409: STORM - 1}), outcome
