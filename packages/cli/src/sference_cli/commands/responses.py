"""``sference responses``: single requests (waited for, or queued) and the completion-events feed."""

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
    AnswerTimeout,
    ApiError,
    Response,
    SferenceClient,
    StreamInferenceCompletionEvent,
    clear_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

from ..client import make_client
from ..errors import describe_api_error, fail, handled
from ..options import BaseUrl
from ..output import print_json
from ..settings import base_url as resolve_base_url

app = typer.Typer(help="Create responses and follow completions.", no_args_is_help=True)

TAIL_PAGE = 50
MAX_WAIT_MS = 25_000


BACKGROUND_HINT = (
    "The server stopped waiting and cancelled the response. For long requests, queue it and fetch it later:\n"
    "  sference responses create --background ...\n"
    "  sference responses result --id <id>"
)
# Extra read time, so the server's own 504 (at its limit) arrives before the client gives up.
READ_GRACE_SECONDS = 5.0


@app.command()
@handled
def create(
    model: Annotated[str, typer.Option("--model", help="A model the server serves.")],
    content: Annotated[str, typer.Option("--content", help="The user message.")],
    include_reasoning: Annotated[bool, typer.Option("--include-reasoning/--no-include-reasoning")] = True,
    background: Annotated[
        bool,
        typer.Option(
            "--background/--no-background",
            help="Queue it and print it at once (in_progress); fetch it later with `responses result`.",
        ),
    ] = False,
    wait: Annotated[
        bool | None,
        typer.Option(
            "--wait/--no-wait",
            help="Wait until it finishes (the default unless --background); --no-wait is --background.",
        ),
    ] = None,
    poll_ms: Annotated[int, typer.Option("--poll-ms", min=10, help="Milliseconds between polls.")] = 500,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", "--timeout", help="Give up waiting after this many seconds.")
    ] = 600.0,
    base_url: BaseUrl = None,
) -> None:
    """Create one response and print it as JSON: by default once it has finished, with
    --background at once.

    The server waits for the answer itself (API version 2026-11-01, up to its limit); a server
    or version that answers at once (2025-10-01) is polled until the response finishes.
    """
    queue = background or wait is False
    follow = wait is True or (wait is None and not background)
    deadline = time.monotonic() + timeout_s
    with make_client(base_url) as client:
        try:
            response = client.create_response(
                model=model,
                input=[{"role": "user", "content": content}],
                include_reasoning=include_reasoning,
                background=queue,
                timeout=None if queue else timeout_s + READ_GRACE_SECONDS,
            )
        except ApiError as exc:
            if exc.status_code in (408, 504):
                fail(f"{describe_api_error(exc)}\n{BACKGROUND_HINT}")
            raise
        except AnswerTimeout:
            fail(f"No answer after {timeout_s:g} s (--timeout-s); use --background for long requests.")
        if follow:
            while not response.is_terminal and time.monotonic() < deadline:
                time.sleep(poll_ms / 1000)
                response = client.get_response(response.id)
    print_response(response)
    if follow and not response.is_terminal:
        fail(f"Response {response.id} is still {response.status} after {timeout_s:g} s.")


def print_response(response: Response) -> None:
    """The response as the server sent it (fields it did not send are not filled in)."""
    print_json(response.model_dump(mode="json", exclude_unset=True))


@app.command()
@handled
def result(
    response_id: Annotated[str, typer.Option("--id", help="The response id.")],
    poll_ms: Annotated[int, typer.Option("--poll-ms", min=10, help="Milliseconds between polls.")] = 500,
    base_url: BaseUrl = None,
) -> None:
    """Wait for a response to finish and print it as JSON."""
    with make_client(base_url) as client:
        print_response(client.wait_for_response(response_id, poll_interval=poll_ms / 1000, timeout=None))


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
