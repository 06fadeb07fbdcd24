"""Scoring answer codes with llama.cpp: the log-probability the model gives each of a question's
codes right after the question, for many questions that share one prompt prefix.

The prefix (system prompt and state) is decoded once, in sequence 0. For each question in turn,
sequence 1 becomes a copy of it (``llama_memory_seq_cp``: the prefix's keys and values are
copied, not recomputed) and decodes the question's own tokens; the logits at its last token give
the codes' first tokens.

A question's answer does not depend, to the last bit, on the questions asked beside it: its
computation is the same whatever they are. Each sequence has its own KV stream (``kv_unified``
off), so a question's cells sit where they would if it were asked alone, and a step carries one
question's tokens. Batching several questions per step was measured (docs/decisions.md): no
faster on the CPU (a question's tokens already fill a step), and the answers moved by up to 0.03
of a probability with their neighbours, because llama.cpp rounds attention differently in
differently shaped steps and the 8-bit rounding of activations for Q4_1 weights amplifies it.

A code of several tokens (``" 12"`` is ``" "``, ``"1"``, ``"2"``) is scored as the product of its
tokens' probabilities, each read on a branch: a sequence copied from the question's, fed the
code's tokens; a question's branches share steps. When one code is a prefix of another (``"1"``
and ``"12"``), every code is scored with the end-of-turn token after it, so that the set is
prefix-free and the probabilities compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .model import LlamaModel
from .native import llama


class Cancelled(Exception):
    """The caller gave up on the request (checked between decode calls)."""


@dataclass(frozen=True)
class Item:
    """One question: its tokens after the shared prefix (at least one), and its answer codes as
    token sequences, prefix-free (see ``prefix_free``)."""

    suffix: list[int]
    codes: list[list[int]]

    @cached_property
    def branches(self) -> list[list[int]]:
        """The token paths to feed after the suffix to read every code's later tokens: each
        code less its last token, leaving out paths that another path starts with."""
        paths = sorted({tuple(code[:-1]) for code in self.codes if len(code) > 1}, reverse=True)
        kept: list[tuple[int, ...]] = []
        for path in paths:  # reverse order: a path comes before every path it starts
            if not any(other[: len(path)] == path for other in kept):
                kept.append(path)
        return [list(path) for path in reversed(kept)]

    @property
    def cells(self) -> int:
        """KV cells the question needs beyond the prefix, with its longest branch."""
        return len(self.suffix) + max((len(b) for b in self.branches), default=0)


def prefix_free(codes: Sequence[list[int]], terminator: int) -> list[list[int]]:
    """``codes`` as they are when no code's tokens start another's; else each followed by
    ``terminator`` (the end-of-turn token), which makes them so."""
    for i, a in enumerate(codes):
        for j, b in enumerate(codes):
            if i != j and len(a) <= len(b) and b[: len(a)] == a:
                return [[*code, terminator] for code in codes]
    return [list(code) for code in codes]


@dataclass
class _Pending:
    """Decode-time bookkeeping of one row: where its logits go."""

    item: int
    path: tuple[int, ...]


@dataclass
class _Rows:
    tokens: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    outputs: list[_Pending | None] = field(default_factory=list)

    def add(self, token: int, position: int, seq: int, output: _Pending | None = None) -> None:
        self.tokens.append(token)
        self.positions.append(position)
        self.seqs.append(seq)
        self.outputs.append(output)


class Scorer:
    """One llama.cpp context for scoring; not thread-safe (one request at a time)."""

    def __init__(self, model: LlamaModel, *, sequences: int, ctx_per_sequence: int, n_batch: int, threads: int) -> None:
        """``sequences``: KV streams, each of ``ctx_per_sequence`` tokens: one for the prefix and
        the question, the others for the question's branches (at least one)."""
        self.model = model
        self.sequences = max(2, min(sequences, int(llama.llama_max_parallel_sequences())))
        self.ctx_per_sequence = ctx_per_sequence
        self.n_batch = max(n_batch, self.sequences)  # llama.cpp wants room for one output per sequence
        params = llama.llama_context_default_params()
        params.n_ctx = self.sequences * ctx_per_sequence
        params.n_batch = self.n_batch
        params.n_ubatch = min(512, self.n_batch)
        params.n_seq_max = self.sequences
        params.n_threads = params.n_threads_batch = threads
        # The CPU flash-attention kernel rounds differently when a step carries a different
        # number of tokens (the prefix's cut moves a token or two with the questions asked).
        params.flash_attn_type = llama.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.kv_unified = False  # a stream per sequence (see the module's docstring)
        params.no_perf = True
        self.ctx = llama.llama_init_from_model(model.ptr, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context (out of memory?)")
        self.memory = llama.llama_get_memory(self.ctx)
        self.batch = llama.llama_batch_init(self.n_batch, 0, 1)
        self._tokens = np.ctypeslib.as_array(self.batch.token, shape=(self.n_batch,))
        self._positions = np.ctypeslib.as_array(self.batch.pos, shape=(self.n_batch,))
        self._n_seq = np.ctypeslib.as_array(self.batch.n_seq_id, shape=(self.n_batch,))
        self._logits_flags = np.ctypeslib.as_array(self.batch.logits, shape=(self.n_batch,))
        self._seq_ids = [self.batch.seq_id[i] for i in range(self.n_batch)]
        self._n_seq[:] = 1

    def close(self) -> None:
        if self.ctx:
            llama.llama_batch_free(self.batch)
            llama.llama_free(self.ctx)
            self.ctx = None

    def score(
        self, prefix: list[int], items: list[Item], *, cancelled: Callable[[], bool] = lambda: False
    ) -> list[list[float]]:
        """Each item's codes' log-probabilities (natural log, of the whole token sequence) after
        ``prefix + item.suffix``. Raises ``ValueError`` when the prefix and one item do not fit
        a sequence, ``Cancelled`` when ``cancelled()`` turns true."""
        for item in items:
            if not item.suffix:
                raise ValueError("every question needs at least one token after the prefix")
            if len(prefix) + item.cells > self.ctx_per_sequence:
                raise ValueError(
                    f"the prefix ({len(prefix)} tokens) and a question ({item.cells}) "
                    f"exceed the {self.ctx_per_sequence} tokens of a sequence"
                )
        llama.llama_memory_clear(self.memory, False)
        try:
            return self._score(prefix, items, cancelled)
        finally:
            llama.llama_memory_clear(self.memory, False)

    def _score(self, prefix: list[int], items: list[Item], cancelled: Callable[[], bool]) -> list[list[float]]:
        needed = [_needed(item) for item in items]  # (path -> code tokens read there), per item
        logprobs: dict[tuple[int, tuple[int, ...]], dict[int, float]] = {}
        rows = _Rows()
        for position, token in enumerate(prefix):
            rows.add(token, position, 0)
        self._decode(rows, needed, logprobs, cancelled)
        start = len(prefix)
        for index, item in enumerate(items):
            rows = _Rows()
            for j, token in enumerate(item.suffix):
                last = j == len(item.suffix) - 1
                rows.add(token, start + j, 0, _Pending(index, ()) if last else None)
            self._decode(rows, needed, logprobs, cancelled)
            self._branches(start, index, item, needed, logprobs, cancelled)
            # Drop the question: the next one's tokens go to the same cells.
            llama.llama_memory_seq_rm(self.memory, 0, start, -1)
        return [
            [sum(logprobs[(i, tuple(code[:j]))][code[j]] for j in range(len(code))) for code in item.codes]
            for i, item in enumerate(items)
        ]

    def _branches(
        self,
        start: int,
        index: int,
        item: Item,
        needed: list[dict[tuple[int, ...], set[int]]],
        logprobs: dict[tuple[int, tuple[int, ...]], dict[int, float]],
        cancelled: Callable[[], bool],
    ) -> None:
        """Feed the question's branches, each in a copy of its sequence, as many per step as
        there are sequences left."""
        room = self.sequences - 1
        base = start + len(item.suffix)
        for offset in range(0, len(item.branches), room):
            chunk = item.branches[offset : offset + room]
            rows = _Rows()
            for b, branch in enumerate(chunk):
                seq = 1 + b
                llama.llama_memory_seq_cp(self.memory, 0, seq, -1, -1)
                for j, token in enumerate(branch):
                    path = (*branch[: j + 1],)
                    rows.add(token, base + j, seq, _Pending(index, path) if path in needed[index] else None)
            self._decode(rows, needed, logprobs, cancelled)

    def _decode(
        self,
        rows: _Rows,
        needed: list[dict[tuple[int, ...], set[int]]],
        logprobs: dict[tuple[int, tuple[int, ...]], dict[int, float]],
        cancelled: Callable[[], bool],
    ) -> None:
        """Decode ``rows`` in batches, keeping the log-probabilities of the tokens each output
        row is asked about."""
        for offset in range(0, len(rows.tokens), self.n_batch):
            if cancelled():
                raise Cancelled
            end = min(offset + self.n_batch, len(rows.tokens))
            n = end - offset
            self._tokens[:n] = rows.tokens[offset:end]
            self._positions[:n] = rows.positions[offset:end]
            for i, seq in enumerate(rows.seqs[offset:end]):
                self._seq_ids[i][0] = seq
            outputs = rows.outputs[offset:end]
            self._logits_flags[:n] = [output is not None for output in outputs]
            self.batch.n_tokens = n
            status = llama.llama_decode(self.ctx, self.batch)
            if status != 0:
                raise RuntimeError(f"llama_decode returned {status}")
            for i, output in enumerate(outputs):
                if output is None:
                    continue
                logits = llama.llama_get_logits_ith(self.ctx, i)
                row = np.ctypeslib.as_array(logits, shape=(self.model.n_vocab,)).astype(np.float64)
                top = row.max()
                norm = top + np.log(np.exp(row - top).sum())
                wanted = needed[output.item][output.path]
                logprobs[(output.item, output.path)] = {t: float(row[t] - norm) for t in wanted}


def _needed(item: Item) -> dict[tuple[int, ...], set[int]]:
    """For each path after the suffix (``()``: right after it), the code tokens read there."""
    needed: dict[tuple[int, ...], set[int]] = {}
    for code in item.codes:
        for j, token in enumerate(code):
            needed.setdefault(tuple(code[:j]), set()).add(token)
    return needed
