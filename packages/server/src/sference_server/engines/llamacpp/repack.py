"""Re-encode a GGUF's weights once into a format llama.cpp multiplies faster on the CPU.

Batched decoding is matrix-matrix work, and llama.cpp has fast CPU kernels for F16 and Q8_0 but
not for every 4-bit format: the embedded SmolLM2 ships as Q4_1, and the same weights stored as
F16 decode ~35% faster with 32 sequences per step (docs/performance.md). F16 holds every Q4_1
value to within 2^-11 and skips Q4_1's 8-bit rounding of activations, so answers differ from the
original file only by rounding, as they do between batch sizes. The result is cached next to the
store, keyed by the source file, and written atomically so concurrent workers can share it.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
from pathlib import Path

import llama_cpp as llama

from .model import init_backend

FORMATS = {"q8_0": 7, "f16": 1}  # llama_ftype values: LLAMA_FTYPE_MOSTLY_Q8_0, LLAMA_FTYPE_MOSTLY_F16


def repacked(source: Path, weights: str, cache_dir: Path, *, threads: int) -> Path:
    """The path of ``source`` re-encoded as ``weights`` (made on first use)."""
    if weights not in FORMATS:
        raise ValueError(f"weights must be 'original' or one of {', '.join(FORMATS)}; got {weights!r}")
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir / f"{source.stem}.{key}.{weights}.gguf"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    init_backend()
    fd, scratch = tempfile.mkstemp(dir=cache_dir, suffix=".partial")
    os.close(fd)
    try:
        params = llama.llama_model_quantize_default_params()
        params.ftype = FORMATS[weights]
        params.allow_requantize = True
        params.nthread = threads
        status = llama.llama_model_quantize(str(source).encode(), scratch.encode(), ctypes.byref(params))
        if status != 0:
            raise RuntimeError(f"llama.cpp could not re-encode {source} as {weights} (status {status})")
        os.replace(scratch, target)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return target
