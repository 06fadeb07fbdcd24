"""A real server on loopback: in a thread of the test process, or as a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import uvicorn

from sference_server.api.client_address import proxy_options
from sference_server.app import build_app
from sference_server.engines.llamacpp.kernels import cache_root
from sference_server.net import listening_socket
from sference_server.services import ApiServices


class ThreadServer:
    """``build_app(services)`` served by uvicorn on 127.0.0.1:<free port> in a thread."""

    def __init__(self, services: ApiServices, *, run_worker: bool = True) -> None:
        self.services = services
        sock = listening_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = build_app(services, run_worker=run_worker)
        proxies = proxy_options(services.settings.trusted_proxies)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", **proxies)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_ready(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def wait_ready(url: str, *, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/v1/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} was not ready after {timeout} s")


class ServerProcess:
    """``sference-server <command> ...`` as a child process, its output in a log file."""

    LISTENING = re.compile(rb"listening on (http://\S+)")

    def __init__(self, args: Sequence[str], *, env: dict[str, str], log: Path) -> None:
        self.args = list(args)
        self.env = env
        self.log_path = log
        self.url: str | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> ServerProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sference_server", *self.args],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait and self.args[0] in ("serve", "api"):
            self.url = self._wait_for_url()
            wait_ready(self.url, process=self.process)
        return self

    def _wait_for_url(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.LISTENING.search(self.log_path.read_bytes())
            if found:
                return found.group(1).decode()
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            time.sleep(0.05)
        raise TimeoutError(f"server printed no URL:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (a crash)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def stop(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFERENCE_")}
    # A home of its own, but the CPU kernels built under the real one (build-kernels), as a
    # server the user starts would find them.
    kernels = {"SFERENCE_KERNELS_DIR": str(cache_root())}
    env.update({"HOME": str(home), "SFERENCE_LOG_LEVEL": "INFO", **kernels, **extra})
    return env
