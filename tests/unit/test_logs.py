import atexit
import json
import logging

from shared.logs import JsonFormatter, OffLoopHandler, request_id_var, setup_logging


def format_record(msg: str, **extra) -> dict:
    record = logging.makeLogRecord({"name": "t", "levelno": logging.INFO, "levelname": "INFO", "msg": msg, **extra})
    return json.loads(JsonFormatter("booking").format(record))


def test_one_json_object_per_line_with_service_and_extras():
    line = format_record("booking created", booking_id="b1")
    assert line["msg"] == "booking created" and line["service"] == "booking" and line["booking_id"] == "b1"
    assert line["level"] == "info" and line["ts"].endswith("+00:00")
    assert "request_id" not in line


def test_the_current_request_id_is_on_every_line():
    token = request_id_var.set("req-42")
    try:
        assert format_record("hello")["request_id"] == "req-42"
    finally:
        request_id_var.reset(token)


def test_a_line_written_off_the_loop_keeps_what_it_had_where_it_was_made(capsys):
    # The HTTP services' lines are written by a thread (OffLoopHandler): request id, message and traceback are
    # those of the moment the line was made, not of whatever the loop does when the thread writes it.
    root = logging.getLogger()
    kept_handlers, kept_level = root.handlers[:], root.level
    setup_logging("web", off_loop=True)
    handler = root.handlers[0]
    assert isinstance(handler, OffLoopHandler)
    token = request_id_var.set("req-7")
    try:
        logging.getLogger("t").info("page %s", "shown", extra={"path": "/c/x"})
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("t").exception("failed")
    finally:
        request_id_var.reset(token)
    request_id_var.set("a-later-request")
    handler.listener.stop()  # what the process does at exit: every queued line written
    atexit.unregister(handler.listener.stop)
    root.handlers[:], root.level = kept_handlers, kept_level
    shown, failed = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert shown["msg"] == "page shown" and shown["path"] == "/c/x" and shown["request_id"] == "req-7"
    assert failed["request_id"] == "req-7" and "ValueError: boom" in failed["exc"]
