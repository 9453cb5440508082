"""`python -m shared.dev.smtp_sink`: an SMTP server that keeps every message in a Maildir.

The dev mailbox page (notifications service, /dev/mailbox) reads the same Maildir.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.config import Settings, default_mailbox_dir, load_settings, setting
from shared.logs import setup_logging

log = logging.getLogger("smtp-sink")


@dataclass(frozen=True)
class SinkSettings(Settings):
    # Where the notifications service sends its mail (SMTP_PORT) and whose Maildir its dev mailbox page reads.
    smtp_port: int = 8025
    mailbox_dir: str = setting("var/mailbox", fallback=default_mailbox_dir)


class MaildirSink:
    """aiosmtpd handler: each message's bytes, as received, into new/ of a Maildir (written in tmp/, then
    renamed, so a reader never sees half a message). aiosmtpd's own Mailbox handler parses and re-generates
    every message and fsyncs it; a development catcher needs neither, and both cost more than the rest of
    the SMTP conversation."""

    def __init__(self, directory: str | Path):
        self.root = Path(directory)
        for sub in ("tmp", "new", "cur"):  # a complete Maildir, even if the folder already existed
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
        self._counter = itertools.count()

    def _unique_name(self) -> str:
        now = time.time()
        return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(self._counter)}.{self._host}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.original_content is not None  # aiosmtpd sets it before it calls handle_DATA
        name = self._unique_name()
        tmp = self.root / "tmp" / name
        tmp.write_bytes(envelope.original_content.replace(b"\r\n", b"\n"))
        os.rename(tmp, self.root / "new" / name)
        return "250 OK"


def sink_controller(directory: str | Path, host: str, port: int) -> Controller:
    # hostname must be given: without it aiosmtpd listens on ::1 only. SMTPUTF8: addresses outside ASCII.
    # uvloop: the SMTP conversation is read a line at a time, where the default loop costs more per line.
    return Controller(
        MaildirSink(directory), hostname=host, port=port, enable_SMTPUTF8=True, loop=uvloop.new_event_loop()
    )


def main() -> None:
    settings = load_settings(SinkSettings)
    setup_logging("smtp-sink", settings.log_level)
    host = os.environ.get("SMTP_SINK_HOST", "127.0.0.1")
    controller = sink_controller(settings.mailbox_dir, host, settings.smtp_port)
    controller.start()
    log.info("smtp sink listening", extra={"address": f"{host}:{settings.smtp_port}", "maildir": settings.mailbox_dir})
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
