"""Webhooks in the console, in a real browser: add an endpoint (its secret shown once), see the
delivery log fill in as a real receiver on loopback verifies what it gets, and redeliver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from support.batches import chat_row, document, wait_terminal
from support.browser import screenshot_path, sign_in
from support.settings import ECHO_MODEL
from support.webhooks import Receiver

from .conftest import Start
from .test_console_browser import PASSWORD

pytestmark = pytest.mark.slow
KEY = "sk_e2e_admin_key_0123456789abcdef"


@pytest.fixture
def server(start: Start, tmp_path: Path) -> Any:
    return start(
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--no-write-cli-credentials",
        env={
            "SFERENCE_ADMIN_PASSWORD": PASSWORD,
            "SFERENCE_ADMIN_API_KEY": KEY,
            "SFERENCE_MODELS": json.dumps([{"id": ECHO_MODEL, "engine": "echo"}]),
            "SFERENCE_WEBHOOK_ALLOW_PRIVATE": "1",
            "SFERENCE_WEBHOOK_POLL_SECONDS": "0.2",
        },
    )


def test_adding_an_endpoint_and_reading_its_delivery_log(browser: Browser, server: Any) -> None:
    page = browser.new_context().new_page()
    sign_in(page, server.url, PASSWORD)
    page.click("nav >> text=Webhooks")
    expect(page.locator("h1")).to_have_text("Webhooks")
    expect(page.get_by_text("No endpoints yet.")).to_be_visible()

    with Receiver() as receiver:
        page.fill("input[name=url]", receiver.url)
        page.fill("input[name=description]", "build bot")
        page.click("button:has-text('Add endpoint')")
        secret = page.locator("#new-secret").inner_text()
        assert secret.startswith("whsec_")
        receiver.secret = secret
        page.screenshot(path=screenshot_path("webhooks-added"), full_page=True)
        page.goto(f"{server.url}/webhooks")  # shown once: not on the page any more
        assert secret not in page.content()
        page.click(f"a:has-text('{receiver.url}')")
        expect(page.get_by_text("No deliveries yet.")).to_be_visible()

        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        batch = client.post("/v1/batches", json=document([chat_row("a", "hello")])).json()
        wait_terminal(client, batch["id"])
        (got,) = receiver.wait_for(lambda got: len(got) >= 1)
        assert got.verified and got.payload["type"] == "batch.completed"

        page.reload()
        row = page.locator(f"tr[data-delivery='{got.id}']")
        expect(row).to_contain_text("batch.completed")
        expect(row).to_contain_text("delivered")
        expect(row).to_contain_text("200")
        page.screenshot(path=screenshot_path("webhooks-log"), full_page=True)
        row.locator("button:has-text('Redeliver')").click()
        again = receiver.wait_for(lambda got: len(got) >= 2)
        assert again[1].verified and again[1].id == got.id

        page.goto(f"{server.url}/webhooks")
        page.click("button:has-text('Remove')")
        expect(page.get_by_text("No endpoints yet.")).to_be_visible()
