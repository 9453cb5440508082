"""Entry point helper for long-running workers (relays, stream consumers): logs, uvloop, clean stop."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Awaitable, Callable

import uvloop

from shared.config import Settings
from shared.logs import setup_logging

log = logging.getLogger(__name__)


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, clients, pools) out of the garbage collector's view:
    a full collection of a process's ~80k start-up objects pauses it for ~20 ms, a request's whole budget."""
    gc.collect()
    gc.freeze()


def run_worker(name: str, settings: Settings, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop)` until SIGTERM/SIGINT sets `stop`; `main` finishes its current unit of work first."""
    setup_logging(name, settings.log_level)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        freeze_startup_objects()
        await main(stop)

    uvloop.run(_run())
