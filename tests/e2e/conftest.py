from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from support.browser import ARGS, CHROMIUM, chromium_available
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the console's tests (a failure, not a skip, where it is required)."""
    if not chromium_available():
        if os.environ.get("SFERENCE_TEST_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()
