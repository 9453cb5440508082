"""One JSON object per log line, carrying the request id of the work in progress.

The request id lives in a context variable: the HTTP middleware sets it from `X-Request-ID`,
event consumers set it from the event envelope, so one customer action can be followed
from the gateway to the email.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import logging.handlers
import queue
import sys
import uuid
from datetime import datetime, timezone

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else passed through `extra=` is emitted as a field.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def new_request_id() -> str:
    return uuid.uuid4().hex


# Paths whose rest is a secret, the only credential of what it names (a therapist's calendar feed URL, which
# calendar apps poll): logged up to the prefix only.
SECRET_PATH_PREFIXES = ("/api/v1/calendar/",)
REDACTED = "[redacted]"


def loggable_path(path: str) -> str:
    """A request path as it may be logged: any secret it carries replaced."""
    for prefix in SECRET_PATH_PREFIXES:
        if path.startswith(prefix):
            return prefix + REDACTED
    return path


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        # Stamped on the record where it was made when another thread writes it (OffLoopHandler).
        request_id = record.__dict__.get("request_id") or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key != "request_id" and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)


class OffLoopHandler(logging.handlers.QueueHandler):
    """Hands each record to a thread that formats and writes it: a service's event loop never waits on its
    log's pipe or file (one line per request), which the loop would otherwise do at every request. What the
    line needs from the moment it was made (its request id, its message and traceback) is fixed here."""

    listener: logging.handlers.QueueListener  # the thread writing the records (set by setup_logging)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.__dict__.setdefault("request_id", request_id_var.get())
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


class MalformedRequestFilter(logging.Filter):
    """aiohttp answers a request it cannot parse (a control byte in a header, a broken request line) with
    400 itself, before any middleware, and logs it as an error with a traceback. That is the client's
    fault, not ours: one warning line naming what was wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and (error.code or 400) < 500:
            record.msg, record.args = "malformed HTTP request refused", ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.__dict__["error"] = error.message.splitlines()[0] if error.message else type(error).__name__
            record.exc_info = record.exc_text = None
        return True


def setup_logging(service: str, level: str = "INFO", *, off_loop: bool = False) -> None:
    """JSON lines on stdout; `off_loop` (the HTTP services): written by a thread of their own, flushed at exit."""
    handler: logging.Handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    if off_loop:
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        writer = logging.handlers.QueueListener(records, handler)
        writer.start()
        atexit.register(writer.stop)
        queued = OffLoopHandler(records)
        queued.listener = writer
        handler = queued
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log repeats what our middleware logs.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(MalformedRequestFilter())
