"""Reading the example JSONL files the way the published SDK does (contract §5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def batch_rows(path: Path) -> list[dict[str, Any]]:
    """``{custom_id, body}`` rows from OpenAI envelope lines."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            rows.append({"custom_id": record.get("custom_id"), "body": record["body"]})
    return rows
