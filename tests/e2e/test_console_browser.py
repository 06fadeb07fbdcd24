"""The console in a real browser (headless Chromium through Playwright) against
``sference-server serve`` with the embedded model; screenshots land in .test-artifacts/console/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from support.browser import screenshot_path, sign_in
from support.jsonl import EXAMPLES
from support.published import published_clients
from support.settings import ECHO_MODEL

from .conftest import Start

pytestmark = pytest.mark.slow
PASSWORD = "a long admin password"
EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture
def server(start: Start, tmp_path: Path) -> Any:
    return start(
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--no-write-cli-credentials",
        env={"SFERENCE_ADMIN_PASSWORD": PASSWORD, "SFERENCE_DEVICE_POLL_SECONDS": "1"},
    )


def cli_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFERENCE_")}
    home = tmp_path / "cli-home"
    home.mkdir(exist_ok=True)
    env.update({"HOME": str(home), "SFERENCE_BASE_URL": url})
    return env


def ours(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sference_cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_a_person_does_everything_in_the_console(browser: Browser, server: Any, tmp_path: Path) -> None:
    url = server.url
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()

    sign_in(page, url, "not the password")
    expect(page.locator(".error")).to_contain_text("Wrong username or password")
    page.screenshot(path=screenshot_path("login-failed"), full_page=True)
    sign_in(page, url, PASSWORD)
    expect(page).to_have_url(f"{url}/batches")
    page.screenshot(path=screenshot_path("batches-empty"), full_page=True)

    page.goto(f"{url}/api-keys")
    page.fill("input[name=name]", "my laptop")
    page.click("text=Create key")
    key = page.locator("#new-key").inner_text().strip()
    assert key.startswith("sk_")
    page.screenshot(path=screenshot_path("api-key-created"), full_page=True)

    env = cli_env(tmp_path, url)
    assert ours(env, "auth", "login", "--api-key", key).returncode == 0
    me = ours(env, "auth", "me", "--json")
    assert me.returncode == 0 and json.loads(me.stdout)["username"] == "admin"

    submitted = ours(env, "batch", "submit", "--input-file", str(EXAMPLES / "example_batch.jsonl"), "--json")
    batch_id = json.loads(submitted.stdout)["id"]
    work = tmp_path / "long.jsonl"
    work.write_text(
        "".join(
            json.dumps(
                {
                    "custom_id": f"n{i}",
                    "body": {
                        "model": EMBEDDED,
                        "max_tokens": 32,
                        "messages": [{"role": "user", "content": f"Tell a story number {i}."}],
                    },
                }
            )
            + "\n"
            for i in range(40)
        )
    )
    long_id = json.loads(ours(env, "batch", "submit", "--input-file", str(work), "--json").stdout)["id"]
    page.goto(f"{url}/batches")
    page.evaluate("window.stayedOnThePage = true")
    row = page.locator("tr", has_text=long_id[:13])
    expect(row.locator(".status")).not_to_have_text("completed")
    page.screenshot(path=screenshot_path("batches-running"), full_page=True)
    expect(row.locator(".status")).to_have_text("completed", timeout=180_000)
    assert page.evaluate("window.stayedOnThePage") is True  # the live part refreshed in place
    page.screenshot(path=screenshot_path("batches"), full_page=True)
    page.click(f"text={batch_id[:13]}")
    expect(page.locator("h1")).to_contain_text(batch_id)
    page.screenshot(path=screenshot_path("batch-detail"), full_page=True)
    with page.expect_download() as download:
        page.click("text=Download results")
    rows = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [r["custom_id"] for r in rows] == ["greeting", "capital", "colors"]

    stream = json.loads(ours(env, "stream", "create", "--name", "nightly", "--json").stdout)
    lines = tmp_path / "lines.jsonl"
    lines.write_text(json.dumps({"content": "Say hello.", "custom_id": "s1"}) + "\n")
    assert (
        ours(
            env, "stream", "submit", "--stream-id", stream["id"], "--input-file", str(lines), "--model", EMBEDDED
        ).returncode
        == 0
    )
    page.goto(f"{url}/streams")
    page.click("text=nightly")
    expect(page.locator("td", has_text="s1")).to_be_visible(timeout=120_000)
    page.screenshot(path=screenshot_path("stream-detail"), full_page=True)
    page.click("text=Archive stream")
    expect(page.locator("h1 .status")).to_have_text("archived")

    page.goto(f"{url}/users")
    page.fill("form[action='/users'] input[name=username]", "carol")
    page.fill("form[action='/users'] input[name=password]", "carol's long password")
    page.click("text=Add user")
    expect(page.locator(".ok")).to_contain_text("Created user carol.")
    page.screenshot(path=screenshot_path("users"), full_page=True)

    forged = page.request.post(f"{url}/api-keys", form={"name": "forged"})  # the session cookie, no CSRF token
    assert forged.status == 403
    page.goto(f"{url}/api-keys")
    assert "forged" not in page.content()
    page.locator("tr", has_text="my laptop").locator("text=Revoke").click()
    expect(page.locator("tr.revoked", has_text="my laptop")).to_be_visible()
    page.screenshot(path=screenshot_path("api-keys"), full_page=True)
    denied = ours(env, "auth", "me")
    assert denied.returncode == 1 and "Unauthorized (401)" in denied.stderr

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{url}/batches")
    page.screenshot(path=screenshot_path("batches-phone"), full_page=True)
    context.close()


def test_a_batch_with_failed_rows_is_retried_from_its_page(browser: Browser, start: Start, tmp_path: Path) -> None:
    echo = json.dumps([{"id": ECHO_MODEL, "engine": "echo"}])
    url = start(
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--no-write-cli-credentials",
        # One attempt: a transient failure fails the row, and the retry's attempt succeeds.
        env={"SFERENCE_ADMIN_PASSWORD": PASSWORD, "SFERENCE_MODELS": echo, "SFERENCE_MAX_ATTEMPTS": "1"},
    ).url
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    sign_in(page, url, PASSWORD)
    page.goto(f"{url}/api-keys")
    page.fill("input[name=name]", "retries")
    page.click("text=Create key")
    api = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {page.locator('#new-key').inner_text().strip()}"}
    )
    rows = [
        {"custom_id": name, "body": {"model": ECHO_MODEL, "messages": [{"role": "user", "content": content}]}}
        for name, content in (
            ("fine", "all good"),
            ("flaky", "once [[fail:transient:1]]"),
            ("broken", "[[fail:permanent]]"),
        )
    ]
    original = api.post("/v1/batches", json={"window": "24h", "requests": rows}).json()["id"]

    page.goto(f"{url}/batches/{original}")
    expect(page.locator("h1 .status")).to_have_text("completed", timeout=60_000)
    page.screenshot(path=screenshot_path("batch-with-failures"), full_page=True)
    page.click("text=Retry failed rows")
    expect(page).not_to_have_url(f"{url}/batches/{original}")
    retry = page.url.rsplit("/", 1)[-1]
    expect(page.locator("h1")).to_contain_text(retry)
    expect(page.locator("dd", has_text=original)).to_be_visible()  # "Retry of", a link to the original
    expect(page.locator("h1 .status")).to_have_text("completed", timeout=60_000)  # flaky ran, broken failed again
    page.screenshot(path=screenshot_path("batch-retry"), full_page=True)
    with page.expect_download() as download:
        page.click("text=Download merged results")
    merged = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [(r["custom_id"], r["status"]) for r in merged] == [
        ("fine", "completed"),
        ("flaky", "completed"),
        ("broken", "failed"),
    ]
    assert api.get(f"/v1/batches/{retry}").json()["request_count"] == 2
    page.click(f"a:has-text('{original}')")
    expect(page.locator("h1")).to_contain_text(original)
    context.close()


def approve_in_browser(browser: Browser, approve_url: str) -> None:
    page = browser.new_page()
    page.goto(approve_url)  # not signed in yet: the console asks first, then comes back
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".code")).to_be_visible()
    page.screenshot(path=screenshot_path("device-approve"), full_page=True)
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".ok")).to_contain_text("Device approved")
    page.close()


def read_until(process: subprocess.Popen[str], pattern: str, timeout: float = 60) -> re.Match[str]:
    assert process.stdout is not None
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen += line
        found = re.search(pattern, seen)
        if found:
            return found
    raise AssertionError(f"no {pattern!r} in:\n{seen}")


def test_the_newest_published_cli_signs_in_through_the_device_flow(
    browser: Browser, server: Any, tmp_path: Path
) -> None:
    bin_dir = published_clients("0.4.0", "0.3.2")
    env = cli_env(tmp_path, server.url)
    login = subprocess.Popen(
        [str(bin_dir / "sference"), "auth", "login", "--no-browser"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    approve_url = read_until(login, r"Approve this device at: (\S+)").group(1)
    assert approve_url.startswith(f"{server.url}/device?code=")
    approve_in_browser(browser, approve_url)
    out, err = login.communicate(timeout=60)
    assert login.returncode == 0, err
    assert "Authenticated as admin (admin)." in out
    stored = json.loads((tmp_path / "cli-home" / ".sference" / "credentials.json").read_text())
    assert set(stored) == {"access_token", "refresh_token", "expires_at"}
    me = subprocess.run(
        [str(bin_dir / "sference"), "auth", "me", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert me.returncode == 0 and json.loads(me.stdout)["username"] == "admin"


def test_our_cli_signs_in_through_the_device_flow(browser: Browser, server: Any, tmp_path: Path) -> None:
    env = cli_env(tmp_path, server.url)
    login = subprocess.Popen(
        [sys.executable, "-m", "sference_cli", "auth", "login", "--device", "--no-browser"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    approve_url = read_until(login, r"Open (\S+/device\?code=\S+) in a browser").group(1)
    approve_in_browser(browser, approve_url)
    out, err = login.communicate(timeout=60)
    assert login.returncode == 0, err
    assert "Authenticated as admin (admin)." in out
    me = ours(env, "auth", "me", "--json")
    assert json.loads(me.stdout)["username"] == "admin"
    # A token about to expire is refreshed by the CLI on its next command.
    path = tmp_path / "cli-home" / ".sference" / "credentials.json"
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, "expires_at": time.time() + 5}))
    assert json.loads(ours(env, "auth", "me", "--json").stdout)["username"] == "admin"
    renewed = json.loads(path.read_text())
    assert renewed["refresh_token"] != stored["refresh_token"] and renewed["expires_at"] > time.time() + 3600
    assert renewed["base_url"] == stored["base_url"] == server.url  # bound to the server it came from
