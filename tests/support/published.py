"""The published sference clients (PyPI), installed once in their own virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
