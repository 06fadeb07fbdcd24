"""What ``/openapi.json`` says each route answers: its bodies, statuses and content types.

Routes return what render/ builds, byte for byte what the published clients parse, so the
models of ``api/<area>/schemas.py`` *document* those bodies without filtering them: a route
names them with ``response_model=None, responses=documented(...)``. Error bodies take the shape
of the surface the route is on (api/errors.py ``render``): ours, OpenAI's under ``/openai/``,
Anthropic's on ``/v1/messages``; the device sign-in routes answer RFC 6749's.
``tests/api/test_fuzz.py`` runs schemathesis against the result.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict


class Wire(BaseModel):
    """A documented body: the fields named are always there; others may be added later."""

    model_config = ConfigDict(extra="allow")


class SferenceError(Wire):
    """Every error of the sference API."""

    status_code: int
    detail: str
    extra: Any  # a list of {"loc", "message"} for bad input, else null


class OpenAIErrorDetail(Wire):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(Wire):
    """Every error under ``/openai/``."""

    error: OpenAIErrorDetail


class AnthropicErrorDetail(Wire):
    type: str
    message: str


class AnthropicError(Wire):
    """Every error of ``/v1/messages``."""

    type: Literal["error"]
    error: AnthropicErrorDetail


class OAuthErrorBody(Wire):
    """RFC 6749's error body (``/v1/oauth/*``, always status 400)."""

    error: str
    error_description: str


class ItemError(Wire):
    """Why an item (a request) did not complete."""

    code: str
    message: str


WHY = {
    400: "Bad input: the body, a parameter or the Sference-Version header (each problem named with where)",
    401: "Missing, unknown, revoked or expired credential",
    403: "The key lacks the scope (read or write)",
    404: "Unknown id, an object of another user, or a model not served here",
    409: "The object is in a state that forbids the action",
    413: "The body is above the configured limit",
    429: "Too many requests",
    503: "The request could not be run (engine or store unavailable)",
    504: "The answer did not come in time",
}
# What any authenticated route may answer besides its own errors.
AUTHENTICATED = (400, 401, 403, 429)
# Server-sent events: each event's ``data`` is a JSON document (its ``event`` names its kind).
SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"event": {"type": "string"}, "data": {"type": "string", "contentMediaType": "application/json"}},
}
SSE = {"text/event-stream": {"schema": SSE_EVENT}}


def documented(
    ok: type[BaseModel] | None,
    *errors: int,
    status: int = 200,
    error: type[BaseModel] = SferenceError,
    content: dict[str, Any] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: ``ok`` (a JSON body) and/or ``content`` (other media types) at
    ``status``, and an ``error`` body for each of ``errors``."""
    success: dict[str, Any] = {"description": "Success"}
    if ok is not None:
        success["model"] = ok
    if content is not None:
        success["content"] = content
    return {status: success, **failures(*errors, error=error)}


def failures(*codes: int, error: type[BaseModel] = SferenceError) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries: the ``error`` body at each of ``codes``."""
    return {code: {"model": error, "description": WHY[code]} for code in codes}


def json_body(schema: dict[str, Any], *, form: bool = False) -> dict[str, Any]:
    """``openapi_extra=`` of a route that reads its JSON body itself (api/bodies.py), so the
    schema names what it takes; ``form``: also form-encoded."""
    content = {"application/json": {"schema": schema}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}


def obj(required: tuple[str, ...] = (), **properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema object; other properties are allowed (and checked by the service)."""
    return {"type": "object", "required": list(required), "properties": properties}


STRING: dict[str, Any] = {"type": "string"}
MESSAGES: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": obj(("role", "content"), role={"enum": ["system", "user", "assistant"]}, content=STRING),
}
SAMPLING: dict[str, dict[str, Any]] = {
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "stream": {"type": "boolean"},
    "metadata": {"type": "object", "additionalProperties": STRING},
}
# A chat request in OpenAI's chat completions shape (``messages``) or the Responses shape (``input``).
CHAT: dict[str, Any] = obj(("model", "messages"), model=STRING, messages=MESSAGES, **SAMPLING)
RESPONSE_REQUEST: dict[str, Any] = obj(
    ("model", "input"),
    model=STRING,
    input={"anyOf": [STRING, MESSAGES]},
    background={"type": "boolean"},
    max_output_tokens=SAMPLING["max_tokens"],
    **SAMPLING,
)


SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API key, or a device sign-in access token"},
    "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "An API key"},
}


def install(app: FastAPI) -> None:
    """Serve the schema FastAPI builds, corrected: bad input is a 400 with our error body
    (api/errors.py), never FastAPI's 422, and the routes that answer 401 name the credentials."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _correct(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _correct(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            if "401" in responses:
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    components = schema.setdefault("components", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(unused, None)
    components["securitySchemes"] = SECURITY_SCHEMES
