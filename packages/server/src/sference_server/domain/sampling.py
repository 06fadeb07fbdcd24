"""The sampling parameters a request may carry: declared once, here.

``SamplingParams`` is the one list. Its fields' metadata says how each is checked at submit time
(domain/chat.py reads it), engines read the typed values (``ChatRequest.sampling``), and a body
stores them under their own names. To accept a new parameter, add one field below (with its
bounds) and a test; an engine that can honour it reads it from ``request.sampling``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Bounds:
    """How a value is checked: a number in ``[low, high]`` (``low_open``: ``low`` excluded), or an
    integer (``integer``) at least ``low`` when given."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    integer: bool = False


def _number(low: float, high: float, *, low_open: bool = False) -> Any:
    return field(default=None, metadata={"bounds": Bounds(low, high, low_open)})


def _integer(low: int | None = None) -> Any:
    return field(default=None, metadata={"bounds": Bounds(low=low, integer=True)})


@dataclass(frozen=True)
class SamplingParams:
    temperature: float | None = _number(0.0, 2.0)
    top_p: float | None = _number(0.0, 1.0, low_open=True)
    min_p: float | None = _number(0.0, 1.0)
    presence_penalty: float | None = _number(-2.0, 2.0)
    frequency_penalty: float | None = _number(-2.0, 2.0)
    repetition_penalty: float | None = _number(0.0, 10.0, low_open=True)
    top_k: int | None = _integer(0)
    seed: int | None = _integer()

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> SamplingParams:
        return cls(**{name: body[name] for name in SAMPLING_FIELDS if name in body})


SAMPLING_BOUNDS: dict[str, Bounds] = {f.name: f.metadata["bounds"] for f in fields(SamplingParams)}
SAMPLING_FIELDS: tuple[str, ...] = tuple(SAMPLING_BOUNDS)
