"""Our ``sference`` CLI as a user runs it: a subprocess against a live server (echo engine)."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from sference_sdk import decode_embedding
from sference_server.config import DECISIONS_MODEL_ID, EMBEDDING_MODEL_ID
from sference_server.services import ApiServices
from sference_server.store.database import Database
from sference_server.store.migrate import upgrade
from support.live import ThreadServer
from support.settings import ECHO_MODEL, echo_settings


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the CLI, the stores have their own suite."""
    url = f"sqlite:///{tmp_path / 'sference.db'}"
    database = Database(url)
    upgrade(database)
    database.dispose()
    return url


class Cli:
    def __init__(self, home: Path, url: str) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SFERENCE_")}
        self.env.update({"HOME": str(home), "SFERENCE_BASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1"})

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sference_cli", *args]

    def __call__(self, *args: str, stdin: str | None = None, code: int | None = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, input=stdin, timeout=120
        )
        assert "Traceback" not in done.stderr, done.stderr
        if code is not None:
            assert done.returncode == code, f"{args} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


class World:
    def __init__(self, server: ThreadServer, cli: Cli, make_user: Callable[..., tuple[str, str]]) -> None:
        self.server, self.cli, self.make_user = server, cli, make_user

    def login(self, name: str = "ann") -> str:
        _, key = self.make_user(name)
        self.cli("auth", "login", "--api-key", key)
        return key


