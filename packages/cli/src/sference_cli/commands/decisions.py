"""``sference decisions``: questions about a state, answered from a model's probabilities."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sference_sdk import ChoiceAnswer, DecisionResponse, NoulAnswer, ScoreAnswer

from ..client import make_client
from ..errors import handled
from ..options import BaseUrl
from ..output import print_json

app = typer.Typer(help="Ask questions about a state (classify, score, yes/no).", no_args_is_help=True)


@app.command()
@handled
def create(
    model: Annotated[str, typer.Option("--model", help="A decisions model (modality decisions in `sference models`).")],
    questions: Annotated[
        str,
        typer.Option(
            "--questions",
            help='JSON {name: {"type": "choice"|"score"|"noul", "instructions", "criteria"}}; '
            "@path reads a file, @- stdin.",
        ),
    ],
    state: Annotated[str | None, typer.Option("--state", help="The text to decide about.")] = None,
    state_json: Annotated[
        str | None, typer.Option("--state-json", help="The state as JSON instead; @path reads a file, @- stdin.")
    ] = None,
    base_url: BaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the server's whole reply.")] = False,
) -> None:
    """Answer each question about the state; print one line per question."""
    if (state is None) == (state_json is None):
        raise typer.BadParameter("give exactly one of --state and --state-json", param_hint="--state")
    value: Any = state if state_json is None else read_json(state_json, "--state-json")
    asked = read_json(questions, "--questions")
    if not isinstance(asked, dict) or not asked:
        raise typer.BadParameter("a JSON object of questions by name", param_hint="--questions")
    with make_client(base_url) as client:
        reply = client.create_decision(model=model, state=value, questions=asked)
    if as_json:
        print_json(reply)
    else:
        print_answers(reply)


def read_json(raw: str, option: str) -> Any:
    """An option's JSON value: inline, ``@path`` (a file) or ``@-`` (stdin)."""
    if raw.startswith("@"):
        source = raw[1:]
        try:
            raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {source}: {exc.strerror}", param_hint=option) from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}", param_hint=option) from exc


def print_answers(reply: DecisionResponse) -> None:
    width = max((len(name) for name in reply.answers), default=0)
    for name, answer in reply.answers.items():
        typer.echo(f"{name:<{width}}  {describe(answer)}")


def describe(answer: ChoiceAnswer | ScoreAnswer | NoulAnswer) -> str:
    if isinstance(answer, ChoiceAnswer):
        return f"{answer.choice} (confidence {answer.confidence:.2f})"
    if isinstance(answer, ScoreAnswer):
        return f"{answer.score:.2f} (confidence {answer.confidence:.2f})"
    return f"{'yes' if answer.noul >= 0.5 else 'no'} (p(true) {answer.noul:.2f})"
