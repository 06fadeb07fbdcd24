"""Headless Chromium (Debian's package) driven by Playwright, and where screenshots go."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Page

CHROMIUM = os.environ.get("SFERENCE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "console"
# Without the background-networking flags Chromium keeps dialling Google, which this closed
# network refuses; --no-sandbox because tests may run as root.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


def screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / f"{name}.png")


def sign_in(page: Page, url: str, password: str, username: str = "admin") -> None:
    """Sign in to the console at ``url`` through its form."""
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
