"""`python -m services.booking.demo`: book a demo appointment through the gateway, as a customer would.

Tries the next whole hours from tomorrow 10:00 (clinic time) until one is free, then prints the
booking; the confirmation email appears in the dev mailbox a moment later.
"""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp

from services.booking.seed import stable_id
from shared.config import load_settings

CLINIC = "urban-therapy"
MAX_TRIES = 48


async def main() -> None:
    settings = load_settings()
    tz = ZoneInfo("Europe/London")
    day = datetime.now(tz).date() + timedelta(days=1)
    start = datetime.combine(day, time(10), tz)
    async with aiohttp.ClientSession() as http:
        for _ in range(MAX_TRIES):
            body = {"clinic": CLINIC, "treatment": str(stable_id(CLINIC, "treatment", "deep-tissue-60")),
                    "therapist": str(stable_id(CLINIC, "therapist", "amara-okafor")), "start": start.isoformat(),
                    "customer": {"name": "Demo Customer", "email": "demo.customer@example.com"}}
            async with http.post(f"{settings.public_url}/api/v1/bookings", json=body) as resp:
                answer = await resp.json()
                if resp.status != 409:
                    print(json.dumps(answer, indent=2))
                    print(f"\nMailbox: {settings.public_url}/dev/mailbox")
                    return
            start += timedelta(hours=1)
    raise SystemExit("no free demo slot found")


if __name__ == "__main__":
    asyncio.run(main())
