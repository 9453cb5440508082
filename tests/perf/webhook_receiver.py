"""A clinic's webhook receiver on 127.0.0.1 for the bench: an aiohttp server in this process, on its own
thread and event loop (so the bench's own work on the main loop does not delay the arrival stamps), that
stamps each request's arrival (time.time(), once its body is read) per `webhook-id` and checks every
signature with the `standardwebhooks` package; and the receiver's floor, signed POSTs straight to it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from tests.perf.harness import LOOPBACK, assert_loopback

HOOK_PATH = "/hook"
# Marks the negative control: a POST whose body was changed after signing, which must fail verification.
CONTROL_HEADER = "x-bench-control"
START_TIMEOUT = 10.0


class WebhookReceiver:
    """As a context manager: listening on a free loopback port until left. Answers 200 to everything (a
    failed signature is counted, not refused, so no retry changes what is measured)."""

    def __init__(self) -> None:
        from tests.support.infra import free_port

        self.port = free_port()
        self.url = assert_loopback(f"http://{LOOPBACK}:{self.port}{HOOK_PATH}")
        self.arrivals: dict[str, float] = {}  # webhook-id -> time.time() of its first arrival
        self.booking_of: dict[str, str] = {}  # webhook-id -> data.booking_id of the body
        self.body_sizes: dict[str, int] = {}
        self.sample_body: bytes | None = None  # the first verified body with a booking_id
        self.requests = 0
        self.repeats = 0  # the same webhook-id again (a redelivery)
        self.failures: Counter[str] = Counter()  # verification failures by reason (must stay empty)
        self.controls: Counter[str] = Counter()  # negative controls: "rejected" expected
        self._verifier = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="bench-webhook-receiver", daemon=True)

    def set_secret(self, secret: str) -> None:
        from standardwebhooks.webhooks import Webhook

        self._verifier = Webhook(secret)

    def arrival_of_booking(self) -> dict[str, float]:
        """data.booking_id -> first arrival (several endpoints are not registered, so one per booking)."""
        found: dict[str, float] = {}
        for webhook_id, booking_id in list(self.booking_of.items()):
            at = self.arrivals[webhook_id]
            if booking_id not in found or at < found[booking_id]:
                found[booking_id] = at
        return found

    def _app(self):
        from aiohttp import web

        async def hook(request: web.Request) -> web.Response:
            body = await request.read()
            arrived = time.time()
            self.requests += 1
            webhook_id = request.headers.get("webhook-id", "")
            control = request.headers.get(CONTROL_HEADER)
            try:
                if self._verifier is None:
                    raise RuntimeError("no secret yet")
                payload = self._verifier.verify(body, dict(request.headers))
            except Exception as exc:  # standardwebhooks' WebhookVerificationError, or a bad body
                if control:
                    self.controls["rejected"] += 1
                else:
                    self.failures[f"{type(exc).__name__}: {exc}"[:120]] += 1
                return web.Response(text="ok")
            if control:
                self.controls["accepted"] += 1  # a tampered body passed: the check is not working
                return web.Response(text="ok")
            if webhook_id in self.arrivals:
                self.repeats += 1
                return web.Response(text="ok")
            self.arrivals[webhook_id] = arrived
            self.body_sizes[webhook_id] = len(body)
            booking_id = (payload.get("data") or {}).get("booking_id") if isinstance(payload, dict) else None
            if booking_id:
                self.booking_of[webhook_id] = booking_id
                if self.sample_body is None:
                    self.sample_body = body
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post(HOOK_PATH, hook)
        return app

    def _serve(self) -> None:
        import uvloop
        from aiohttp import web

        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        runner = web.AppRunner(self._app(), access_log=None)
        try:
            self._stop = asyncio.Event()
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, LOOPBACK, self.port).start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_until_complete(self._stop.wait())
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("the webhook receiver did not start")
        if self._error is not None:
            raise RuntimeError(f"the webhook receiver did not start: {self._error!r}")
        return self

    def __exit__(self, *_exc) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT)


def _signed_headers(secret: str, msg_id: str, body: str) -> dict[str, str]:
    """Headers as the product's attempt sends them (services/notifications/webhooks/delivery.py)."""
    from standardwebhooks.webhooks import Webhook

    now = datetime.now(timezone.utc)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        "Content-Type": "application/json",
        "User-Agent": "ClinicBookings-Bench/1.0",
    }


async def _post_once(url: str, body: bytes, headers: dict[str, str]) -> int:
    """One POST as the product's _post makes it (webhooks/delivery.py): a new session and connection each time."""
    import aiohttp

    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=15)) as session:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            await resp.read()
            return resp.status


async def direct_signed_posts(
    receiver: WebhookReceiver, secret: str, body: bytes, count: int, rate: float
) -> dict[str, Any]:
    """The receiver's floor: `count` signed POSTs of `body` from this process straight to the receiver,
    `1/rate` s apart, each timed from the call (after signing) to the receiver's arrival stamp (ms); then
    one POST whose body changed after signing (a negative control: the receiver must reject it)."""
    times: list[float] = []
    statuses: Counter[int] = Counter()
    text = body.decode()
    for i in range(count):
        msg_id = f"msg_bench_floor_{i}"
        headers = _signed_headers(secret, msg_id, text)
        began = time.time()
        statuses[await _post_once(receiver.url, body, headers)] += 1
        if msg_id in receiver.arrivals:
            times.append((receiver.arrivals[msg_id] - began) * 1000.0)
        await asyncio.sleep(1.0 / rate)
    data = json.loads(text)
    data["data"]["booking_id"] = "00000000-0000-0000-0000-000000000000"  # changed after signing
    headers = _signed_headers(secret, "msg_bench_control", text) | {CONTROL_HEADER: "tampered"}
    await _post_once(receiver.url, json.dumps(data, separators=(",", ":")).encode(), headers)
    return {"ms": times, "statuses": dict(statuses)}
