"""Request bodies: validate a chat- or Responses-shaped body and normalise it to chat shape.

Every item in the store holds a chat-completions body (``model``, ``messages`` and sampling
parameters), whatever API accepted it. Responses-style fields map as follows:
``input`` (a string or a list of messages) -> ``messages``; ``instructions`` -> a leading system
message; ``max_output_tokens`` -> ``max_tokens``.

Tool calling (OpenAI's function calling) is kept as the chat API spells it, so an upstream engine
receives it verbatim: ``tools``, ``tool_choice``, ``parallel_tool_calls``, assistant messages with
``tool_calls`` and ``tool`` messages with ``tool_call_id``. Only models whose ``Limits.tools`` is
set accept tools (``check_limits``); the Responses API's tools are not accepted.

Validation never stops at the first problem: it returns every ``FieldError`` it finds, each with
the path of the offending field, so a client can fix a whole file in one go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .sampling import SAMPLING_BOUNDS, SAMPLING_FIELDS, Bounds

ROLES = ("system", "developer", "user", "assistant", "tool")
TEXT_PART_TYPES = ("text", "input_text", "output_text")
MAX_STOP_SEQUENCES = 4

# Fields the service understands itself; anything else is kept in the body so an upstream
# engine can honour it (the embedded engine ignores it).
_IGNORED_FIELDS = frozenset(
    {
        "include_reasoning",
        "enable_thinking",
        "reasoning",
        "metadata",
        "store",
        "user",
        "include",
        "service_tier",
        "prompt_cache_key",
        "truncation",
    }
)


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    code: str | None = None  # a machine-readable reason where a surface reports one

    def at(self, context: str) -> FieldError:
        """The same problem, with its field path under ``context``."""
        path = f"{context}.{self.field}" if context and self.field else self.field or context
        return FieldError(path, self.message, self.code)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class Limits:
    """Per-model bounds and abilities checked at submit time."""

    max_tokens: int  # completion tokens per request (0: the model generates no text)
    context_tokens: int | None = None  # default: max_tokens + 1
    tools: bool = False  # the engine passes tool definitions to the model and returns its calls
    dimensions: int | None = None  # an embedding model's vector size

    @property
    def context(self) -> int:
        return self.context_tokens if self.context_tokens is not None else self.max_tokens + 1


def normalise_chat_body(
    body: Any, *, context: str = "body", allow_background: bool = False, allow_stream: bool = False
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Return ``(chat_body, errors)``; ``chat_body`` is ``None`` when there are errors."""
    errors: list[FieldError] = []
    if not isinstance(body, dict):
        return None, [FieldError(context, f"the body must be a JSON object, got {_type_name(body)}")]

    def err(field: str, message: str) -> None:
        errors.append(FieldError(f"{context}.{field}" if context and field else field or context, message))

    out: dict[str, Any] = {}
    take_model(body, out, err)

    if body.get("background") and not allow_background:
        err("background", "background is not supported in batch request bodies")
    if body.get("stream") and not allow_stream:
        err("stream", "streaming is not supported here; remove stream or set it to false")

    messages = _messages(body, err)
    if messages is not None:
        out["messages"] = messages

    _sampling(body, out, err)
    _tools(body, out, err)
    _unsupported(body, err)

    for key, value in body.items():
        if key in out or key in _KNOWN_FIELDS or key in _IGNORED_FIELDS:
            continue
        out[key] = value
    return (None, errors) if errors else (out, [])


_KNOWN_FIELDS = frozenset(
    {
        "stream_options",
        "model",
        "messages",
        "input",
        "instructions",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        *SAMPLING_FIELDS,
        "stop",
        "n",
        "stream",
        "background",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
        "logprobs",
        "top_logprobs",
        "response_format",
        "text",
    }
)


