"""Anthropic's Messages API request (``POST /v1/messages``) as a chat-completions body.

The item a Messages request becomes holds the same normalised chat body as every other
(domain/chat.py), so every engine runs it and an upstream receives OpenAI's spelling:

- ``system`` (a string or text blocks) -> a leading ``system`` message;
- a message's ``text`` blocks -> its ``content``; an assistant's ``tool_use`` blocks -> its
  ``tool_calls`` (``input`` as JSON text); a user's ``tool_result`` blocks -> ``tool`` messages
  (``tool_use_id`` -> ``tool_call_id``), placed before the rest of that user turn, as chat
  completions want them right after the calls; ``thinking`` blocks are dropped;
- ``max_tokens`` (required) -> ``max_tokens``; ``stop_sequences`` -> ``stop``; ``temperature``,
  ``top_p``, ``top_k`` as they are;
- ``tools`` ``[{name, description, input_schema}]`` -> function tools; ``tool_choice``
  ``auto | any | tool | none`` -> ``auto | required | {function} | none``, and
  ``disable_parallel_tool_use`` -> ``parallel_tool_calls: false``.

Images, documents, server tools (web search, code execution, ...) and ``mcp_servers`` are
refused by path; ``metadata``, ``thinking``, ``cache_control`` and other hints are ignored.
Every problem is reported at once, each a ``FieldError`` with the field's path (no ``body.``
prefix: Anthropic's errors name fields as the request does).
"""

from __future__ import annotations

import json
from typing import Any

from .chat import MAX_STOP_SEQUENCES, FieldError, take_model

SAMPLING = ("temperature", "top_p", "top_k")
REFUSED = {
    "mcp_servers": "MCP servers are not supported; run the tools on the client",
    "container": "containers (server-side code execution) are not supported",
}
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
DROPPED_BLOCKS = ("thinking", "redacted_thinking")


def chat_body(body: Any) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Return ``(chat_body, errors)``; ``chat_body`` is ``None`` when there are errors."""
    if not isinstance(body, dict):
        return None, [FieldError("", "the body must be a JSON object")]
    errors: list[FieldError] = []

    def err(field: str, message: str) -> None:
        errors.append(FieldError(field, message))

    out: dict[str, Any] = {}
    take_model(body, out, err)

    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        err("max_tokens", f"is required and must be an integer >= 1, got {max_tokens!r}")
    else:
        out["max_tokens"] = max_tokens

    messages = _system(body.get("system"), err) + _messages(body.get("messages"), err)
    out["messages"] = messages

    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            err("stop_sequences", "must be a list of non-empty strings")
        elif len(stops) > MAX_STOP_SEQUENCES:
            err("stop_sequences", f"at most {MAX_STOP_SEQUENCES} stop sequences are supported here")
        elif stops:
            out["stop"] = stops
    for name in SAMPLING:
        if body.get(name) is not None:
            out[name] = body[name]  # checked with the chat body's bounds
    _tools(body, out, err)
    for field, reason in REFUSED.items():
        if body.get(field):
            err(field, reason)
    output_config = body.get("output_config")
    if isinstance(output_config, dict) and output_config.get("format"):
        err("output_config.format", "structured output formats are not supported; only text is")
    return (None, errors) if errors else (out, [])


def _system(system: Any, err: Any) -> list[dict[str, Any]]:
    if system is None:
        return []
    text = system if isinstance(system, str) else _text_blocks(system, "system", err)
    return [{"role": "system", "content": text}] if text else []


def _text_blocks(blocks: Any, path: str, err: Any) -> str | None:
    """The text of a list of ``text`` blocks (``cache_control`` and citations are ignored)."""
    if not isinstance(blocks, list):
        err(path, "must be a string or a list of text blocks")
        return None
    texts = []
    for j, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            kind = block.get("type") if isinstance(block, dict) else None
            err(f"{path}[{j}]", f"only text blocks are supported here, got {kind!r}")
            return None
        texts.append(block["text"])
    return "".join(texts)


def _messages(messages: Any, err: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        err("messages", "is required and must be a non-empty list")
        return []
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        if not isinstance(message, dict):
            err(path, "must be an object with role and content")
            continue
        role = message.get("role")
        if role not in ("user", "assistant"):
            err(f"{path}.role", f"must be user or assistant, got {role!r}")
            continue
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        elif not isinstance(content, list):
            err(f"{path}.content", "must be a string or a list of content blocks")
        elif role == "user":
            out += _user_blocks(content, f"{path}.content", err)
        else:
            out.append(_assistant_blocks(content, f"{path}.content", err))
    return out


def _user_blocks(blocks: list[Any], path: str, err: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    texts: list[str] = []
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_result":
            result = _tool_result(block, f"{path}[{j}]", err)
            if result is not None:
                results.append(result)
        elif kind in DROPPED_BLOCKS:
            continue
        else:
            err(f"{path}[{j}]", _unsupported_block(kind))
    rest = [{"role": "user", "content": "".join(texts)}] if texts or not results else []
    return results + rest


def _tool_result(block: dict[str, Any], path: str, err: Any) -> dict[str, Any] | None:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        err(f"{path}.tool_use_id", "must be the id of the tool_use block this result answers")
        return None
    content = block.get("content", "")
    text = content if isinstance(content, str) else _text_blocks(content, f"{path}.content", err)
    if text is None:
        return None
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _assistant_blocks(blocks: list[Any], path: str, err: Any) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            call = _tool_use(block, f"{path}[{j}]", err)
            if call is not None:
                calls.append(call)
        elif kind in DROPPED_BLOCKS:
            continue
        else:
            err(f"{path}[{j}]", _unsupported_block(kind))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if calls:
        message["content"] = message["content"] or None
        message["tool_calls"] = calls
    return message


def _tool_use(block: dict[str, Any], path: str, err: Any) -> dict[str, Any] | None:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not call_id:
        err(f"{path}.id", "must be a non-empty string")
    elif not isinstance(name, str) or not name:
        err(f"{path}.name", "must be a non-empty string")
    elif not isinstance(arguments, dict):
        err(f"{path}.input", "must be an object")
    else:
        text = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
        return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}
    return None


def _unsupported_block(kind: Any) -> str:
    if kind in ("image", "document"):
        return f"{kind} blocks are not supported; only text, tool_use and tool_result are"
    return f"content block type {kind!r} is not supported; only text, tool_use and tool_result are"


def _tools(body: dict[str, Any], out: dict[str, Any], err: Any) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            err("tools", "must be a list of tools")
            return
        converted = []
        for i, tool in enumerate(tools):
            function = _tool(tool, f"tools[{i}]", err)
            if function is not None:
                converted.append({"type": "function", "function": function})
        if converted:
            out["tools"] = converted
    choice = body.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        err("tool_choice", 'must be {"type": "auto" | "any" | "none"} or {"type": "tool", "name": ...}')
        return
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False


def _tool(tool: Any, path: str, err: Any) -> dict[str, Any] | None:
    if not isinstance(tool, dict):
        err(path, "must be an object with name, description and input_schema")
        return None
    kind = tool.get("type")
    if kind not in (None, "custom"):
        err(f"{path}.type", f"server tool {kind!r} is not supported; only client tools (name, input_schema) are")
        return None
    name, schema = tool.get("name"), tool.get("input_schema")
    if not isinstance(name, str) or not name:
        err(f"{path}.name", "must be a non-empty string")
        return None
    if not isinstance(schema, dict):
        err(f"{path}.input_schema", "is required and must be a JSON schema object")
        return None
    function: dict[str, Any] = {"name": name, "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return function
