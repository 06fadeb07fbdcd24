"""Driving the console over plain HTTP (the browser tests use Chromium instead)."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(base_url: str, username: str, password: str, *, next_path: str = "/batches") -> httpx.Client:
    """A client holding a console session (raises if the sign-in fails)."""
    client = httpx.Client(base_url=base_url, timeout=30)
    page = client.get("/login", params={"next": next_path})
    response = client.post(
        "/login", data={"username": username, "password": password, "next": next_path, "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 303, response.text
    return client


def form_token(client: httpx.Client, path: str) -> str:
    return csrf_of(client.get(path).text)
