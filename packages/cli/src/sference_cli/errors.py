"""Turning failures into one clear line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer

from sference_sdk import AnswerTimeout, ApiError, AuthenticationError, ConnectionFailed

F = TypeVar("F", bound=Callable[..., Any])

UNAUTHORIZED_HINT = (
    "Unauthorized (401). Create a key in Console → API Keys, then run:\n"
    "  sference auth login --api-key 'sk_...'\n"
    "If SFERENCE_API_KEY is set, it overrides ~/.sference/credentials.json; check or unset it."
)
NO_CREDENTIAL = (
    "No API credential configured.\n"
    "  sference auth login                      # sign in and paste a key\n"
    "  sference auth login --api-key 'sk_...'   # non-interactive\n"
    "  export SFERENCE_API_KEY=sk_...           # or set it in the environment"
)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def describe_api_error(error: ApiError) -> str:
    lines = [f"{error.status_code}: {error.detail}"]
    extra = error.body.get("extra") if isinstance(error.body, dict) else None
    if isinstance(extra, list) and len(extra) > 1:
        for problem in extra:
            if isinstance(problem, dict) and "message" in problem:
                lines.append(f"  {problem.get('loc', '')}: {problem['message']}")
    return "\n".join(lines)


def handled[F: Callable[..., Any]](command: F) -> F:
    """Run a command, mapping the SDK's exceptions to messages and exit codes."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AuthenticationError:
            fail(UNAUTHORIZED_HINT)
        except ApiError as exc:
            fail(describe_api_error(exc))
        except AnswerTimeout as exc:
            fail(f"No answer from {exc.url} in time ({exc.reason}).")
        except ConnectionFailed as exc:
            fail(
                f"Could not reach the sference API at {exc.url} ({exc.reason}).\n"
                "Is the server running? Point the CLI at it with SFERENCE_BASE_URL or --base-url."
            )
        except TimeoutError as exc:
            fail(f"Timed out: {exc}")
        except (ValueError, OSError) as exc:
            fail(f"Error: {exc}")
        except KeyboardInterrupt:
            fail("Interrupted.", 130)

    return wrapper  # type: ignore[return-value]


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
