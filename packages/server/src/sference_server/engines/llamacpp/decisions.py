"""``llamacpp`` with modality ``decisions``: answers ``POST /v1/decisions`` from the model's
next-token probabilities over each question's answer codes (domain/decisions.py for the prompts
and the answers, scoring.py for the llama.cpp side, docs/decisions.md for both).

One llama.cpp context, one request at a time: a request's questions share the state's tokens, and
each question's tokens fill a decode step on their own, so a second request would gain little
from running beside it.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ...domain import decisions
from ...domain.decisions import DecisionRequest, DecisionResult
from ..base import ChatRequest, ChatResult, EngineError, TextSink
from ..options import cpu_count
from .model import LlamaModel, common_prefix, init_backend
from .native import llama
from .options import LlamaCppOptions
from .repack import model_file
from .scoring import Cancelled, Item, Scorer, prefix_free

# The state's sequence and four for multi-token answers: more made no measurable difference on
# a 30-label question, and each sequence holds ``ctx_per_slot`` tokens of cache.
MAX_SEQUENCES = 5
CODE_CACHE = 10_000  # answer codes whose tokens are kept (labels repeat across requests)


class LlamaDecisionEngine:
    def __init__(
        self, model_id: str, options: LlamaCppOptions, *, cache_dir: Path | None = None, llama_log: bool = False
    ) -> None:
        """``options``: a ``llamacpp`` model's. ``ctx_per_slot`` is the most tokens the state and
        one question with its answers may take; ``slots`` the sequences (at most
        ``MAX_SEQUENCES``: the state's, and the others for multi-token answers); ``path``,
        ``threads``, ``batch_tokens`` and ``weights`` as for chat. Sampling options do not apply."""
        self.model_id = model_id
        self.options = options
        self.cache_dir = cache_dir
        self.llama_log = llama_log
        self._model: LlamaModel | None = None
        self._scorer: Scorer | None = None
        self._lock = threading.Lock()  # the context runs one request at a time
        self._terminator = 0
        self._code_tokens: dict[str, list[int]] = {}
        self._started = False

    @property
    def capacity(self) -> int:
        return 2  # one running, one waiting for the context

    async def start(self) -> None:
        """Loads nothing yet: the model and its context are made by the first request (a server
        whose clients never ask for decisions never holds a second llama.cpp context)."""
        if self.options.path and not Path(self.options.path).is_file():
            raise FileNotFoundError(f"{self.model_id}: no model file at {self.options.path}")
        self._started = True

    def _load(self) -> None:
        """Under ``self._lock``."""
        init_backend(log=self.llama_log)
        threads = self.options.threads or cpu_count()
        path = model_file(self.options, self.cache_dir, threads=threads)
        model = LlamaModel(path)
        self._terminator = _end_of_turn(model)
        self._scorer = Scorer(
            model,
            sequences=min(self.options.slots, MAX_SEQUENCES),
            ctx_per_sequence=self.options.ctx_per_slot,
            n_batch=self.options.batch_tokens,
            threads=threads,
        )
        self._model = model

    async def stop(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            self._started = False
            if self._scorer is not None:
                self._scorer.close()
                self._scorer = None
            if self._model is not None:
                self._model.close()
                self._model = None

    def state(self) -> str:
        return "ready" if self._started else "stopped"

    async def generate(
        self, request: ChatRequest, *, urgent: bool = False, on_text: TextSink | None = None
    ) -> ChatResult:
        raise EngineError("unsupported", f"{self.model_id} answers /v1/decisions only", transient=False)

    async def decide(self, request: DecisionRequest, *, urgent: bool = False) -> DecisionResult:
        """Requests run in arrival order (``urgent`` changes nothing: each takes a fraction of a
        second, and every one of them has a client waiting)."""
        if not self._started:
            raise EngineError("engine_not_ready", "the llama.cpp engine is not started", transient=True)
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._decide, request, cancel)
        except asyncio.CancelledError:
            cancel.set()  # the thread stops at its next decode call
            raise

    def _decide(self, request: DecisionRequest, cancel: threading.Event) -> DecisionResult:
        names = list(request.questions)
        questions = [request.questions[name] for name in names]
        with self._lock:
            if self._started and self._scorer is None:
                self._load()
            model, scorer = self._model, self._scorer
            if model is None or scorer is None:
                raise EngineError("engine_stopped", "the engine stopped", transient=True)
            prefix, items = self._prompts(model, request.state, names, questions)
            try:
                scores = scorer.score(prefix, items, cancelled=cancel.is_set)
            except Cancelled:
                raise EngineError("cancelled", "the request was cancelled", transient=False) from None
            except RuntimeError as exc:
                raise EngineError("engine_error", f"decode failed: {exc}", transient=True) from exc
        answers = {
            name: decisions.answer(question, _probabilities(logprobs))
            for name, question, logprobs in zip(names, questions, scores, strict=True)
        }
        return DecisionResult(answers, len(prefix) + sum(len(item.suffix) for item in items))

    def _prompts(
        self, model: LlamaModel, state: str, names: list[str], questions: list[dict[str, Any]]
    ) -> tuple[list[int], list[Item]]:
        """The shared prefix's tokens and each question's item.

        Each question's prompt is tokenized whole, exactly as if it were asked alone; the prefix
        is the part all of them share with the shared chat's own tokens (tokenizing that chat
        apart could differ where its last characters meet a question's first)."""
        try:
            chat = model.render_chat(decisions.messages(state))
        except Exception as exc:  # a template that rejects the messages
            raise EngineError("invalid_request", f"the chat template failed: {exc}", transient=False) from exc
        shared = model.tokenize(chat)
        prompts = [model.tokenize(chat + decisions.question_prompt(q)) for q in questions]
        cut = min(min(common_prefix(shared, p), len(p) - 1) for p in prompts)
        items = []
        limit = self.options.ctx_per_slot
        for name, question, tokens in zip(names, questions, prompts, strict=True):
            codes = [self._code(model, code) for code in decisions.answer_codes(question)]
            item = Item(tokens[cut:], prefix_free(codes, self._terminator))
            if cut + item.cells > limit:
                raise EngineError(
                    "context_length_exceeded",
                    f"question {name!r} needs {cut + item.cells} tokens ({cut} for the state, "
                    f"{len(item.suffix)} for the question, {item.cells - len(item.suffix)} for its answers), "
                    f"but this model's context is {limit} tokens per question",
                    transient=False,
                )
            items.append(item)
        return shared[:cut], items

    def _code(self, model: LlamaModel, code: str) -> list[int]:
        """The tokens of ``code`` as the model writes it after ``ANSWER_LEAD``."""
        tokens = self._code_tokens.get(code)
        if tokens is None:
            lead = model.tokenize(decisions.ANSWER_LEAD)
            full = model.tokenize(decisions.ANSWER_LEAD + code)
            if full[: len(lead)] == lead and len(full) > len(lead):
                tokens = full[len(lead) :]
            else:  # the lead's last characters merge with the code: take the code alone
                bos = llama.llama_vocab_bos(model.vocab)
                tokens = [t for t in model.tokenize(code) if t != bos]
            if len(self._code_tokens) < CODE_CACHE:
                self._code_tokens[code] = tokens
        return tokens


def _end_of_turn(model: LlamaModel) -> int:
    """The token the chat template closes an assistant's answer with (SmolLM2: ``<|im_end|>``),
    else the vocabulary's end-of-turn or end-of-sequence token."""
    mark = "\u2063"  # any text that no template adds itself
    try:
        rendered = model.render_chat([{"role": "user", "content": "?"}, {"role": "assistant", "content": mark}])
    except Exception:  # a template that refuses a finished conversation
        rendered = ""
    if mark in rendered:
        bos = llama.llama_vocab_bos(model.vocab)
        after = [t for t in model.tokenize(rendered.split(mark, 1)[1]) if t != bos]
        if after and model.is_end_of_generation(after[0]):
            return after[0]
    eot = int(llama.llama_vocab_eot(model.vocab))
    return eot if eot >= 0 else int(llama.llama_vocab_eos(model.vocab))


def _probabilities(logprobs: list[float]) -> list[float]:
    values = np.asarray(logprobs, dtype=np.float64)
    weights = np.exp(values - values.max())
    return [float(w) for w in weights / weights.sum()]
