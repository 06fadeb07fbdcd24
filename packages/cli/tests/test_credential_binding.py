"""A saved credential belongs to one server and is never sent to another (real servers on loopback:
sference-server, and a recording stand-in for "another server")."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from sference_cli.main import app
from support.live import ServerProcess, server_env

ECHO_MODELS = json.dumps([{"id": "sference-test/echo", "engine": "echo"}])


class Recorder:
    """Another server: answers 200 ``{}`` to anything and records what it was sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                recorder.seen.append((self.path, dict(self.headers)))
                body = b'{"username": "someone", "role": "user"}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    """``sference-server serve`` on its first start (echo model), and the home it wrote the CLI's
    credentials in."""
    home = tmp_path / "home"
    env = server_env(home, SFERENCE_MODELS=ECHO_MODELS)
    process = ServerProcess(
        ["serve", "--port", "0", "--data-dir", str(tmp_path / "data")], env=env, log=tmp_path / "s.log"
    )
    process.start()
    yield process, home
    process.stop()


def sference(home: Path, *args: str, base_url: str, **env: str) -> Result:
    environment = {"HOME": str(home), "SFERENCE_BASE_URL": base_url, "SFERENCE_API_KEY": "", **env}
    return CliRunner().invoke(app, list(args), env=environment)


def saved(home: Path) -> dict[str, Any]:
    return json.loads((home / ".sference" / "credentials.json").read_text())  # type: ignore[no-any-return]


def test_the_first_start_saves_the_admin_key_for_its_own_server_only(
    server: tuple[ServerProcess, Path], other: Recorder
) -> None:
    process, home = server
    key = re.search(r"admin API key \(shown once\): (sk_\S+)", process.output())
    assert key and process.url
    assert saved(home) == {"token": key.group(1), "base_url": process.url}
    me = sference(home, "auth", "me", base_url=process.url)
    assert me.exit_code == 0 and "admin" in me.output
    refused = sference(home, "auth", "me", base_url=other.url)
    assert refused.exit_code == 1
    assert f"belongs to {process.url}, not to {other.url}" in refused.output
    assert f"sference auth login --base-url {other.url}" in refused.output
    assert sference(home, "auth", "me", "--base-url", other.url, base_url=process.url).exit_code == 1
    assert other.seen == []


def test_login_binds_the_key_to_the_server_and_a_new_login_rebinds_it(
    server: tuple[ServerProcess, Path], other: Recorder, tmp_path: Path
) -> None:
    process, server_home = server
    assert process.url
    key = saved(server_home)["token"]
    home = tmp_path / "user"
    done = sference(home, "auth", "login", "--api-key", key, base_url=f"{process.url}/")
    assert done.exit_code == 0, done.output
    assert saved(home) == {"token": key, "base_url": process.url}
    # The same server spelled with a trailing slash or another case of the scheme is the same server.
    assert sference(home, "auth", "me", base_url=process.url.replace("http:", "HTTP:") + "/").exit_code == 0
    assert sference(home, "batch", "list", base_url=other.url).exit_code == 1
    # A key given for the run goes where the run goes; the saved one stays home.
    assert sference(home, "auth", "me", base_url=other.url, SFERENCE_API_KEY="sk_given").exit_code == 0
    assert [{k.lower(): v for k, v in headers.items()}["authorization"] for _, headers in other.seen] == [
        "Bearer sk_given"
    ]
    # Signing in to the other server replaces the credential, bound to that server now.
    relogin = sference(home, "auth", "login", "--api-key", "sk_other", "--no-validate", base_url=other.url)
    assert relogin.exit_code == 0 and saved(home) == {"token": "sk_other", "base_url": other.url}
    assert sference(home, "auth", "me", base_url=process.url).exit_code == 1


def test_a_file_of_the_published_clis_is_bound_to_the_first_server_it_is_used_with(
    tmp_path: Path, other: Recorder
) -> None:
    home = tmp_path / "home"
    (home / ".sference").mkdir(parents=True)
    (home / ".sference" / "credentials.json").write_text(json.dumps({"token": "sk_legacy"}))
    assert sference(home, "auth", "me", base_url=other.url).exit_code == 0
    assert saved(home) == {"token": "sk_legacy", "base_url": other.url}
    refused = sference(home, "auth", "me", base_url="http://127.0.0.1:9")
    assert refused.exit_code == 1 and f"belongs to {other.url}" in refused.output
    assert len(other.seen) == 1


def test_a_device_sign_in_is_not_refreshed_at_another_server(tmp_path: Path, other: Recorder) -> None:
    home = tmp_path / "home"
    (home / ".sference").mkdir(parents=True)
    device = {"access_token": "sfat_x", "refresh_token": "sfrt_y", "expires_at": 0, "base_url": "http://127.0.0.1:9"}
    (home / ".sference" / "credentials.json").write_text(json.dumps(device))
    refused = sference(home, "auth", "me", base_url=other.url)
    assert refused.exit_code == 1 and "belongs to http://127.0.0.1:9" in refused.output
    assert other.seen == []  # neither the refresh token nor the access token went there
    assert saved(home) == device