def take_model(body: dict[str, Any], out: dict[str, Any], err: Callable[[str, str], None]) -> None:
    """``out["model"]``: the body's model, a non-empty string (else the problem, through ``err``)."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        err("model", "is required and must be a non-empty string")
    else:
        out["model"] = model


def _messages(body: dict[str, Any], err: Any) -> list[dict[str, Any]] | None:
    has_messages = "messages" in body
    has_input = "input" in body
    if has_messages and has_input:
        err("", "use either messages (chat) or input (Responses), not both")
        return None
    if not has_messages and not has_input:
        err("", "the body must include a non-empty messages list or Responses API input")
        return None

    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            err("instructions", "must be a string")
        elif instructions:
            messages.append({"role": "system", "content": instructions})

    if has_messages:
        raw = body["messages"]
        if not isinstance(raw, list) or not raw:
            err("messages", "must be a non-empty list")
            return None
        path = "messages"
    else:
        raw = body["input"]
        if isinstance(raw, str):
            if not raw:
                err("input", "must not be empty")
                return None
            return [*messages, {"role": "user", "content": raw}]
        if not isinstance(raw, list) or not raw:
            err("input", "must be a non-empty string or a non-empty list of messages")
            return None
        path = "input"

    before = len(messages)
    for i, message in enumerate(raw):
        converted = _message(message, f"{path}[{i}]", err)
        if converted is not None:
            messages.append(converted)
    if len(messages) - before != len(raw):
        return None
    return messages


def _message(message: Any, path: str, err: Any) -> dict[str, Any] | None:
    if not isinstance(message, dict):
        err(path, f"must be an object with role and content, got {_type_name(message)}")
        return None
    kind = message.get("type", "message")
    if kind != "message":
        err(f"{path}.type", f"input item type {kind!r} is not supported; use messages")
        return None
    role = message.get("role")
    if role not in ROLES:
        err(f"{path}.role", f"must be one of {', '.join(ROLES)}; got {role!r}")
        return None
    tool_calls = None
    if role == "assistant" and message.get("tool_calls") is not None:
        tool_calls = _tool_calls(message["tool_calls"], f"{path}.tool_calls", err)
        if tool_calls is None:
            return None
    if tool_calls and message.get("content") in (None, "", []):
        content: str | None = message.get("content") or None  # a call needs no text
    else:
        content = _content(message.get("content"), f"{path}.content", err)
        if content is None:
            return None
    out: dict[str, Any] = {"role": "system" if role == "developer" else role, "content": content}
    if isinstance(message.get("name"), str):
        out["name"] = message["name"]
    if tool_calls:
        out["tool_calls"] = tool_calls
    if role == "tool" and "tool_call_id" in message:
        if not isinstance(message["tool_call_id"], str) or not message["tool_call_id"]:
            err(f"{path}.tool_call_id", "must be the non-empty id of the tool call this message answers")
            return None
        out["tool_call_id"] = message["tool_call_id"]
    return out


def _tool_calls(calls: Any, path: str, err: Any) -> list[dict[str, Any]] | None:
    """An assistant message's calls, as OpenAI spells them: ``[{id, type: function, function:
    {name, arguments}}]`` (``arguments``: the JSON text the model wrote)."""
    if not isinstance(calls, list):
        err(path, "must be a list of tool calls")
        return None
    out = []
    for i, call in enumerate(calls):
        here = f"{path}[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or call.get("type", "function") != "function" or not isinstance(function, dict):
            err(here, 'must be {"id", "type": "function", "function": {"name", "arguments"}}')
            return None
        if not isinstance(call.get("id"), str) or not call["id"]:
            err(f"{here}.id", "must be a non-empty string")
            return None
        if not isinstance(function.get("name"), str) or not function["name"]:
            err(f"{here}.function.name", "must be a non-empty string")
            return None
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            err(f"{here}.function.arguments", "must be a string (the arguments as JSON text)")
            return None
        out.append(
            {"id": call["id"], "type": "function", "function": {"name": function["name"], "arguments": arguments}}
        )
    return out


def _content(content: Any, path: str, err: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts: list[str] = []
        for j, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, dict):
                err(f"{path}[{j}]", "must be a content part object")
                return None
            part_type = part.get("type")
            if part_type not in TEXT_PART_TYPES:
                err(f"{path}[{j}].type", f"content type {part_type!r} is not supported; only text parts are")
                return None
            text = part.get("text")
            if not isinstance(text, str):
                err(f"{path}[{j}].text", "must be a string")
                return None
            texts.append(text)
        return "".join(texts)
    err(path, "must be a string or a non-empty list of text parts")
    return None


def _sampling(body: dict[str, Any], out: dict[str, Any], err: Any) -> None:
    token_limits: dict[str, int] = {}
    for field in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = body.get(field)
        if value is None:
            continue
        if not _is_int(value) or value < 1:
            err(field, f"must be an integer >= 1, got {value!r}")
        else:
            token_limits[field] = value
    if len(set(token_limits.values())) > 1:
        first, second = list(token_limits)[:2]
        err(second, f"conflicts with {first}; give one token limit")
    elif token_limits:
        out["max_tokens"] = next(iter(token_limits.values()))

    for name, bounds in SAMPLING_BOUNDS.items():
        _bounded(body, out, err, name, bounds)
    if body.get("n") is not None and body["n"] != 1:
        err("n", "only n = 1 is supported")

    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if (
            not isinstance(stops, list)
            or not all(isinstance(s, str) and s for s in stops)
            or len(stops) > MAX_STOP_SEQUENCES
        ):
            err("stop", f"must be a non-empty string or a list of at most {MAX_STOP_SEQUENCES} non-empty strings")
        elif stops:
            out["stop"] = stops


def _bounded(body: dict[str, Any], out: dict[str, Any], err: Any, field: str, bounds: Bounds) -> None:
    value = body.get(field)
    if value is None:
        return
    if bounds.integer:
        if not _is_int(value) or (bounds.low is not None and value < bounds.low):
            kind = "a non-negative integer" if bounds.low == 0 else "an integer"
            err(field, f"must be {kind}, got {value!r}")
            return
        out[field] = value
        return
    low, high = bounds.low or 0.0, bounds.high or 0.0
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and (value < low or value > high or (bounds.low_open and value == low)):
        ok = False
    if not ok:
        bound = f"{'>' if bounds.low_open else '>='} {low:g} and <= {high:g}"
        err(field, f"must be a number {bound}, got {value!r}")
        return
    out[field] = value


TOOL_CHOICES = ("none", "auto", "required")


def _tools(body: dict[str, Any], out: dict[str, Any], err: Any) -> None:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls``, checked and kept as given."""
    tools = body.get("tools")
    if tools is None or tools == []:
        names: list[str] = []
    elif "input" in body:
        err("tools", "tool calling is not supported on the Responses API here; use chat completions or /v1/messages")
        return
    elif not isinstance(tools, list):
        err("tools", "must be a list of function tools")
        return
    else:
        names = []
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
                err(f"tools[{i}]", 'must be {"type": "function", "function": {"name", "description", "parameters"}}')
                continue
            name = function.get("name")
            if not isinstance(name, str) or not name:
                err(f"tools[{i}].function.name", "must be a non-empty string")
            if "description" in function and not isinstance(function["description"], str):
                err(f"tools[{i}].function.description", "must be a string")
            if "parameters" in function and not isinstance(function["parameters"], dict):
                err(f"tools[{i}].function.parameters", "must be a JSON schema object")
            names.append(str(name))
        out["tools"] = tools
    choice = body.get("tool_choice")
    if choice is not None:
        wanted = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
        if isinstance(choice, str) and choice in TOOL_CHOICES:
            pass
        elif not isinstance(choice, dict) or choice.get("type") != "function" or not isinstance(wanted, str):
            err("tool_choice", 'must be "none", "auto", "required" or {"type": "function", "function": {"name"}}')
            return
        elif wanted not in names:
            err("tool_choice.function.name", f"names no tool of this request: {wanted!r}")
            return
        if choice != "none" and not names:
            err("tool_choice", "needs tools")
            return
        out["tool_choice"] = choice
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and names:
        if not isinstance(parallel, bool):
            err("parallel_tool_calls", "must be a boolean")
        else:
            out["parallel_tool_calls"] = parallel


