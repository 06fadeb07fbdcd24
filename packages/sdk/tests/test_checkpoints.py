from __future__ import annotations

import json
from pathlib import Path

import pytest

from sference_sdk import clear_checkpoint, load_checkpoint, save_checkpoint


@pytest.fixture(autouse=True)
def checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "deep" / "checkpoints.json"
    monkeypatch.setenv("SFERENCE_STREAM_CHECKPOINTS", str(path))
    return path


def test_round_trip_per_base_url_stream_and_consumer(checkpoints: Path) -> None:
    save_checkpoint("http://a/", None, "default", "019d-1")
    save_checkpoint("http://a", "s1", "default", "019d-2")
    save_checkpoint("http://a", "s1", "other", "019d-3")
    assert load_checkpoint("http://a", None, "default") == "019d-1"
    assert load_checkpoint("http://a", "s1", "default") == "019d-2"
    assert load_checkpoint("http://a", "s1", "other") == "019d-3"
    assert load_checkpoint("http://b", "s1", "default") is None
    stored = json.loads(checkpoints.read_text())
    assert list(stored) == sorted(stored) and "http://a:__responses_events__:default" in stored
    assert checkpoints.read_text().endswith("\n")
    clear_checkpoint("http://a", "s1", "default")
    assert load_checkpoint("http://a", "s1", "default") is None
    assert load_checkpoint("http://a", "s1", "other") == "019d-3"


def test_legacy_entries_and_broken_files(checkpoints: Path) -> None:
    checkpoints.parent.mkdir(parents=True)
    checkpoints.write_text(json.dumps({"http://a:s:c": {"last_event_id": "old"}}))
    assert load_checkpoint("http://a", "s", "c") == "old"
    checkpoints.write_text("not json")
    assert load_checkpoint("http://a", "s", "c") is None
    save_checkpoint("http://a", "s", "c", "new")  # a broken file is replaced, not fatal
    assert load_checkpoint("http://a", "s", "c") == "new"
