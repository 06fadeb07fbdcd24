from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.live import ServerProcess, server_env

Start = Callable[..., ServerProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """``start("serve", "--port", "0", env={...})``: a sference-server subprocess, stopped after the test."""
    started: list[ServerProcess] = []

    def launch(
        *args: str, env: dict[str, str] | None = None, wait: bool = True, home: Path | None = None
    ) -> ServerProcess:
        log = tmp_path / f"{args[0]}-{len(started)}.log"
        process = ServerProcess(args, env=server_env(home or tmp_path / "home", **(env or {})), log=log)
        started.append(process)
        return process.start(wait=wait)

    yield launch
    for process in started:
        if process.process is not None and process.process.poll() is None:
            process.stop()
