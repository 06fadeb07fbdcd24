"""The published sference clients (PyPI), installed once in their own virtual environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("SFERENCE_TEST_CACHE", Path.home() / ".cache" / "sference-tests"))


def published_clients(version: str, sdk_version: str | None = None) -> Path:
    """The ``bin`` folder of a venv with ``sference-cli==version`` and its SDK pinned (a plain
    install would pull the newest SDK; contract §0)."""
    venv = CACHE / f"published-cli-{version}"
    marker = venv / ".installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"sference-cli=={version}",
                f"sference-sdk=={sdk_version or version}",
            ],
            check=True,
        )
        marker.touch()
    return venv / "bin"


def tail_until(args: list[str], n: int, *, env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    """Run a published CLI's ``responses tail`` (``args``, the whole command line) until it printed
    ``n`` events and then went quiet; stop it with Ctrl-C, which it answers with exit 130 and
    ``Interrupted.``, printing nothing more."""
    tail = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert tail.stdout is not None
    events = [json.loads(tail.stdout.readline()) for _ in range(n)]
    time.sleep(1.0)  # it is now waiting on the feed
    tail.send_signal(signal.SIGINT)
    rest, err = tail.communicate(timeout=60)
    assert tail.returncode == 130 and "Interrupted." in err and "Traceback" not in err
    assert rest == ""  # nothing beyond the n events
    return events
