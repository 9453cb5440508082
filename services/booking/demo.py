"""`python -m services.booking.demo`: book a demo appointment through the gateway, as a customer would:
availability → hold → booking with an all-clear health screening. The confirmation email appears in
the dev mailbox a moment later."""
from __future__ import annotations

import asyncio
import json

import aiohttp

from services.booking.screening import questionnaire
from services.booking.seed import stable_id
from shared.config import load_settings

CLINIC = "urban-therapy"
TREATMENT = str(stable_id(CLINIC, "treatment", "deep-tissue-60"))


async def main() -> None:
    api = f"{load_settings().public_url}/api/v1"
    async with aiohttp.ClientSession(raise_for_status=True) as http:
        async with http.get(f"{api}/clinics/{CLINIC}/availability", params={"treatment": TREATMENT}) as resp:
            slots = (await resp.json())["slots"]
        if not slots:
            raise SystemExit("no free slot this week")
        slot = slots[0]
        async with http.post(f"{api}/holds", json={"clinic": CLINIC, "treatment": TREATMENT,
                                                   "therapist": slot["therapist"]["id"], "start": slot["start"]}) as resp:
            hold = await resp.json()
        answers = {q.id: False for q in questionnaire().questions}
        async with http.post(f"{api}/bookings", json={
                "hold": hold["id"], "customer": {"name": "Demo Customer", "email": "demo.customer@example.com"},
                "screening": {"answers": answers}}) as resp:
            print(json.dumps(await resp.json(), indent=2))
    print(f"\nMailbox: {load_settings().public_url}/dev/mailbox")


if __name__ == "__main__":
    asyncio.run(main())
