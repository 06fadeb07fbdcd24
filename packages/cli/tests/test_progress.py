"""The batch progress shown while waiting: the server's completion estimate in the status lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from sference_cli.progress import BatchProgress, eta_text, time_left
from sference_sdk import Batch

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def at(seconds: float) -> str:
    return datetime.fromtimestamp(NOW + seconds, UTC).isoformat()


@pytest.mark.parametrize(
    ("ahead", "shown"),
    [(45, "45s"), (100, "1m 40s"), (3600 + 5 * 60, "1h 05m"), (3 * 86400 + 4 * 3600, "3d 4h"), (-30, "now")],
)
def test_time_left(ahead: float, shown: str) -> None:
    assert time_left(at(ahead), NOW) == shown


def test_eta_text_names_the_time_and_what_is_left_or_nothing_without_an_estimate() -> None:
    assert eta_text(at(100), NOW) == " ETA 12:01:40 UTC (in 1m 40s)"
    assert eta_text(None, NOW) == "" and time_left(None, NOW) is None


def batch(estimate: str | None) -> Batch:
    return Batch.model_validate(
        {
            "id": "01a2b3c4-0000-7000-8000-000000000001",
            "status": "running",
            "window": "24h",
            "request_count": 10,
            "created_at": at(-10),
            "updated_at": at(-1),
            "request_counts": {"total": 10, "queued": 6, "running": 2, "completed": 2},
            "estimated_completion_at": estimate,
        }
    )


def test_the_status_line_shows_the_servers_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    estimate = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 125, UTC)
    with BatchProgress("b", live=False) as progress:
        progress.update(batch(estimate.isoformat()), force=True)
        progress.update(batch(None), force=True)
    with_estimate, without = capsys.readouterr().err.splitlines()
    assert "status=running 2/10 done" in with_estimate
    assert re.search(rf"ETA {estimate:%H:%M:%S} UTC \(in 2m 0[45]s\)$", with_estimate), with_estimate
    assert "ETA" not in without
