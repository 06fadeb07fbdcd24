"""The arithmetic of completion estimates: busy time, measured throughput, the estimate."""

from __future__ import annotations

import pytest

from sference_server.domain.estimates import (
    Finished,
    Throughput,
    busy_seconds,
    completion_at,
    feasible,
    measure,
)


@pytest.mark.parametrize(
    ("spans", "busy"),
    [
        ([], 0.0),
        ([(0.0, 1.0)], 1.0),
        ([(0.0, 1.0), (0.5, 2.0)], 2.0),  # overlapping: counted once
        ([(0.0, 1.0), (0.2, 0.4)], 1.0),  # nested
        ([(5.0, 6.0), (0.0, 1.0)], 2.0),  # an idle gap between is not busy time
        ([(0.0, 1.0), (1.0, 2.0)], 2.0),  # touching
    ],
)
def test_busy_seconds_is_the_union_of_the_spans(spans: list[tuple[float, float]], busy: float) -> None:
    assert busy_seconds(spans) == pytest.approx(busy)


def test_throughput_per_model_over_busy_time_not_the_idle_window() -> None:
    finished = [
        # four at once, one second each, then an hour idle, then four more
        *(Finished("a", 0.0, 1.0, 10) for _ in range(4)),
        *(Finished("a", 3600.0, 3601.0, 10) for _ in range(4)),
        Finished("b", 10.0, 12.0, 3),
    ]
    measured = measure(finished)
    assert measured["a"] == Throughput(requests=8, completion_tokens=80, busy_seconds=2.0)
    assert measured["a"].requests_per_second == 4.0 and measured["a"].tokens_per_second == 40.0
    assert measured["b"].requests_per_second == 0.5
    assert "c" not in measured


def test_instant_answers_do_not_make_an_endless_rate() -> None:
    measured = measure([Finished("a", 5.0, 5.0, 1), Finished("a", 5.0, 4.0, 1)])  # a clock step back too
    assert measured["a"].busy_seconds > 0


def test_no_measurement_no_estimate_and_no_verdict() -> None:
    assert completion_at(100.0, 10, None) is None
    assert feasible(None, 200.0) is None
    rate = Throughput(requests=4, completion_tokens=0, busy_seconds=2.0)  # 2 a second
    assert completion_at(100.0, 10, rate) == 105.0
    assert feasible(105.0, 105.0) is True and feasible(105.5, 105.0) is False
