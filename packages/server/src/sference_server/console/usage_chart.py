"""The console's usage chart: a bar per UTC day, input and output tokens stacked, laid out here
and drawn by the template as plain SVG (no script: the console's policy allows none inline, and
a chart library would be one more thing to ship)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.usage import UsageCounts

WIDTH, HEIGHT = 720.0, 220.0
TOP, BOTTOM, LEFT = 12.0, 22.0, 56.0  # room for the peak's label, the days' labels, the scale
LABELS = 6  # about this many day labels under the bars


@dataclass(frozen=True)
class Bar:
    day: str
    x: float
    width: float
    input_y: float
    input_height: float
    output_y: float
    output_height: float
    counts: UsageCounts


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    left: float
    baseline: float
    top: float
    peak: int  # tokens of the busiest day (the scale's top)
    bars: list[Bar]
    labels: list[tuple[float, str]]  # x of a day's label, and the label


def usage_chart(days: list[tuple[date, UsageCounts]]) -> Chart:
    """Bars for ``days`` (every day of the range, in order), scaled to the busiest one."""
    baseline = HEIGHT - BOTTOM
    peak = max((c.prompt_tokens + c.completion_tokens for _, c in days), default=0)
    scale = (baseline - TOP) / peak if peak else 0.0
    slot = (WIDTH - LEFT) / max(len(days), 1)
    bars = []
    for index, (day, counts) in enumerate(days):
        x = LEFT + index * slot + slot * 0.1
        input_height = counts.prompt_tokens * scale
        output_height = counts.completion_tokens * scale
        bars.append(
            Bar(
                day=day.isoformat(),
                x=round(x, 2),
                width=round(max(slot * 0.8, 1.0), 2),
                input_y=round(baseline - input_height, 2),
                input_height=round(input_height, 2),
                output_y=round(baseline - input_height - output_height, 2),
                output_height=round(output_height, 2),
                counts=counts,
            )
        )
    every = max(1, -(-len(days) // LABELS))
    labels = [(round(bar.x + bar.width / 2, 2), bar.day[5:]) for bar in bars[::every]]
    return Chart(WIDTH, HEIGHT, LEFT, baseline, TOP, peak, bars, labels)
