"""Settings for fast tests: the deterministic echo engine and short timings."""

from __future__ import annotations

from pathlib import Path

from sference_server.config import ModelSpec, Settings

ECHO_MODEL = "sference-test/echo"


def echo_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for fast tests: the deterministic echo engine and short timings."""
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "models": [ModelSpec(id=ECHO_MODEL, engine="echo")],
        "poll_seconds": 0.05,
        "sweep_seconds": 0.2,
        "lease_seconds": 5.0,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
