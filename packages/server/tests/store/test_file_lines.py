"""Splitting stored files into lines (issue 12, item 9): linear, and a line has a maximum length."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sference_server.store.files import LineTooLong, iter_lines


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_9_lines_across_chunk_boundaries(size: int) -> None:
    data = b'{"a": 1}\n\n{"b": 2}\r\nlast without newline'
    assert list(iter_lines(pieces(data, size), 100)) == data.split(b"\n")
    assert list(iter_lines(pieces(b"one\n", size), 100)) == [b"one"]


def test_9_a_line_over_the_limit_is_refused_by_number_before_it_is_read_whole() -> None:
    pulled = 0

    def no_newline() -> Iterator[bytes]:  # 256 MiB without a newline, a MiB at a time
        nonlocal pulled
        for _ in range(256):
            pulled += 1
            yield b"x" * (1 << 20)

    with pytest.raises(LineTooLong) as refused:
        list(iter_lines(no_newline(), 8 << 20))
    assert refused.value.line == 1 and pulled == 9  # stopped just past the limit
    with pytest.raises(LineTooLong) as second:
        list(iter_lines(pieces(b"ok\n" + b"y" * 11 + b"\nz", 4), 10))
    assert second.value.line == 2
    assert list(iter_lines(pieces(b"ok\n" + b"y" * 10, 4), 10)) == [b"ok", b"y" * 10]
