from __future__ import annotations

import json
from pathlib import Path

import pytest

from sference_sdk import JsonlError, SferenceClient


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def envelope(custom_id: str | None, model: str = "m") -> str:
    record = {
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": "hi"}]},
    }
    if custom_id is not None:
        record["custom_id"] = custom_id
    return json.dumps(record)


def test_envelope_lines(tmp_path: Path) -> None:
    rows = SferenceClient.parse_inference_requests_jsonl(write(tmp_path, envelope("a"), "", envelope(None)))
    assert [r.custom_id for r in rows] == ["a", None]
    assert rows[0].body["model"] == "m"


def test_content_lines_take_the_model_and_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, '{"content": "one"}', "", '{"content": "two", "custom_id": "x"}', '{"content": "three"}')
    rows = SferenceClient.parse_inference_requests_jsonl(path, model="m")
    assert [r.custom_id for r in rows] == ["request-1", "x", "request-4"]
    assert rows[0].body == {"model": "m", "messages": [{"role": "user", "content": "one"}]}


def test_the_model_argument_is_ignored_for_envelopes_with_one_warning(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="model argument is ignored") as caught:
        SferenceClient.parse_inference_requests_jsonl(write(tmp_path, envelope("a"), envelope("b")), model="other")
    assert len(caught) == 1


@pytest.mark.parametrize(
    ("lines", "model", "message"),
    [
        (['{"content": "x"}'], None, "model is required for content-only JSONL format"),
        (["{not json"], "m", "Invalid JSON on line 1"),
        (['{"content": "ok"}', "", '{"prompt": "x"}'], "m", "Unsupported JSONL line format at line 3"),
        (
            ['{"method": "POST", "url": "/v1/chat/completions", "body": {"messages": []}}'],
            None,
            "Invalid JSONL line 1: body.model is required",
        ),
        (["", "  "], "m", "At least one request is required"),
        (["[1, 2]"], "m", "line 1"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, lines: list[str], model: str | None, message: str) -> None:
    with pytest.raises(JsonlError, match=message.replace("(", r"\(")):
        SferenceClient.parse_inference_requests_jsonl(write(tmp_path, *lines), model=model)


def test_legacy_dict_parser(tmp_path: Path) -> None:
    assert SferenceClient._parse_jsonl(write(tmp_path, '{"content": "x"}'), model="m") == [
        {"custom_id": "request-1", "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}
    ]
