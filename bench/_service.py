"""Starting ``sference-server serve`` for a benchmark: a fresh data folder, a known admin key."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.live import ServerProcess, server_env


def start_service(
    workdir: Path,
    key: str,
    *,
    name: str = "serve",
    models: list[dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    data_dir: Path | None = None,
) -> ServerProcess:
    """``models``: the registry (``SFERENCE_MODELS``); default: the embedded model. ``env``: more
    ``SFERENCE_*`` settings. ``command``: another than ``serve`` (``api``, ``worker``), sharing
    ``data_dir`` with the others."""
    extra = {"SFERENCE_MODELS": json.dumps(models)} if models else {}
    command = command or ["serve", "--port", "0", "--no-write-cli-credentials"]
    return ServerProcess(
        [*command, "--data-dir", str(data_dir or workdir / f"data-{name}")],
        env=server_env(
            workdir / "home", **{"SFERENCE_ADMIN_API_KEY": key, "SFERENCE_LOG_LEVEL": "WARNING", **extra, **(env or {})}
        ),
        log=workdir / f"{name}.log",
    ).start()