ECHO = {"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 4, "token_delay": 0.02}}
# The embedded embeddings and decisions models, kept small.
EMBEDDING = {"id": EMBEDDING_MODEL_ID, "engine": "bert", "options": {"threads": 2}}
DECISIONS = {
    "id": DECISIONS_MODEL_ID,
    "engine": "llamacpp",
    "modality": "decisions",
    "options": {"slots": 2, "threads": 2},
}

WorldMaker = Callable[..., World]


@pytest.fixture
def make_world(
    tmp_path: Path, database_url: str, db: Database, make_user: Callable[..., tuple[str, str]]
) -> Iterator[WorldMaker]:
    """``make_world(models=[...], **settings)``: a live server with those models (default: echo)."""
    with ExitStack() as stack:

        def make(models: list[dict[str, Any]] | None = None, **settings: Any) -> World:
            services = ApiServices.build(echo_settings(tmp_path, database_url, models=models or [ECHO], **settings), db)
            server = stack.enter_context(ThreadServer(services))
            home = tmp_path / "home"
            home.mkdir()
            return World(server, Cli(home, server.url), make_user)

        yield make


@pytest.fixture
def world(make_world: WorldMaker) -> World:
    return make_world()


def prompts(tmp_path: Path, n: int, words: int = 3, name: str = "prompts.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps({"content": " ".join(["word"] * words) + f" {i}"}) + "\n" for i in range(n)))
    return path


def test_login_stores_the_key_privately_and_validates_it(world: World) -> None:
    _, key = world.make_user("ann")
    done = world.cli("auth", "login", "--api-key", f"  {key}  ")
    credentials = world.cli.home / ".sference" / "credentials.json"
    assert f"Credentials saved to {credentials}" in done.stdout
    assert "Authenticated as ann (user)." in done.stdout
    assert json.loads(credentials.read_text()) == {"token": key, "base_url": world.server.url}
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(credentials.parent.stat().st_mode) == 0o700
    assert world.cli.json("auth", "me")["username"] == "ann"
    assert "username  ann" in world.cli("auth", "me").stdout


def test_interactive_login_points_at_the_console(world: World) -> None:
    _, key = world.make_user("ann")
    done = world.cli("auth", "login", "--no-browser", "--console-url", "http://console.test/", stdin=f"{key}\n")
    assert "http://console.test/login" in done.stdout and "http://console.test/api-keys" in done.stdout
    assert "Authenticated as ann" in done.stdout
    empty = world.cli("auth", "login", "--no-browser", stdin="\n", code=1)
    assert "No API key provided." in empty.stderr


def test_login_problems(world: World) -> None:
    assert "Empty --api-key." in world.cli("auth", "login", "--api-key", "  ", code=1).stderr
    bad = world.cli("auth", "login", "--api-key", "sk_wrong", code=1)
    assert "Credentials saved" in bad.stdout and "Unauthorized (401)" in bad.stderr
    assert "sference auth login --api-key" in bad.stderr


def test_the_environment_key_wins_and_a_missing_key_is_explained(world: World) -> None:
    missing = world.cli("auth", "me", code=1)
    assert "No API credential configured." in missing.stderr
    world.login("ann")
    _, bob = world.make_user("bob")
    world.cli.env["SFERENCE_API_KEY"] = bob
    assert world.cli.json("auth", "me")["username"] == "bob"
    world.cli.env["SFERENCE_API_KEY"] = ""
    assert world.cli.json("auth", "me")["username"] == "ann"


def test_batch_commands(world: World, tmp_path: Path) -> None:
    world.login()
    assert world.cli("batch", "list").stdout.strip() == "No batches."
    batch = world.cli.json("batch", "submit", "--input-file", str(prompts(tmp_path, 5)), "--model", ECHO_MODEL)
    assert batch["status"] == "pending" and batch["request_count"] == 5
    shown = world.cli("batch", "status", "--batch-id", batch["id"]).stdout
    assert batch["id"] in shown and "request_count" in shown
    done = world.cli("batch", "wait", "--batch-id", batch["id"], "--poll-interval", "0.1", "--json")
    assert json.loads(done.stdout)["status"] == "completed"
    assert f"Batch {batch['id']} status=completed 5/5 done" in done.stderr
    results = json.loads(world.cli("batch", "results", "--batch-id", batch["id"]).stdout)
    assert [r["custom_id"] for r in results["results"]] == [f"request-{i}" for i in range(1, 6)]
    out = tmp_path / "deep" / "out.jsonl"
    assert world.cli("batch", "download-results", "--batch-id", batch["id"], "--out", str(out)).stdout.strip() == str(
        out
    )
    assert len(out.read_text().splitlines()) == 5
    table = world.cli("batch", "list").stdout.splitlines()
    assert table[0].split() == ["id", "status", "reqs", "tokens", "created"]
    assert table[1].split()[:3] == [batch["id"], "completed", "5"]
    assert world.cli(
        "batch", "download-results", "--batch-id", batch["id"], "--out", str(out), "--format", "csv", code=1
    ).stderr.startswith("Unsupported --format")


def test_batch_retry_and_merged_results(make_world: WorldMaker, tmp_path: Path) -> None:
    world = make_world(max_attempts=1)  # one attempt: a transient failure fails the row
    world.login()
    lines = tmp_path / "mixed.jsonl"
    lines.write_text("".join(json.dumps({"content": c}) + "\n" for c in ("fine", "flaky [[fail:transient:1]]")))
    batch = world.cli.json("batch", "submit", "--input-file", str(lines), "--model", ECHO_MODEL)
    world.cli("batch", "wait", "--batch-id", batch["id"], "--poll-interval", "0.1")
    original = world.cli("batch", "status", "--batch-id", batch["id"]).stdout
    assert "retry_of" not in original and re.search(rf"^id\s+{batch['id']}$", original, re.MULTILINE), original
    again = world.cli("batch", "retry", "--batch-id", batch["id"]).stdout
    assert re.search(rf"^retry_of\s+{batch['id']}$", again, re.MULTILINE), again
    retry_id = re.search(r"^id\s+(\S+)$", again, re.MULTILINE).group(1)  # type: ignore[union-attr]
    assert re.search(r"^request_count\s+1$", again, re.MULTILINE)
    done = json.loads(world.cli("batch", "wait", "--batch-id", retry_id, "--poll-interval", "0.1", "--json").stdout)
    assert done["status"] == "completed" and done["retry_of"] == batch["id"]

    out = tmp_path / "merged.jsonl"
    world.cli("batch", "download-results", "--batch-id", retry_id, "--out", str(out), "--merged")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["custom_id"], r["status"]) for r in rows] == [("request-1", "completed"), ("request-2", "completed")]
    merged = json.loads(world.cli("batch", "results", "--batch-id", retry_id, "--merged").stdout)
    assert merged["results"] == rows
    assert len(json.loads(world.cli("batch", "results", "--batch-id", retry_id).stdout)["results"]) == 1

    nothing = world.cli("batch", "retry", "--batch-id", retry_id, code=1).stderr
    assert nothing.startswith(f"409: batch {retry_id} has nothing to retry")
    assert world.cli("batch", "retry", "--batch-id", "nope", code=1).stderr.startswith("404: no batch")


