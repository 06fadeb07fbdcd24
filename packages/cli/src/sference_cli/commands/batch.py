"""``sference batch``: submit JSONL workloads, follow them, fetch their results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sference_sdk import Batch, NotFoundError, SferenceClient

from ..client import make_client
from ..errors import fail, handled
from ..options import BaseUrl, BatchId, CompletionWindow, InputFile, Json, Model, Window
from ..output import print_fields, print_json
from ..progress import BatchProgress
from ..settings import base_url as resolve_base_url
from ..stream_cache import file_key, forget, lookup, remember

app = typer.Typer(help="Submit and follow batches (24-hour windows).", no_args_is_help=True)

SUMMARY = [
    "id",
    "retry_of",
    "status",
    "model",
    "request_count",
    "request_counts",
    "total_tokens",
    "created_at",
    "completed_at",
    "estimated_completion_at",
    "error",
]


# Fields shown only when they have a value: most batches are no retry.
ONLY_WHEN_SET = {"retry_of"}


def show(batch: Batch, as_json: bool, *, also: tuple[str, ...] = ()) -> None:
    if as_json:
        print_json(batch)
    else:
        fields = [f for f in (*SUMMARY, *also) if f in type(batch).model_fields]
        print_fields(batch, [f for f in fields if f not in ONLY_WHEN_SET or getattr(batch, f) is not None])


@app.command("list")
@handled
def list_(base_url: BaseUrl = None, as_json: Json = False) -> None:
    """List your batches, newest first."""
    with make_client(base_url) as client:
        batches = client.list_batches()
    if as_json:
        print_json(batches)
        return
    if not batches.items:
        typer.echo("No batches.")
        return
    typer.echo(f"{'id':<36}  {'status':<12}  {'reqs':>6}  {'tokens':>10}  created")
    for b in batches.items:
        typer.echo(f"{b.id:<36}  {b.status:<12}  {b.request_count:>6}  {b.total_tokens:>10}  {b.created_at}")


@app.command()
@handled
def submit(
    input_file: InputFile,
    model: Model = None,
    window: Window = CompletionWindow.DAY,
    require_feasible: Annotated[
        bool,
        typer.Option(
            "--require-feasible",
            help="Refuse the batch (nothing is queued) if the server estimates it cannot finish in its window.",
        ),
    ] = False,
    base_url: BaseUrl = None,
    as_json: Json = False,
) -> None:
    """Submit a JSONL file as one batch; shows the server's completion estimate and whether it
    fits the window (feasible: - when the server cannot tell yet)."""
    with make_client(base_url) as client:
        batch = client.submit_batch(
            input_file=input_file, model=model, window=window.value, require_feasible=require_feasible
        )
    show(batch, as_json, also=("feasible",))


@app.command()
@handled
def status(batch_id: BatchId, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Show one batch."""
    with make_client(base_url) as client:
        show(client.get_batch(batch_id), as_json)


@app.command()
@handled
def wait(
    batch_id: BatchId,
    poll_interval: Annotated[float, typer.Option("--poll-interval", help="Seconds between polls.")] = 1.0,
    timeout: Annotated[float, typer.Option("--timeout", help="Give up after this many seconds (0: never).")] = 30.0,
    base_url: BaseUrl = None,
    as_json: Json = False,
) -> None:
    """Wait until the batch is completed, failed or cancelled."""
    with make_client(base_url) as client, BatchProgress(batch_id) as progress:
        batch = client.wait_for_completion(
            batch_id, poll_interval=poll_interval, timeout=timeout or None, on_poll=progress.update
        )
    show(batch, as_json)


Merged = Annotated[
    bool,
    typer.Option("--merged", help="For a retry: every row of the original batch, each with its latest outcome."),
]


@app.command()
@handled
def results(batch_id: BatchId, merged: Merged = False, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Print the results payload (rows once the batch is finished)."""
    with make_client(base_url) as client:
        print_json(client.get_results(batch_id, merged=merged))


@app.command()
@handled
def cancel(batch_id: BatchId, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Cancel a batch; finished rows keep their results."""
    with make_client(base_url) as client:
        show(client.cancel_batch(batch_id), as_json)


@app.command()
@handled
def retry(batch_id: BatchId, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Run the failed, expired and cancelled rows of a finished batch again, as a new batch."""
    with make_client(base_url) as client:
        show(client.retry_batch(batch_id), as_json)


@app.command("download-results")
@handled
def download_results(
    batch_id: BatchId,
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSONL (folders are made).")],
    fmt: Annotated[str, typer.Option("--format", help="Only jsonl.")] = "jsonl",
    merged: Merged = False,
    base_url: BaseUrl = None,
) -> None:
    """Download the results as JSONL."""
    if fmt.lower() != "jsonl":
        fail(f"Unsupported --format {fmt!r}; only jsonl is available.")
    with make_client(base_url) as client:
        client.download_results_jsonl(batch_id, out, merged=merged)
    typer.echo(str(out))


@app.command()
@handled
def stream(
    input_file: InputFile,
    model: Model = None,
    window: Window = CompletionWindow.DAY,
    poll_interval: Annotated[float, typer.Option("--poll-interval", help="Seconds between polls.")] = 2.0,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Submit anew even if this file ran before.")] = False,
    base_url: BaseUrl = None,
) -> None:
    """Submit, wait, and print the results JSONL on stdout (progress on stderr).

    Interrupt it and run it again with the same file: it resumes the same batch.
    Exit code 0 when the batch completed, 1 when it failed or was cancelled.
    """
    url = resolve_base_url(base_url)
    key = file_key(input_file)
    with make_client(base_url) as client:
        batch = _resume(client, key, url) if not no_cache else None
        if batch is None:
            batch = client.submit_batch(input_file=input_file, model=model, window=window.value)
            remember(key, batch.id, url)
        try:
            with BatchProgress(batch.id) as progress:
                progress.update(batch, force=True)
                batch = client.wait_for_completion(
                    batch.id, poll_interval=poll_interval, timeout=None, on_poll=progress.update
                )
        except KeyboardInterrupt:
            fail(f"Interrupted. Batch {batch.id} keeps running; run the same command again to resume it.", 130)
        try:
            client.download_results_jsonl(batch.id, sys.stdout.buffer)
            sys.stdout.flush()
        finally:
            forget(key)
    if batch.status != "completed":
        reason = f": {batch.error.message}" if batch.error else ""
        fail(f"Batch {batch.id} ended {batch.status}{reason}")


def _resume(client: SferenceClient, key: str, url: str) -> Batch | None:
    batch_id = lookup(key, url)
    if batch_id is None:
        return None
    try:
        batch = client.get_batch(batch_id)
    except NotFoundError:
        forget(key)
        return None
    if not batch.is_terminal:
        typer.echo(f"Resuming batch {batch.id}", err=True)
    return batch
