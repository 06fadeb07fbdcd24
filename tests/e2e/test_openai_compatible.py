"""OpenAI's own Python package against ``sference-server serve`` with the embedded model, the way
OpenAI's Batch guide and quickstart use it: only ``base_url`` and the key change."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from openai import OpenAI

from .conftest import Start

pytestmark = pytest.mark.slow
EMBEDDED = "HuggingFaceTB/SmolLM2-135M-Instruct"
KEY = "sk_openai_e2e_0123456789abcdefgh"


@pytest.fixture
def client(start: Start, tmp_path: Path) -> OpenAI:
    server = start(
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        "--no-write-cli-credentials",
        env={"SFERENCE_ADMIN_API_KEY": KEY},
    )
    return OpenAI(base_url=f"{server.url}/openai/v1", api_key=KEY, max_retries=0)


def test_batch_guide(client: OpenAI) -> None:
    questions = ["What is the capital of France?", "Name a primary color.", "What is 3 + 4?"]
    requests = [
        {
            "custom_id": f"q{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": EMBEDDED,
                "messages": [
                    {"role": "system", "content": "Answer in one short sentence."},
                    {"role": "user", "content": q},
                ],
                "max_tokens": 24,
                "temperature": 0,
            },
        }
        for i, q in enumerate(questions)
    ]
    batch_input = client.files.create(
        file=("batchinput.jsonl", io.BytesIO("\n".join(json.dumps(r) for r in requests).encode())), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=batch_input.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"description": "nightly eval job"},
    )
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(0.5)
        batch = client.batches.retrieve(batch.id)
    assert batch.status == "completed" and batch.request_counts and batch.request_counts.completed == 3
    assert batch.output_file_id is not None
    results = [json.loads(line) for line in client.files.content(batch.output_file_id).text.splitlines()]
    assert [r["custom_id"] for r in results] == ["q0", "q1", "q2"]
    answers = [r["response"]["body"]["choices"][0]["message"]["content"] for r in results]
    assert all(answers) and "Paris" in answers[0]


def test_chat_and_responses(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model=EMBEDDED,
        messages=[
            {"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        max_tokens=20,
        temperature=0,
    )
    assert "Paris" in (reply.choices[0].message.content or "")
    streamed = client.chat.completions.create(
        model=EMBEDDED, messages=[{"role": "user", "content": "Say hello."}], max_tokens=12, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices).strip()
    response = client.responses.create(model=EMBEDDED, input="Name three colors.", max_output_tokens=24)
    assert response.status in ("completed", "incomplete") and response.output_text.strip()
    background = client.responses.create(model=EMBEDDED, input="Say bye.", max_output_tokens=12, background=True)
    while background.status in ("queued", "in_progress"):
        time.sleep(0.2)
        background = client.responses.retrieve(background.id)
    assert background.status in ("completed", "incomplete") and background.output_text.strip()
