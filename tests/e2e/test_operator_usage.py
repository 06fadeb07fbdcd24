"""``sference-server usage``: the operator's report, read from the store of a running ``serve``
whose echo engine answered (and failed) real requests; CSV and JSON parse back to the same
numbers as the API's."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import httpx

from support.batches import chat_row, document, wait_terminal
from support.live import server_env
from support.settings import ECHO_MODEL

from .conftest import Start

KEY = "sk_usage_admin_key_for_test"


def usage(*args: str, data: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sference_server", "usage", *args, "--data-dir", str(data)],
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_usage_as_csv_and_json(start: Start, tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    env = {"SFERENCE_ADMIN_API_KEY": KEY, "SFERENCE_MODELS": json.dumps([{"id": ECHO_MODEL, "engine": "echo"}])}
    server = start("serve", "--port", "0", "--data-dir", str(data), "--no-write-cli-credentials", env=env)
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    rows = [chat_row("a", "one two"), chat_row("b", "three"), chat_row("c", "no [[fail:permanent]]")]
    created = client.post("/v1/batches", json=document(rows))
    assert created.status_code == 201, created.text
    batch = wait_terminal(client, created.json()["id"])
    day = batch["completed_at"][:10]

    as_csv = usage("--since", day, data=data, home=home)
    assert as_csv.returncode == 0, as_csv.stderr
    (row,) = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert row["date"] == day and row["username"] == "admin" and row["model"] == ECHO_MODEL
    assert (row["requests"], row["failed"], row["cancelled"], row["expired"]) == ("2", "1", "0", "0")
    assert int(row["input_tokens"]) == batch["total_prompt_tokens"] == 3 + 2
    assert int(row["output_tokens"]) == batch["total_completion_tokens"] == 3 + 2

    as_json = usage("--since", day, "--until", day, "--user", "admin", "--format", "json", data=data, home=home)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert (report["since"], report["until"], report["object"]) == (day, day, "usage")
    assert report == client.get("/v1/usage", params={"since": day, "until": day}).json()
    assert report["data"][0]["user_id"] == row["user_id"] and report["totals"]["requests"] == 2

    later = usage("--since", "2999-01-01", "--until", "2999-01-31", data=data, home=home)
    assert later.returncode == 0 and later.stdout.splitlines() == [",".join(report["data"][0])]  # the header alone
    unknown = usage("--user", "nobody", data=data, home=home)
    assert unknown.returncode == 1 and "no user named 'nobody'" in unknown.stderr
    bad = usage("--since", "2026-02-30", data=data, home=home)
    assert bad.returncode == 1 and "since must be a date as YYYY-MM-DD" in bad.stderr
    backwards = usage("--since", day, "--until", "2000-01-01", data=data, home=home)
    assert backwards.returncode == 1 and "is after until" in backwards.stderr
