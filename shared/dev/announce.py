"""`python -m shared.dev.announce`: `make run`'s last word. Once every service answers /readyz, it prints
where to go and the demo sign-ins (the seed printed them first, but a dozen processes' logs scroll them
away at once), keeps the same text in var/demo.txt, and exits. Development only."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from http.client import HTTPResponse
from pathlib import Path

from shared.config import SERVICE_PORTS, Settings, load_settings

READY_TIMEOUT_SECONDS = 120
POLL_SECONDS = 0.25
ACCOUNTS_FILE = "demo-accounts.txt"  # written by services.booking.seed
ANNOUNCEMENT_FILE = "demo.txt"


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR", "var"))


def addresses(public_url: str) -> list[str]:
    return [
        f"  Shop:         {public_url}/   (open it and press Book now)",
        f"  Dashboard:    {public_url}/clinic",
        f"  Dev mailbox:  {public_url}/dev/mailbox",
        f"  API docs:     {public_url}/docs",
    ]


def announcement(public_url: str, accounts: str) -> str:
    lines = ["", "  Every service is up.", *addresses(public_url)]
    if accounts.strip():
        lines += ["", *accounts.rstrip().splitlines()]
    lines += [f"  (kept in {var_dir() / ANNOUNCEMENT_FILE})", "  Ctrl-C stops everything.", ""]
    return "\n".join(lines) + "\n"


def ready(settings: Settings, service: str) -> bool:
    resp: HTTPResponse  # what urlopen gives for http:// (typeshed says Any)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.port(service)}/readyz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_until_ready(settings: Settings) -> list[str]:
    """The services still not ready when the time ran out (none: all ready)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    waiting = list(SERVICE_PORTS)
    while waiting and time.monotonic() < deadline:
        waiting = [service for service in waiting if not ready(settings, service)]
        if waiting:
            time.sleep(POLL_SECONDS)
    return waiting


def main() -> None:
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))  # Ctrl-C while waiting: no traceback
    settings = load_settings()
    not_ready = wait_until_ready(settings)
    if not_ready:
        print(
            f"\n  Not ready after {READY_TIMEOUT_SECONDS} s: {', '.join(not_ready)}. See their logs above.\n",
            flush=True,
        )
        return
    accounts_file = var_dir() / ACCOUNTS_FILE
    accounts = accounts_file.read_text() if accounts_file.exists() else ""
    text = announcement(settings.public_url, accounts)
    (var_dir() / ANNOUNCEMENT_FILE).write_text(text)
    print(text, end="", flush=True)


if __name__ == "__main__":
    main()
