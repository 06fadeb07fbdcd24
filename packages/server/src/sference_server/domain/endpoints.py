"""The request endpoints a batch row may name (sference's ``url``, OpenAI's batch ``endpoint``),
and the kind of model each one asks."""

from __future__ import annotations

CHAT_ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
EMBEDDINGS_ENDPOINT = "/v1/embeddings"
ENDPOINTS = (CHAT_ENDPOINT, RESPONSES_ENDPOINT, EMBEDDINGS_ENDPOINT)

# What each kind of model (ModelSpec.modality) is asked through.
TEXT_GENERATION = "text_generation"
TEXT_EMBEDDING = "text_embedding"
DECISIONS = "decisions"
MODALITY_OF_ENDPOINT = {
    CHAT_ENDPOINT: TEXT_GENERATION,
    RESPONSES_ENDPOINT: TEXT_GENERATION,
    EMBEDDINGS_ENDPOINT: TEXT_EMBEDDING,
}
ENDPOINT_OF_MODALITY = {
    TEXT_GENERATION: "/v1/chat/completions or /v1/responses",
    TEXT_EMBEDDING: EMBEDDINGS_ENDPOINT,
    DECISIONS: "/v1/decisions",
}
