"""A clinic's webhook receiver for tests: records every request and answers as it is told."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiohttp import web


@dataclass
class Received:
    headers: dict
    body: bytes
    peer: tuple | None = None  # the sender's address and port: the same on a kept-alive connection


@dataclass
class Receiver:
    """`answers` are taken in order (status, headers, delay seconds); after them, 200. Status 0: hang up
    without answering."""

    answers: list[tuple[int, dict, float]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            self.received.append(
                Received(dict(request.headers), await request.read(), request.transport.get_extra_info("peername"))
            )
            status, headers, delay = self.answers.pop(0) if self.answers else (200, {}, 0.0)
            if delay:
                await asyncio.sleep(delay)
            if status == 0:
                request.transport.close()
                raise asyncio.CancelledError()
            return web.Response(status=status, headers=headers, text="ok" if status < 300 else "nope")

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app


@pytest.fixture
async def receiver(aiohttp_server) -> Receiver:
    """A receiver listening on a free port of this test; its URL at `.url`."""
    box = Receiver()
    server = await aiohttp_server(box.app())
    box.url = str(server.make_url("/hook"))
    return box
