"""The console's usage page in a real browser (headless Chromium through Playwright) against
``sference-server serve`` with the echo engine: the chart is drawn (under the console's
Content-Security-Policy, which allows no inline style or script) and the numbers match the API's."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from support.batches import chat_row, document, wait_terminal
from support.browser import screenshot_path, sign_in
from support.settings import ECHO_MODEL

from .conftest import Start

pytestmark = pytest.mark.slow
KEY = "sk_usage_browser_key_for_test"
PASSWORD = "a long admin password"


def test_the_usage_page_shows_the_chart_and_the_numbers(browser: Browser, start: Start, tmp_path: Path) -> None:
    env = {
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_ADMIN_PASSWORD": PASSWORD,
        "SFERENCE_MODELS": json.dumps([{"id": ECHO_MODEL, "engine": "echo"}]),
    }
    server = start("serve", "--port", "0", "--data-dir", str(tmp_path / "data"), "--no-write-cli-credentials", env=env)
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    rows = [chat_row(f"r{i}", f"word {i} " * (i + 1)) for i in range(5)] + [chat_row("x", "[[fail:permanent]]")]
    batch = wait_terminal(client, client.post("/v1/batches", json=document(rows)).json()["id"])
    api = client.get("/v1/usage").json()
    (row,) = api["data"]
    assert (row["requests"], row["failed"]) == (5, 1)

    page = browser.new_page()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if _refused(message) else None)
    sign_in(page, server.url, PASSWORD)
    page.click("nav >> text=Usage")
    expect(page).to_have_url(f"{server.url}/usage")
    expect(page.locator("h1")).to_have_text("Usage")

    today = page.locator(f'svg.chart g.day[data-day="{batch["completed_at"][:10]}"]')
    expect(today).to_have_count(1)
    assert page.locator("svg.chart g.day").count() == 30  # the default range: the last 30 days
    bar = today.locator("rect.in").bounding_box()
    assert bar is not None and bar["height"] > 50  # the only day with tokens: the full height
    fill = today.locator("rect.in").evaluate("element => getComputedStyle(element).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)")  # coloured by console.css, not blocked
    model_row = page.locator("table.usage tbody tr", has_text=ECHO_MODEL).first
    expect(model_row).to_contain_text(f"{row['input_tokens']}")
    cells = model_row.locator("td.num").all_inner_texts()
    assert cells[:2] == ["5", "1"] and cells[4:6] == [f"{row['input_tokens']:,}", f"{row['output_tokens']:,}"]

    page.select_option("select[name=who]", "all")
    page.click("text=Show")
    expect(page.locator("select[name=who]")).to_have_value("all")
    expect(page.locator("table.usage tfoot")).to_contain_text(f"{api['totals']['output_tokens']:,}")
    page.screenshot(path=screenshot_path("usage"), full_page=True)
    assert blocked == []


def _refused(message: ConsoleMessage) -> bool:
    """A message of the browser refusing something under the Content-Security-Policy."""
    return "Content Security Policy" in message.text or "Refused" in message.text
