"""The ``sference`` command."""

from __future__ import annotations

from typing import Annotated

import typer

from sference_sdk import API_VERSION
from sference_sdk import __version__ as sdk_version

from . import __version__
from .commands import auth, batch, decisions, embeddings, models, responses, stream
from .settings import choose_api_version

app = typer.Typer(
    help="Command-line interface for the sference batch and stream inference API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(auth.app, name="auth")
app.add_typer(batch.app, name="batch")
app.add_typer(stream.app, name="stream")
app.add_typer(responses.app, name="responses")
app.add_typer(models.app, name="models")
app.add_typer(embeddings.app, name="embeddings")
app.add_typer(decisions.app, name="decisions")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sference-cli {__version__} (sference-sdk {sdk_version})")
        raise typer.Exit()


def _api_version(value: str | None) -> str | None:
    try:
        return choose_api_version(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the versions and exit.")
    ] = False,
    api_version: Annotated[
        str | None,
        typer.Option(
            "--api-version",
            envvar="SFERENCE_API_VERSION",
            callback=_api_version,
            help=f"API version to ask for (Sference-Version header): a date or 'latest' (default {API_VERSION}).",
        ),
    ] = None,
) -> None:
    """Set SFERENCE_BASE_URL to your server and sign in with `sference auth login`."""


def main() -> None:
    app()
