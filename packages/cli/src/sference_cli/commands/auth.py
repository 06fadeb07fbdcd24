"""``sference auth``: store and check a credential."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from .. import device as device_flow
from ..client import make_client
from ..errors import fail, handled
from ..options import BaseUrl, Json
from ..output import print_fields, print_json
from ..settings import SERVER_KEY, save_api_key, save_credentials
from ..settings import base_url as resolve_base_url
from ..settings import console_url as console_url_for

app = typer.Typer(help="Sign in and check who you are.", no_args_is_help=True)


@app.command()
@handled
def login(
    api_key: Annotated[str | None, typer.Option("--api-key", help="Store this key instead of asking for one.")] = None,
    device: Annotated[
        bool, typer.Option("--device", help="Approve this computer in the console instead of pasting a key.")
    ] = False,
    console_url: Annotated[
        str | None,
        typer.Option(
            "--console-url",
            envvar="SFERENCE_CONSOLE_URL",
            help="The web console (default: the API server itself when self-hosted).",
        ),
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the console URL instead of opening it.")
    ] = False,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="Check the key with the API.")] = True,
    base_url: BaseUrl = None,
    as_json: Json = False,
) -> None:
    """Store a credential in ~/.sference/credentials.json (SFERENCE_API_KEY still wins), for
    this server only (--base-url / SFERENCE_BASE_URL): it is never sent to another.

    Without options: open the console's sign-in page and paste a key created under API keys.
    --device: approve a code in the console instead; the CLI then refreshes its own token.
    """
    api = resolve_base_url(base_url)
    console = console_url_for(console_url, api)
    if api_key is not None:
        key = api_key.strip()
        if not key:
            fail("Empty --api-key.")
        path = save_api_key(key, api)
    elif device:
        path = _device_login(api, console, open_browser=not no_browser)
    else:
        _open(f"{console}/login", open_browser=not no_browser)
        typer.echo(f"After signing in:\n  1. Open {console}/api-keys\n  2. Create an API key\n  3. Paste it below")
        key = typer.prompt("API key", hide_input=True, default="", show_default=False).strip()
        if not key:
            fail("No API key provided.")
        path = save_api_key(key, api)
    typer.echo(f"Credentials saved to {path}")
    if not validate:
        return
    with make_client(base_url) as client:
        me = client.get_me()
    if as_json:
        print_json(me)
    elif "username" in me and "role" in me:
        typer.echo(f"Authenticated as {me['username']} ({me['role']}).")
    else:
        typer.echo(f"Authenticated. {me}")


def _open(url: str, *, open_browser: bool) -> None:
    if open_browser:
        typer.echo(f"Opening {url} in your browser...")
        webbrowser.open(url)
    else:
        typer.echo(f"Open {url} in a browser.")


def _device_login(api: str, console: str, *, open_browser: bool) -> Path:
    try:
        started = device_flow.start(api)
        approve = f"{console}/device?code={started['user_code']}"
        _open(approve, open_browser=open_browser)
        typer.echo(f"Code: {started['user_code']} (check that the console shows the same)\nWaiting for approval...")
        tokens = device_flow.wait_for_tokens(api, started)
    except device_flow.DeviceLoginFailed as exc:
        fail(f"Device sign-in failed: {exc}")
    return save_credentials({**device_flow.credentials(tokens), SERVER_KEY: api})


@app.command()
@handled
def me(base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Show the user the current credential belongs to."""
    with make_client(base_url) as client:
        who = client.get_me()
    if as_json:
        print_json(who)
        return
    shown = {"username": who.get("username"), "role": who.get("role")}
    key = who.get("api_key")
    if isinstance(key, dict):
        shown["api key"] = f"{key.get('prefix')}… ({key.get('name')}; {' '.join(key.get('scopes', []))})"
    print_fields(shown)
