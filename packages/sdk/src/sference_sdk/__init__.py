"""Python SDK for the sference batch and stream inference API.

from sference_sdk import SferenceClient

with SferenceClient() as client:  # SFERENCE_BASE_URL, SFERENCE_API_KEY
    batch = client.submit_batch(input_file="prompts.jsonl", model="HuggingFaceTB/SmolLM2-135M-Instruct")
    batch = client.wait_for_completion(batch.id, timeout=None)
    for row in client.get_results(batch.id).rows():
        print(row.custom_id, row.completion_text)
"""

from ._async import AsyncSferenceClient
from ._errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectionFailed,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SferenceError,
)
from ._sync import SferenceClient
from ._version import __version__
from .checkpoints import clear_checkpoint, load_checkpoint, save_checkpoint
from .jsonl import JsonlError
from .models import (
    Batch,
    BatchList,
    BatchResultRow,
    BatchResults,
    InferenceRequest,
    LoginResponse,
    RequestCounts,
    Response,
    ResponseList,
    Stream,
    StreamEventList,
    StreamInferenceCompletionEvent,
    StreamList,
)

__all__ = [
    "ApiError",
    "AsyncSferenceClient",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchList",
    "BatchResultRow",
    "BatchResults",
    "ConflictError",
    "ConnectionFailed",
    "InferenceRequest",
    "JsonlError",
    "LoginResponse",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestCounts",
    "Response",
    "ResponseList",
    "ServerError",
    "SferenceClient",
    "SferenceError",
    "Stream",
    "StreamEventList",
    "StreamInferenceCompletionEvent",
    "StreamList",
    "__version__",
    "clear_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]
