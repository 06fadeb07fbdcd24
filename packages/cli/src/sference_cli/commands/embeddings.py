"""``sference embeddings``: vectors for texts."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from sference_sdk import EmbeddingResponse

from ..client import make_client
from ..errors import handled
from ..options import BaseUrl
from ..output import print_json

app = typer.Typer(help="Turn texts into vectors.", no_args_is_help=True)

SHOWN_VALUES = 4  # values printed per vector without --json


class EncodingFormat(StrEnum):
    FLOAT = "float"
    BASE64 = "base64"


@app.command()
@handled
def create(
    model: Annotated[str, typer.Option("--model", help="An embedding model (`sference models` lists them).")],
    inputs: Annotated[list[str], typer.Option("--input", help="A text to embed; repeat for several.")],
    encoding_format: Annotated[
        EncodingFormat, typer.Option("--encoding-format", help="How the server sends vectors.")
    ] = EncodingFormat.FLOAT,
    dimensions: Annotated[
        int | None, typer.Option("--dimensions", min=1, help="Shorten the vectors to this many values.")
    ] = None,
    base_url: BaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the server's whole reply.")] = False,
) -> None:
    """Embed one or more texts; print one line per input (index, size, first values)."""
    with make_client(base_url) as client:
        reply = client.create_embeddings(
            model=model,
            input=inputs[0] if len(inputs) == 1 else inputs,
            encoding_format=encoding_format.value,
            dimensions=dimensions,
        )
    if as_json:
        print_json(reply)
    else:
        print_summary(reply)


def print_summary(reply: EmbeddingResponse) -> None:
    for item in sorted(reply.data, key=lambda item: item.index):
        vector = item.vector
        shown = ", ".join(f"{value:.4f}" for value in vector[:SHOWN_VALUES])
        more = ", ..." if len(vector) > SHOWN_VALUES else ""
        typer.echo(f"{item.index}  {len(vector)} dims  [{shown}{more}]")
