"""``Content-Disposition`` of downloads for any file name (issue 12, item 12)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from sference_server.render.downloads import attachment

NAMES = ['a "quoted" name', "données 😀.jsonl", "a; filename=evil.exe", "line\r\nbreak: x", "back\\slash %41", ""]


@pytest.mark.parametrize("name", NAMES)
def test_12_any_name_travels_exactly_and_cannot_break_the_header(name: str) -> None:
    header = attachment(name)
    found = re.fullmatch(r"attachment; filename=\"([ !#-$&-:<-\[\]-~]*)\"; filename\*=UTF-8''([!-~]*)", header)
    assert found, header
    assert unquote(found.group(2), errors="strict") == name
    assert len(found.group(1)) == len(name) if name else found.group(1) == "download"  # a stand-in per character


def test_12_plain_names_keep_their_ascii_form() -> None:
    assert attachment("results.jsonl") == "attachment; filename=\"results.jsonl\"; filename*=UTF-8''results.jsonl"
