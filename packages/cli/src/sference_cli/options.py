"""Options shared by several commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .settings import DEFAULT_BASE_URL

BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", help=f"API base URL (default {DEFAULT_BASE_URL}; SFERENCE_BASE_URL replaces it)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the raw JSON payload.")]
BatchId = Annotated[str, typer.Option("--batch-id", help="The batch id.")]
InputFile = Annotated[
    Path,
    typer.Option(
        "--input-file",
        exists=True,
        dir_okay=False,
        readable=True,
        help="JSONL: {custom_id, method, url, body} lines, or {content} lines with --model.",
    ),
]
Model = Annotated[str | None, typer.Option("--model", help="Model for content-only lines (ignored for full lines).")]


class CompletionWindow(StrEnum):
    DAY = "24h"


Window = Annotated[CompletionWindow, typer.Option("--window", help="Completion window; only 24h is supported.")]
StreamId = Annotated[str, typer.Option("--stream-id", help="The stream id.")]


class StreamWindow(StrEnum):
    HOUR = "1h"
    DAY = "24h"
