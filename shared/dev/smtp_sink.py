"""`python -m shared.dev.smtp_sink`: an SMTP server that keeps every message in a Maildir.

The dev mailbox page (notifications service, /dev/mailbox) reads the same Maildir.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from shared.config import load_settings
from shared.logs import setup_logging

log = logging.getLogger("smtp-sink")


def main() -> None:
    settings = load_settings()
    setup_logging("smtp-sink", settings.log_level)
    host = os.environ.get("SMTP_SINK_HOST", "127.0.0.1")
    for sub in ("tmp", "new", "cur"):  # a complete Maildir, even if the folder already existed
        (Path(settings.mailbox_dir) / sub).mkdir(parents=True, exist_ok=True)
    # hostname must be given: without it aiosmtpd listens on ::1 only.
    controller = Controller(Mailbox(settings.mailbox_dir), hostname=host, port=settings.smtp_port)
    controller.start()
    log.info("smtp sink listening", extra={"address": f"{host}:{settings.smtp_port}",
                                           "maildir": settings.mailbox_dir})
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