def test_input_problems_are_one_clear_line(world: World, tmp_path: Path) -> None:
    world.login()
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"content": "fine"}\n{oops\n')
    bad = world.cli("batch", "submit", "--input-file", str(broken), "--model", ECHO_MODEL, code=1)
    assert bad.stderr.startswith("Error: Invalid JSON on line 2")
    no_model = world.cli("batch", "submit", "--input-file", str(prompts(tmp_path, 1)), code=1)
    assert "model is required" in no_model.stderr
    unknown = world.cli("batch", "submit", "--input-file", str(prompts(tmp_path, 1)), "--model", "gpt-x", code=1)
    assert unknown.stderr.startswith("400: requests[0]") and ECHO_MODEL in unknown.stderr
    window = world.cli("batch", "submit", "--input-file", str(prompts(tmp_path, 1)), "--window", "1h", code=2)
    assert "1h" in window.stderr
    missing = world.cli("batch", "submit", "--input-file", str(tmp_path / "nope.jsonl"), code=2)
    assert "does not exist" in missing.stderr
    assert world.cli("batch", "status", "--batch-id", "nope", code=1).stderr.startswith("404: no batch")
    assert world.cli.json("batch", "list")["items"] == []  # nothing was submitted


def test_wait_times_out_clearly(world: World, tmp_path: Path) -> None:
    world.login()
    batch = world.cli.json(
        "batch", "submit", "--input-file", str(prompts(tmp_path, 40, words=40)), "--model", ECHO_MODEL
    )
    slow = world.cli("batch", "wait", "--batch-id", batch["id"], "--timeout", "0.3", "--poll-interval", "0.1", code=1)
    assert "Timed out" in slow.stderr and batch["id"] in slow.stderr
    cancelled = world.cli.json("batch", "cancel", "--batch-id", batch["id"])
    assert cancelled["status"] == "cancelled"


def test_an_unreachable_server_is_named(world: World) -> None:
    # A key from the environment: the saved one is never sent to a server other than its own.
    world.cli.env["SFERENCE_API_KEY"] = world.login()
    world.cli.env["SFERENCE_BASE_URL"] = "http://127.0.0.1:9"
    down = world.cli("auth", "me", code=1)
    assert "Could not reach the sference API at http://127.0.0.1:9/v1/auth/me" in down.stderr
    assert "SFERENCE_BASE_URL" in down.stderr


def test_stream_prints_results_only_on_stdout(world: World, tmp_path: Path) -> None:
    world.login()
    world.cli.env["SFERENCE_STREAM_CACHE"] = str(tmp_path / "cache.json")
    done = world.cli(
        "batch", "stream", "--input-file", str(prompts(tmp_path, 6)), "--model", ECHO_MODEL, "--poll-interval", "0.1"
    )
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["custom_id"] for r in rows] == [f"request-{i}" for i in range(1, 7)]
    assert rows[0]["result_json"]["choices"][0]["message"]["content"] == "echo: word word word 0"
    assert "status=completed" in done.stderr
    assert json.loads((tmp_path / "cache.json").read_text()) == {}


def test_stream_exits_1_when_the_batch_fails(world: World, tmp_path: Path) -> None:
    world.login()
    failing = tmp_path / "fail.jsonl"
    failing.write_text('{"content": "[[fail:permanent]]"}\n')
    done = world.cli(
        "batch", "stream", "--input-file", str(failing), "--model", ECHO_MODEL, "--poll-interval", "0.1", code=1
    )
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["status"] == "failed" and row["error_json"]["code"] == "invalid_request"
    assert "ended failed" in done.stderr


