from __future__ import annotations

import base64

import numpy as np

from sference_server.render.embeddings import embedding_list


def test_floats_in_openais_shape() -> None:
    vectors = [[0.5, -0.25], [1.0, 0.0]]
    assert embedding_list("minilm", vectors, "float", 7) == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
            {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]},
        ],
        "model": "minilm",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }


def test_base64_decodes_as_the_openai_package_does() -> None:
    vector = np.random.default_rng(0).standard_normal(384).astype(np.float32)
    listed = embedding_list("minilm", [vector.tolist()], "base64", 3)
    encoded = listed["data"][0]["embedding"]
    assert isinstance(encoded, str)
    decoded = np.frombuffer(base64.b64decode(encoded), dtype="float32")  # what openai-python does
    np.testing.assert_array_equal(decoded, vector)
    assert decoded.tolist() == vector.tolist()
