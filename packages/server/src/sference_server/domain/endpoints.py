"""The request endpoints a batch row may name (sference's ``url``, OpenAI's batch ``endpoint``)."""

from __future__ import annotations

CHAT_ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
ENDPOINTS = (CHAT_ENDPOINT, RESPONSES_ENDPOINT)
