"""``sference responses``: single asynchronous requests and the completion-events feed."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

import typer

from sference_sdk import (
    SferenceClient,
    StreamInferenceCompletionEvent,
    clear_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

from ..client import make_client
from ..errors import fail, handled
from ..options import BaseUrl
from ..output import print_json
from ..settings import base_url as resolve_base_url

app = typer.Typer(help="Create responses and follow completions.", no_args_is_help=True)

TAIL_PAGE = 50
MAX_WAIT_MS = 25_000


@app.command()
@handled
def create(
    model: Annotated[str, typer.Option("--model", help="A model the server serves.")],
    content: Annotated[str, typer.Option("--content", help="The user message.")],
    include_reasoning: Annotated[bool, typer.Option("--include-reasoning/--no-include-reasoning")] = True,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Poll until the response finishes.")] = False,
    poll_ms: Annotated[int, typer.Option("--poll-ms", min=10, help="Milliseconds between polls.")] = 500,
    timeout_s: Annotated[float, typer.Option("--timeout-s", help="With --wait: give up after this long.")] = 60.0,
    base_url: BaseUrl = None,
) -> None:
    """Create one response (printed as JSON); with --wait, wait for it to finish."""
    with make_client(base_url) as client:
        response = client.create_response(
            model=model, input=[{"role": "user", "content": content}], include_reasoning=include_reasoning
        )
        if wait:
            deadline = time.monotonic() + timeout_s
            while not response.is_terminal and time.monotonic() < deadline:
                time.sleep(poll_ms / 1000)
                response = client.get_response(response.id)
    print_json(response)
    if wait and not response.is_terminal:
        fail(f"Response {response.id} is still {response.status} after {timeout_s:g} s.")


@app.command()
@handled
def result(
    response_id: Annotated[str, typer.Option("--id", help="The response id.")],
    poll_ms: Annotated[int, typer.Option("--poll-ms", min=10, help="Milliseconds between polls.")] = 500,
    base_url: BaseUrl = None,
) -> None:
    """Wait for a response to finish and print it as JSON."""
    with make_client(base_url) as client:
        print_json(client.wait_for_response(response_id, poll_interval=poll_ms / 1000, timeout=None))


@app.command()
@handled
def tail(
    stream_id: Annotated[
        str | None, typer.Option("--stream-id", help="A stream's feed (default: no stream's).")
    ] = None,
    consumer: Annotated[
        str, typer.Option("--consumer", help="Checkpoint name, to resume where it stopped.")
    ] = "default",
    from_latest: Annotated[
        bool, typer.Option("--from-latest", help="Forget the checkpoint; start at the newest.")
    ] = False,
    no_checkpoint: Annotated[
        bool, typer.Option("--no-checkpoint", help="Neither read nor write a checkpoint.")
    ] = False,
    poll_ms: Annotated[
        int, typer.Option("--poll-ms", min=10, help="How long to wait for new events per request.")
    ] = 5000,
    base_url: BaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Accepted for compatibility; output is always JSON.")] = False,
) -> None:
    """Print completion events as JSON lines, following the feed until Ctrl-C.

    The checkpoint is saved after each printed event, so running it again with the same
    --consumer continues with the next event: nothing twice, nothing skipped.
    """
    url = resolve_base_url(base_url)
    if from_latest and not no_checkpoint:
        clear_checkpoint(url, stream_id, consumer)
    cursor = None if no_checkpoint or from_latest else load_checkpoint(url, stream_id, consumer)
    with make_client(base_url) as client:
        for event in _follow(client, stream_id, cursor, min(poll_ms, MAX_WAIT_MS)):
            with _uninterrupted():  # print and checkpoint together, or neither
                sys.stdout.write(json.dumps(event.model_dump(mode="json")) + "\n")
                sys.stdout.flush()
                if not no_checkpoint:
                    save_checkpoint(url, stream_id, consumer, event.completion_id)


def _follow(
    client: SferenceClient, stream_id: str | None, cursor: str | None, wait_ms: int
) -> Iterator[StreamInferenceCompletionEvent]:
    while True:
        asked = time.monotonic()
        page = client.list_responses_events(
            stream_id=stream_id, limit=TAIL_PAGE, starting_after=cursor, wait_ms=wait_ms
        )
        yield from page.data
        if page.data:
            cursor = page.data[-1].completion_id
        elif time.monotonic() - asked < wait_ms / 2000:
            time.sleep(wait_ms / 1000)  # a server that does not long-poll: do not spin


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block until the block is done."""
    pending: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            raise KeyboardInterrupt
