"""``sference models``: what the server serves, and for which endpoint."""

from __future__ import annotations

import typer

from sference_sdk import ModelList

from ..client import make_client
from ..errors import handled
from ..options import BaseUrl, Json
from ..output import print_json

app = typer.Typer(help="List the models the server serves.", invoke_without_command=True)

# How each modality is shown, and which command takes it.
MODALITIES = {"text_generation": "generation", "text_embedding": "embedding", "decisions": "decisions"}


@app.callback()
@handled
def _models(ctx: typer.Context, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """List the models (the same as `sference models list`)."""
    if ctx.invoked_subcommand is None:
        _list(base_url, as_json)


@app.command("list")
@handled
def list_(base_url: BaseUrl = None, as_json: Json = False) -> None:
    """List the models: id, modality (generation, embedding, decisions), context tokens, name."""
    _list(base_url, as_json)


def _list(base_url: str | None, as_json: bool) -> None:
    with make_client(base_url) as client:
        models = client.list_models()
    if as_json:
        print_json(models)
    else:
        print_table(models)


def print_table(models: ModelList) -> None:
    if not models.data:
        typer.echo("No models.")
        return
    rows = [
        (
            m.id,
            MODALITIES.get(m.modality or "", m.modality or "-"),
            "-" if m.context_tokens is None else str(m.context_tokens),
            m.display_name or "-",
        )
        for m in models.data
    ]
    id_width = max(len("id"), *(len(r[0]) for r in rows))
    typer.echo(f"{'id':<{id_width}}  {'modality':<10}  {'context':>8}  name")
    for model_id, modality, context, name in rows:
        typer.echo(f"{model_id:<{id_width}}  {modality:<10}  {context:>8}  {name}")
