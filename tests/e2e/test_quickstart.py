"""``sference-server serve`` on its embedded defaults: SQLite and the real SmolLM2 model."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import httpx
import pytest

from sference_server.engines.llamacpp.kernels import AVX512_BF16, cpu_flags, library_path, llama_cpp_version, supported
from support.batches import wait_terminal
from support.jsonl import EXAMPLES, batch_rows

from .conftest import Start

pytestmark = pytest.mark.slow
EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"


def fast_kernels_built() -> bool:
    variant = AVX512_BF16
    return supported(variant, cpu_flags()) and library_path(variant, llama_cpp_version()).is_file()


def test_the_seed_example_batch_runs_on_the_embedded_model(start: Start, tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = start("serve", "--port", "0", "--data-dir", str(tmp_path / "data"), home=home)
    key = re.search(r"admin API key \(shown once\): (sk_\S+)", server.output())
    assert key, server.output()
    credentials = home / ".sference" / "credentials.json"
    assert json.loads(credentials.read_text()) == {"token": key.group(1), "base_url": server.url}
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
    assert f"export SFERENCE_BASE_URL={server.url}" in server.output()

    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key.group(1)}"}, timeout=30)
    served = {m["id"]: m["modality"] for m in client.get("/v1/models").json()["data"]}
    assert served == {
        EMBEDDED: "text_generation",
        "sentence-transformers/all-MiniLM-L6-v2": "text_embedding",
        "sference/smollm2-135m-decisions": "decisions",
    }
    created = client.post(
        "/v1/batches", json={"window": "24h", "requests": batch_rows(EXAMPLES / "example_batch.jsonl")}
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "pending"
    batch = wait_terminal(client, created.json()["id"])
    assert batch["status"] == "completed", batch
    assert batch["total_completion_tokens"] > 0
    # It ran on the fastest CPU kernels built for this machine (under the user's cache, found
    # though the server has a home of its own here), with the weights made for them.
    kernels = re.search(r"llama\.cpp CPU kernels: (\S+).*; weights: (\w+)", server.output())
    assert kernels, server.output()
    assert kernels.groups() == (("avx512-bf16", "bf16") if fast_kernels_built() else ("portable", "f16"))

    lines = client.get(f"/v1/batches/{batch['id']}/results.jsonl").text.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["custom_id"] for r in rows] == ["greeting", "capital", "colors"]
    for row in rows:
        assert row["status"] == "completed"
        assert row["result_json"]["choices"][0]["message"]["content"].strip()
    assert "Paris" in rows[1]["result_json"]["choices"][0]["message"]["content"]

    # A prompt longer than the model's context fails that row only, with a clear error.
    too_long = {
        "custom_id": "huge",
        "body": {"model": EMBEDDED, "messages": [{"role": "user", "content": "word " * 3000}]},
    }
    fine = {"custom_id": "fine", "body": {"model": EMBEDDED, "input": "Say yes.", "max_output_tokens": 4}}
    mixed = client.post("/v1/batches", json={"window": "24h", "requests": [too_long, fine]}).json()
    assert wait_terminal(client, mixed["id"])["status"] == "completed"
    huge, ok = (json.loads(line) for line in client.get(f"/v1/batches/{mixed['id']}/results.jsonl").text.splitlines())
    assert huge["status"] == "failed" and huge["result_json"] is None
    assert huge["error_json"]["code"] == "context_length_exceeded"
    assert "2048" in huge["error_json"]["message"]
    assert ok["status"] == "completed"


def test_a_restart_keeps_data_and_an_admin_key_can_be_set(start: Start, tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = start("serve", "--port", "0", "--data-dir", data, "--no-write-cli-credentials")
    generated = re.search(r"\(shown once\): (sk_\S+)", first.output())
    assert generated
    assert first.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a graceful shutdown
    assert "stopping; handing back" in first.output()
    chosen = "sk_chosen_by_the_operator_0123456789"
    second = start("serve", "--port", "0", "--data-dir", data, env={"SFERENCE_ADMIN_API_KEY": chosen})
    assert "shown once" not in second.output()
    for key in (generated.group(1), chosen):
        me = httpx.get(f"{second.url}/v1/auth/me", headers={"X-API-Key": key})
        assert me.status_code == 200 and me.json()["username"] == "admin"
    assert not (tmp_path / "home" / ".sference" / "credentials.json").exists()
