"""Python SDK for the sference batch and stream inference API.

from sference_sdk import SferenceClient

with SferenceClient() as client:  # SFERENCE_BASE_URL, SFERENCE_API_KEY
    batch = client.submit_batch(input_file="prompts.jsonl", model="HuggingFaceTB/SmolLM2-135M-Instruct")
    batch = client.wait_for_completion(batch.id, timeout=None)
    for row in client.get_results(batch.id).rows():
        print(row.custom_id, row.completion_text)
"""

from ._async import AsyncSferenceClient
from ._config import API_VERSION, check_api_version
from ._errors import (
    AnswerTimeout,
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
    ChoiceAnswer,
    ChoiceQuestion,
    DecisionImage,
    DecisionResponse,
    DecisionUsage,
    EmbeddingData,
    EmbeddingResponse,
    EmbeddingUsage,
    InferenceRequest,
    LoginResponse,
    ModelInfo,
    ModelList,
    NoulAnswer,
    NoulQuestion,
    RequestCounts,
    Response,
    ResponseFunctionToolCall,
    ResponseIncompleteDetails,
    ResponseList,
    ResponseOutputMessage,
    ResponseOutputOther,
    ResponseOutputReasoning,
    ResponseOutputText,
    ScoreAnswer,
    ScoreQuestion,
    Stream,
    StreamEventList,
    StreamInferenceCompletionEvent,
    StreamList,
    decode_embedding,
)

__all__ = [
    "API_VERSION",
    "AnswerTimeout",
    "ApiError",
    "AsyncSferenceClient",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchList",
    "BatchResultRow",
    "BatchResults",
    "ChoiceAnswer",
    "ChoiceQuestion",
    "ConflictError",
    "ConnectionFailed",
    "DecisionImage",
    "DecisionResponse",
    "DecisionUsage",
    "EmbeddingData",
    "EmbeddingResponse",
    "EmbeddingUsage",
    "InferenceRequest",
    "JsonlError",
    "LoginResponse",
    "ModelInfo",
    "ModelList",
    "NotFoundError",
    "NoulAnswer",
    "NoulQuestion",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestCounts",
    "Response",
    "ResponseFunctionToolCall",
    "ResponseIncompleteDetails",
    "ResponseList",
    "ResponseOutputMessage",
    "ResponseOutputOther",
    "ResponseOutputReasoning",
    "ResponseOutputText",
    "ScoreAnswer",
    "ScoreQuestion",
    "ServerError",
    "SferenceClient",
    "SferenceError",
    "Stream",
    "StreamEventList",
    "StreamInferenceCompletionEvent",
    "StreamList",
    "__version__",
    "check_api_version",
    "clear_checkpoint",
    "decode_embedding",
    "load_checkpoint",
    "save_checkpoint",
]
