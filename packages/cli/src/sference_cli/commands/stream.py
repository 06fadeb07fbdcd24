"""``sference stream``: long-lived streams that responses are added to over time."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

from sference_sdk import ApiError, SferenceClient, Stream

from ..client import make_client
from ..errors import describe_api_error, fail, handled
from ..options import BaseUrl, InputFile, Json, Model, StreamId, StreamWindow
from ..output import print_fields, print_json

app = typer.Typer(help="Create streams, add responses to them, follow their counters.", no_args_is_help=True)

SUMMARY = [
    "id",
    "name",
    "status",
    "window",
    "total_items",
    "pending_items",
    "running_items",
    "completed_items",
    "failed_items",
    "cancelled_items",
    "completion_ratio",
    "total_tokens",
    "latest_completion_id",
    "estimated_completion_at",
]


def show(stream: Stream, as_json: bool) -> None:
    if as_json:
        print_json(stream)
    else:
        print_fields(stream, SUMMARY)


@app.command()
@handled
def create(
    name: Annotated[str, typer.Option("--name", help="A name to recognise the stream by.")],
    window: Annotated[
        StreamWindow, typer.Option("--window", help="Completion window of its items.")
    ] = StreamWindow.DAY,
    base_url: BaseUrl = None,
    as_json: Json = False,
) -> None:
    """Create a stream."""
    with make_client(base_url) as client:
        show(client.create_stream(name, window.value), as_json)


@app.command("list")
@handled
def list_(base_url: BaseUrl = None, as_json: Json = False) -> None:
    """List your streams, newest first."""
    with make_client(base_url) as client:
        streams = client.list_streams()
    if as_json:
        print_json(streams)
        return
    if not streams.items:
        typer.echo("No streams.")
        return
    typer.echo(f"{'id':<36}  {'status':<10}  {'window':<6}  name")
    for s in streams.items:
        typer.echo(f"{s.id:<36}  {s.status:<10}  {s.window:<6}  {s.name}")


@app.command()
@handled
def status(stream_id: StreamId, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Show a stream with its counters."""
    with make_client(base_url) as client:
        show(client.get_stream(stream_id), as_json)


@app.command()
@handled
def cancel(stream_id: StreamId, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Stop accepting items and drop pending ones; items already running finish."""
    with make_client(base_url) as client:
        show(client.cancel_stream(stream_id), as_json)


@app.command()
@handled
def archive(stream_id: StreamId, base_url: BaseUrl = None, as_json: Json = False) -> None:
    """Finalise the stream (optional after cancel); it accepts no new items."""
    with make_client(base_url) as client:
        show(client.archive_stream(stream_id), as_json)


@app.command()
@handled
def submit(
    stream_id: StreamId,
    input_file: InputFile,
    model: Model = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Requests in flight.")] = 8,
    base_url: BaseUrl = None,
    as_json: Json = False,
) -> None:
    """Add one response per JSONL line to the stream.

    Lines: {"content": ...} (with --model), {custom_id, method, url, body}, or {"input": ..., "metadata": ...}.
    A line that fails is reported and the others still go in; the exit code is 1 if any failed.
    """
    lines = _read_lines(input_file, model)
    with make_client(base_url) as client:
        outcomes = _submit_all(client, stream_id, lines, concurrency)
    submitted = [o for o in outcomes if "response" in o]
    failed = [o for o in outcomes if "error" in o]
    for problem in failed:
        typer.echo(f"line {problem['line']}: {problem['error']}", err=True)
    if as_json:
        print_json(
            {
                "stream_id": stream_id,
                "total_items": len(submitted),
                "failed_items": len(failed),
                "items": [o["response"] for o in submitted],
                "errors": [{"line": o["line"], "error": o["error"]} for o in failed],
            }
        )
    else:
        typer.echo(f"Submitted {len(submitted)} of {len(outcomes)} lines to stream {stream_id}.")
    if failed:
        raise typer.Exit(1)


def _read_lines(path: Path, model: str | None) -> list[tuple[int, dict[str, Any] | str]]:
    """(line number, create-response keyword arguments, or an error message)."""
    lines: list[tuple[int, dict[str, Any] | str]] = []
    with open(path, encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                lines.append((number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
                continue
            lines.append((number, _to_request(record, model)))
    if not lines:
        fail(f"Error: {path} has no lines to submit.")
    return lines


def _to_request(record: Any, model: str | None) -> dict[str, Any] | str:
    if not isinstance(record, dict):
        return "each line must be a JSON object"
    metadata: dict[str, Any] = {}
    if "body" in record:  # an OpenAI batch envelope
        body = record["body"]
        if not isinstance(body, dict):
            return "body must be an object"
        chosen = body.get("model") or model
        extra = {
            k: v
            for k, v in body.items()
            if k not in ("model", "messages", "input", "max_tokens", "max_completion_tokens")
        }
        limit = body.get("max_tokens", body.get("max_completion_tokens"))
        if limit is not None:
            extra["max_output_tokens"] = limit
        text = body.get("messages", body.get("input"))
        custom_id = record.get("custom_id")
    elif "content" in record:
        chosen, text, extra = model, [{"role": "user", "content": record["content"]}], {}
        custom_id = record.get("custom_id")
    elif "input" in record:
        chosen, text, extra = model, record["input"], {}
        metadata.update(record.get("metadata") or {})
        custom_id = record.get("custom_id")
    else:
        return "unrecognised line: expected {content}, {custom_id, method, url, body} or {input}"
    if not chosen:
        return "no model: pass --model (or set body.model)"
    if custom_id is not None:
        metadata["custom_id"] = custom_id
    return {"model": chosen, "input": text, "metadata": metadata, "extra_body": extra or None}


def _submit_all(
    client: SferenceClient, stream_id: str, lines: list[tuple[int, dict[str, Any] | str]], concurrency: int
) -> list[dict[str, Any]]:
    lock = threading.Lock()
    outcomes: list[dict[str, Any]] = [{} for _ in lines]

    def one(index: int) -> None:
        number, request = lines[index]
        if isinstance(request, str):
            result: dict[str, Any] = {"line": number, "error": request}
        else:
            request = {**request, "metadata": {**request["metadata"], "stream_id": stream_id}}
            try:
                result = {"line": number, "response": client.create_response(**request).model_dump(mode="json")}
            except ApiError as exc:
                result = {"line": number, "error": describe_api_error(exc)}
        with lock:
            outcomes[index] = result

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(len(lines))))
    return outcomes
