"""The checked JSON parser (json_input.py): depth measured without parsing, in pieces of any size;
NULs and lone surrogates refused by path (issue 12, items 7 and 10)."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest

from sference_server.json_input import MAX_DEPTH, DepthGuard, InvalidJson, check_text, loads, scan_file

TRICKY = [
    b'{"a": "x\\\\"}',
    b'{"a": "[[[\\"{{", "b": [1, {"c": "]"}]}',
    b'[["\\\\\\"]]]"], {}, [[]]]',
    b'{"k\\\\\\\\": [1, {"z": "]}"}], "e": "\\u005b\\""}',
]


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max([depth(v) for v in value.values()], default=0)
    if isinstance(value, list):
        return 1 + max([depth(v) for v in value], default=0)
    return 0


def feed_split(text: bytes, limit: int, *cuts: int) -> None:
    guard, start = DepthGuard(limit=limit), 0
    for cut in (*cuts, len(text)):
        guard.feed(text[start:cut])
        start = cut


@pytest.mark.parametrize("text", TRICKY)
def test_7_the_depth_is_exact_wherever_the_text_is_cut(text: bytes) -> None:
    """Brackets and quotes inside strings, escaped quotes and backslashes, cut at every two points."""
    exact = depth(json.loads(text))
    for first in range(len(text) + 1):
        for second in range(first, len(text) + 1):
            feed_split(text, exact, first, second)  # at the limit: accepted
            with pytest.raises(InvalidJson):
                feed_split(text, exact - 1, first, second)


def deepest(text: bytes) -> int:
    """The guard's measure, byte by byte: the deepest level of brackets outside strings (a
    closing bracket at depth 0 changes nothing; a backslash escapes the next byte, in a string
    or, in text that is not JSON, outside one)."""
    level = deepest_level = 0
    in_string = escaped = False
    for byte in text:
        if escaped:
            escaped = False
        elif byte == ord("\\"):
            escaped = True
        elif in_string:
            if byte == ord('"'):
                in_string = False
        elif byte == ord('"'):
            in_string = True
        elif byte in b"[{":
            level += 1
            deepest_level = max(deepest_level, level)
        elif byte in b"]}" and level:
            level -= 1
    return deepest_level


def test_7_any_text_in_any_pieces_measures_as_byte_by_byte() -> None:
    """Random texts of brackets, quotes, backslashes and letters (JSON or not, closing more than
    they open), cut at random: refused exactly when the byte-by-byte measure passes the limit."""
    rng = random.Random(7)
    for _ in range(3000):
        text = bytes(rng.choice(b'[[{{]]}}"\\ab,') for _ in range(rng.randrange(1, 60)))
        cuts = sorted(rng.randrange(len(text) + 1) for _ in range(rng.randrange(4)))
        exact = deepest(text)
        feed_split(text, exact, *cuts)
        if exact:
            with pytest.raises(InvalidJson):
                feed_split(text, exact - 1, *cuts)


def test_7_a_body_nested_30000_deep_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidJson) as refused:
        loads(b"[" * 30_000 + b"]" * 30_000)
    assert refused.value.loc == "body" and f"deeper than {MAX_DEPTH}" in refused.value.detail
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None


def test_7_a_file_is_scanned_in_pieces() -> None:
    deep_row = b'{"requests": [{"custom_id": "a", "body": ' + b"[" * 70 + b"]" * 70 + b"}]}"
    with pytest.raises(InvalidJson):
        scan_file(io.BytesIO(deep_row), chunk_bytes=7)
    assert scan_file(io.BytesIO(b'{"a": "\\u0000"}'), chunk_bytes=3) is True  # the escape spans pieces
    assert scan_file(io.BytesIO(b'{"a": "\\u0041"}'), chunk_bytes=3) is False


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (b'{"messages": [{"content": "a\\u0000"}]}', "body.messages[0].content"),
        (b'{"input": "\\ud800"}', "body.input"),
        (b'{"input": "\\udc00x"}', "body.input"),
        (b'{"input": "\\ude00\\ud83d"}', "body.input"),  # a pair the wrong way round
        (b'{"metadata": {"k\\u0000": "v"}}', "body.metadata.'k\\x00'"),
        (b'["ok", "\\u0000"]', "body[1]"),
    ],
)
def test_10_nul_and_lone_surrogates_are_refused_by_path(text: bytes, where: str) -> None:
    with pytest.raises(InvalidJson) as refused:
        loads(text)
    assert refused.value.loc == where


def test_10_ordinary_text_is_kept_intact() -> None:
    text = b'{"a": "\\ud83d\\ude00", "b": "\\\\u0000", "c": "\\u00e9\\t"}'
    assert loads(text) == {"a": "\U0001f600", "b": "\\u0000", "c": "\u00e9\t"}
    with pytest.raises(InvalidJson):
        check_text("a\x00b", "username")
    assert check_text("é \U0001f600", "username") == "é \U0001f600"
