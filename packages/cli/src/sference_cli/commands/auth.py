"""``sference auth``: store and check a credential."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from ..client import make_client
from ..errors import fail, handled
from ..options import BaseUrl, Json
from ..output import print_fields, print_json
from ..settings import DEFAULT_CONSOLE_URL, save_api_key

app = typer.Typer(help="Sign in and check who you are.", no_args_is_help=True)


@app.command()
@handled
def login(
    api_key: Annotated[str | None, typer.Option("--api-key", help="Store this key instead of asking for one.")] = None,
    console_url: Annotated[
        str, typer.Option("--console-url", envvar="SFERENCE_CONSOLE_URL", help="The web console for the browser step.")
    ] = DEFAULT_CONSOLE_URL,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the console URL instead of opening it.")
    ] = False,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="Check the key with the API.")] = True,
    base_url: BaseUrl = None,
    as_json: Json = False,
) -> None:
    """Store an API key in ~/.sference/credentials.json (SFERENCE_API_KEY still wins)."""
    if api_key is not None:
        key = api_key.strip()
        if not key:
            fail("Empty --api-key.")
    else:
        console = console_url.rstrip("/")
        if no_browser:
            typer.echo(f"Sign in at {console}/login")
        else:
            typer.echo(f"Opening {console}/login in your browser...")
            webbrowser.open(f"{console}/login")
        typer.echo(f"After signing in:\n  1. Open {console}/api-keys\n  2. Create an API key\n  3. Paste it below")
        key = typer.prompt("API key", hide_input=True, default="", show_default=False).strip()
        if not key:
            fail("No API key provided.")
    path = save_api_key(key)
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