def _unsupported(body: dict[str, Any], err: Any) -> None:
    for field in ("functions", "function_call"):
        if body.get(field):
            err(field, "the deprecated functions API is not supported; use tools and tool_choice")
    if body.get("logprobs"):
        err("logprobs", "logprobs are not supported yet")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        err("response_format.type", f"{fmt.get('type')!r} is not supported yet; only 'text' is")
    text = body.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        kind = text["format"].get("type")
        if kind not in (None, "text"):
            err("text.format.type", f"{kind!r} is not supported yet; only 'text' is")


MODEL_NOT_FOUND = "model_not_found"


def model_not_served(model: str, served: str, *, context: str = "") -> FieldError:
    """The problem of a body whose model no engine here serves (``served`` lists those that are)."""
    message = f"model {model!r} is not served here; served models: {served}"
    return FieldError("model", message, MODEL_NOT_FOUND).at(context)


def check_limits(chat: dict[str, Any], limits: Limits, *, context: str = "body") -> list[FieldError]:
    problems = []
    max_tokens = chat.get("max_tokens")
    if max_tokens is not None and max_tokens > limits.max_tokens:
        message = f"{max_tokens} exceeds this model's limit of {limits.max_tokens} tokens per request"
        problems.append(FieldError("max_tokens", message).at(context))
    if not limits.tools:
        calls = next((i for i, m in enumerate(chat.get("messages", ())) if m.get("tool_calls")), None)
        field = "tools" if chat.get("tools") else f"messages[{calls}].tool_calls" if calls is not None else None
        if field is not None:
            message = (
                f"model {chat.get('model')!r} does not support tool calling (its engine does not pass tools "
                "to the model); use a model served by an OpenAI-compatible upstream (engine openai)"
            )
            problems.append(FieldError(field, message, "tools_not_supported").at(context))
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
