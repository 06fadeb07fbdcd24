"""The log's two formats and the ids bound to what a line is about (logs.py)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from sference_server import logs


def record(message: str = "claimed %d", *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("sference.worker", logging.INFO, __file__, 1, message, args or (3,), None)
    made.__dict__.update(extra)
    assert logs.ContextFields().filter(made)
    return made


def test_bound_ids_nest_and_end_with_their_block() -> None:
    assert logs.current() == {}
    with logs.bound(request_id="r1"):
        with logs.bound(item_id="i1", batch_id=None):
            assert logs.current() == {"request_id": "r1", "item_id": "i1"}  # None: not bound
        assert logs.current() == {"request_id": "r1"}
    assert logs.current() == {}


def test_a_json_line_has_the_message_the_ids_and_the_fields() -> None:
    with logs.bound(item_id="i1", batch_id="b1"):
        line = json.loads(logs.JsonLines().format(record(fields={"status": 201})))
    assert line.pop("time").endswith("Z")
    assert line == {
        "level": "INFO",
        "logger": "sference.worker",
        "message": "claimed 3",
        "item_id": "i1",
        "batch_id": "b1",
        "status": 201,
    }


def test_a_json_line_keeps_the_traceback_in_one_field() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = record(exc_info=sys.exc_info())
    line = json.loads(logs.JsonLines().format(failed))
    assert "RuntimeError: boom" in line["exception"] and "\n" not in logs.JsonLines().format(failed)


def test_a_text_line_ends_with_the_ids_before_any_traceback() -> None:
    with logs.bound(request_id="r1"):
        plain = logs.TextLines().format(record())
    assert plain.endswith("INFO sference.worker: claimed 3 request_id=r1")
    assert logs.TextLines().format(record()).endswith("claimed 3")  # nothing bound: nothing added


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format must be one of text, json"):
        logs.configure("INFO", "xml")