def test_stream_resumes_after_ctrl_c_and_never_submits_twice(world: World, tmp_path: Path) -> None:
    key = world.login()
    cache = tmp_path / "cache.json"
    world.cli.env["SFERENCE_STREAM_CACHE"] = str(cache)
    work = prompts(tmp_path, 30, words=30)
    args = ["batch", "stream", "--input-file", str(work), "--model", ECHO_MODEL, "--poll-interval", "0.1"]
    first = subprocess.Popen(
        world.cli.command(*args), env=world.cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while not (cache.exists() and json.loads(cache.read_text())):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    assert "Interrupted" in err and "run the same command again" in err and out == ""
    (entry,) = json.loads(cache.read_text()).values()
    assert entry["base_url"] == world.server.url

    again = world.cli(*args)
    assert f"Resuming batch {entry['batch_id']}" in again.stderr
    assert len(again.stdout.splitlines()) == 30
    listed = httpx.get(f"{world.server.url}/v1/batches", headers={"X-API-Key": key}).json()["items"]
    assert [b["id"] for b in listed] == [entry["batch_id"]]  # one batch, not two

    fresh = world.cli(*args, "--no-cache")
    assert "Resuming" not in fresh.stderr and len(fresh.stdout.splitlines()) == 30
    assert len(httpx.get(f"{world.server.url}/v1/batches", headers={"X-API-Key": key}).json()["items"]) == 2


def test_a_cached_batch_that_is_gone_is_submitted_again(world: World, tmp_path: Path) -> None:
    world.login()
    cache = tmp_path / "cache.json"
    world.cli.env["SFERENCE_STREAM_CACHE"] = str(cache)
    work = prompts(tmp_path, 2)
    from hashlib import sha256

    stale = {"batch_id": "gone", "base_url": world.server.url, "created_at": "2026-01-01T00:00:00+00:00"}
    cache.write_text(json.dumps({sha256(work.read_bytes()).hexdigest(): stale}))
    done = world.cli("batch", "stream", "--input-file", str(work), "--model", ECHO_MODEL, "--poll-interval", "0.1")
    assert len(done.stdout.splitlines()) == 2 and "Resuming" not in done.stderr


def test_a_terminal_gets_a_progress_bar(world: World, tmp_path: Path) -> None:
    world.login()
    batch = world.cli.json(
        "batch", "submit", "--input-file", str(prompts(tmp_path, 8, words=20)), "--model", ECHO_MODEL
    )
    command = " ".join(world.cli.command("batch", "wait", "--batch-id", batch["id"], "--poll-interval", "0.1"))
    done = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env={**world.cli.env, "TERM": "xterm"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
    assert "8/8" in done.stdout and "ETA" in done.stdout and "status=" not in done.stdout


def test_submit_shows_the_estimate_and_wait_prints_it_in_the_status_lines(
    make_world: WorldMaker, tmp_path: Path
) -> None:
    slow = {**ECHO, "options": {"slots": 2, "token_delay": 0.05}}  # 30 words: 1.5 s a request
    world = make_world(models=[slow], estimate_cache_seconds=0)
    world.login()
    model = ["--model", ECHO_MODEL]
    warm = world.cli.json("batch", "submit", "--input-file", str(prompts(tmp_path, 2, words=30)), *model)
    assert warm["estimated_completion_at"] is None and warm["feasible"] is None  # nothing measured yet
    world.cli("batch", "wait", "--batch-id", warm["id"], "--poll-interval", "0.1")

    work = prompts(tmp_path, 8, words=30, name="work.jsonl")
    shown = world.cli("batch", "submit", "--input-file", str(work), *model, "--require-feasible").stdout
    assert re.search(r"^feasible\s+True$", shown, re.MULTILINE), shown
    assert re.search(r"^estimated_completion_at\s+20\d\d-", shown, re.MULTILINE), shown
    batch_id = re.search(r"^id\s+(\S+)$", shown, re.MULTILINE).group(1)  # type: ignore[union-attr]
    waited = world.cli("batch", "wait", "--batch-id", batch_id, "--poll-interval", "0.2")
    assert re.search(r"status=(pending|running) .*ETA \d\d:\d\d:\d\d UTC \(in ", waited.stderr), waited.stderr
    assert re.search(r"^estimated_completion_at\s+-$", waited.stdout, re.MULTILINE)  # finished: none


def test_version_and_help() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFERENCE_")}
    version = subprocess.run(
        [sys.executable, "-m", "sference_cli", "--version"], capture_output=True, text=True, env=env
    )
    assert version.returncode == 0 and version.stdout.startswith("sference-cli ") and "sference-sdk" in version.stdout
    for group in ([], ["auth"], ["batch"], ["batch", "stream"], ["models"], ["embeddings", "create"], ["decisions"]):
        shown = subprocess.run(
            [sys.executable, "-m", "sference_cli", *group, "--help"], capture_output=True, text=True, env=env
        )
        assert shown.returncode == 0 and "Usage" in shown.stdout


def test_responses_create_lets_the_server_wait_and_polls_a_server_that_does_not(world: World) -> None:
    world.login()
    started = time.monotonic()
    # A --poll-ms this long would show: the answer comes from the server waiting, not from polls.
    done = json.loads(
        world.cli("responses", "create", "--model", ECHO_MODEL, "--content", "hello there", "--poll-ms", "60000").stdout
    )
    assert time.monotonic() - started < 30
    assert done["status"] == "completed"
    (message,) = done["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["type"] == "output_text" and message["content"][0]["text"] == "echo: hello there"

    # The seed's version answers at once: the CLI polls until the response is finished.
    seed = json.loads(
        world.cli(
            "--api-version",
            "2025-10-01",
            "responses",
            "create",
            "--model",
            ECHO_MODEL,
            "--content",
            "hi",
            "--poll-ms",
            "50",
        ).stdout
    )
    assert seed["status"] == "completed" and seed["output"] == [{"type": "output_text", "text": "echo: hi"}]
    world.cli.env["SFERENCE_API_VERSION"] = "2025-10-01"
    from_env = json.loads(
        world.cli("responses", "create", "--model", ECHO_MODEL, "--content", "hi", "--poll-ms", "50").stdout
    )
    assert from_env["output"] == [{"type": "output_text", "text": "echo: hi"}]
    latest = json.loads(
        world.cli("--api-version", "latest", "responses", "create", "--model", ECHO_MODEL, "--content", "hi").stdout
    )
    assert latest["output"][0]["type"] == "message"
    del world.cli.env["SFERENCE_API_VERSION"]

    queued = json.loads(
        world.cli("responses", "create", "--model", ECHO_MODEL, "--content", "later", "--background").stdout
    )
    assert queued["status"] == "in_progress" and queued["output"] == []
    result = json.loads(world.cli("responses", "result", "--id", queued["id"], "--poll-ms", "50").stdout)
    assert result["status"] == "completed" and result["output"][0]["content"][0]["text"] == "echo: later"
    no_wait = json.loads(world.cli("responses", "create", "--model", ECHO_MODEL, "--content", "x", "--no-wait").stdout)
    assert no_wait["status"] == "in_progress"

    bad = world.cli("--api-version", "v2", "responses", "create", "--model", ECHO_MODEL, "--content", "x", code=2)
    assert "--api-version" in bad.stderr and "YYYY-MM-DD" in bad.stderr
    unknown = world.cli("--api-version", "2024-01-01", "auth", "me", code=1)
    assert unknown.stderr.startswith("400: ") and "2024-01-01" in unknown.stderr


def test_a_response_past_the_servers_wait_suggests_background(make_world: WorldMaker) -> None:
    world = make_world(blocking_response_seconds=0.5)
    world.login()
    slow = " ".join(["word"] * 200)  # 200 words at 0.02 s each: longer than the server waits
    done = world.cli("responses", "create", "--model", ECHO_MODEL, "--content", slow, code=1)
    assert done.stderr.startswith("504: ")
    assert "sference responses create --background" in done.stderr
    queued = json.loads(
        world.cli("responses", "create", "--model", ECHO_MODEL, "--content", slow, "--background").stdout
    )
    assert queued["status"] == "in_progress"


def test_models_list(make_world: WorldMaker) -> None:
    world = make_world(models=[ECHO, EMBEDDING, DECISIONS])
    world.login()
    table = world.cli("models", "list").stdout.splitlines()
    assert table[0].split() == ["id", "modality", "context", "name"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[ECHO_MODEL][1] == "generation"
    assert rows[EMBEDDING_MODEL_ID][1:3] == ["embedding", "256"]
    assert rows[DECISIONS_MODEL_ID][1] == "decisions"
    assert world.cli("models").stdout.splitlines() == table
    listed = world.cli.json("models", "list")
    assert listed["object"] == "list"
    by_id = {m["id"]: m for m in listed["data"]}
    assert set(by_id) == {ECHO_MODEL, EMBEDDING_MODEL_ID, DECISIONS_MODEL_ID}
    assert by_id[EMBEDDING_MODEL_ID]["modality"] == "text_embedding"
    assert by_id[DECISIONS_MODEL_ID]["modality"] == "decisions"
    assert all(m["object"] == "model" and isinstance(m["capabilities"], dict) for m in listed["data"])
    assert world.cli.json("models")["data"] == listed["data"]


def test_embeddings_create(make_world: WorldMaker) -> None:
    world = make_world(models=[ECHO, EMBEDDING])
    world.login()
    args = [
        "embeddings",
        "create",
        "--model",
        EMBEDDING_MODEL_ID,
        "--input",
        "a cat sat",
        "--input",
        "stock prices fell",
    ]
    lines = world.cli(*args).stdout.splitlines()
    assert len(lines) == 2
    for index, line in enumerate(lines):
        assert re.fullmatch(rf"{index}  384 dims  \[-?\d\.\d{{4}}(, -?\d\.\d{{4}}){{3}}, \.\.\.\]", line), line

    floats = world.cli.json(*args)
    assert floats["object"] == "list" and floats["model"] == EMBEDDING_MODEL_ID
    assert [d["index"] for d in floats["data"]] == [0, 1]
    assert all(len(d["embedding"]) == 384 for d in floats["data"])
    assert floats["usage"]["prompt_tokens"] > 0 and floats["usage"]["total_tokens"] == floats["usage"]["prompt_tokens"]

    encoded = world.cli.json(*args, "--encoding-format", "base64")
    assert all(isinstance(d["embedding"], str) for d in encoded["data"])
    for as_float, as_text in zip(floats["data"], encoded["data"], strict=True):
        assert decode_embedding(as_text["embedding"]) == pytest.approx(as_float["embedding"], abs=1e-6)

    short = world.cli("embeddings", "create", "--model", EMBEDDING_MODEL_ID, "--input", "one", "--dimensions", "8")
    assert short.stdout.startswith("0  8 dims  [")

    wrong = world.cli("embeddings", "create", "--model", ECHO_MODEL, "--input", "x", code=1)
    assert wrong.stderr.startswith("400: ")
    assert "hex" in world.cli(*args, "--encoding-format", "hex", code=2).stderr


def test_decisions_create(make_world: WorldMaker, tmp_path: Path) -> None:
    world = make_world(models=[ECHO, DECISIONS])
    world.login()
    questions = {
        "sentiment": {
            "type": "choice",
            "instructions": "How does the customer feel?",
            "criteria": {"positive": "pleased", "negative": "unhappy"},
        },
        "urgency": {"type": "score", "instructions": "How urgent is it?", "criteria": ["low", "medium", "high"]},
        "refund": {"type": "noul", "instructions": "Does the customer ask for a refund?"},
    }
    state = "My order arrived broken and I want my money back today!"
    base = ["decisions", "create", "--model", DECISIONS_MODEL_ID, "--questions", json.dumps(questions)]
    lines = world.cli(*base, "--state", state).stdout.splitlines()
    assert len(lines) == 3
    shown = {line.split()[0]: line for line in lines}
    assert re.fullmatch(r"sentiment  (positive|negative) \(confidence [01]\.\d\d\)", shown["sentiment"])
    assert re.fullmatch(r"urgency    [0-2]\.\d\d \(confidence [01]\.\d\d\)", shown["urgency"])
    assert re.fullmatch(r"refund     (yes|no) \(p\(true\) [01]\.\d\d\)", shown["refund"])

    reply = world.cli.json(*base, "--state", state)
    assert reply["model"] == DECISIONS_MODEL_ID and set(reply["answers"]) == set(questions)
    assert reply["answers"]["sentiment"]["type"] == "choice"
    assert set(reply["answers"]["sentiment"]["probabilities"]) == {"positive", "negative"}
    assert 0.0 <= reply["answers"]["refund"]["noul"] <= 1.0
    assert reply["usage"]["input_tokens"] > 0

    question_file = tmp_path / "questions.json"
    question_file.write_text(json.dumps(questions))
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"message": state, "order": 1234}))
    from_files = world.cli.json(
        "decisions",
        "create",
        "--model",
        DECISIONS_MODEL_ID,
        "--questions",
        f"@{question_file}",
        "--state-json",
        f"@{state_file}",
    )
    assert set(from_files["answers"]) == set(questions)

    assert "--state" in world.cli(*base, code=2).stderr  # neither state
    assert "--state" in world.cli(*base, "--state", "x", "--state-json", '"x"', code=2).stderr  # both
    broken = world.cli(
        "decisions", "create", "--model", DECISIONS_MODEL_ID, "--questions", "{nope", "--state", "x", code=2
    )
    assert "not valid JSON" in broken.stderr
