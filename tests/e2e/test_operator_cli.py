"""``sference-server users`` and ``keys``: the operator's commands, against a running API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from support.live import server_env

from .conftest import Start


def run(*args: str, data: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sference_server", *args, "--data-dir", str(data)],
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_users_and_keys(start: Start, tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    api = start("api", "--port", "0", "--data-dir", str(data), env={"SFERENCE_ADMIN_API_KEY": "sk_admin_key_for_test"})

    made = run("users", "create", "carol", data=data, home=home)
    assert made.returncode == 0, made.stderr
    again = run("users", "create", "carol", data=data, home=home)
    assert again.returncode == 1 and "already exists" in again.stderr

    created = run("keys", "create", "--user", "carol", "--name", "laptop", data=data, home=home)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk_") and "cannot be shown again" in created.stderr
    assert run("keys", "create", "--user", "nobody", data=data, home=home).returncode == 1

    me = httpx.get(f"{api.url}/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.json()["username"] == "carol" and me.json()["role"] == "user"

    listing = run("keys", "list", "--user", "carol", data=data, home=home).stdout
    assert key[:12] in listing and "laptop" in listing and key not in listing
    users = run("users", "list", data=data, home=home).stdout
    assert "admin" in users and "carol" in users

    revoked = run("keys", "revoke", key[:12], data=data, home=home)
    assert revoked.returncode == 0, revoked.stderr
    after = httpx.get(f"{api.url}/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert after.status_code == 401 and after.json()["detail"] == "this API key has been revoked"
