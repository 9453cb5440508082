import json
import logging

from shared.logs import JsonFormatter, request_id_var


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
