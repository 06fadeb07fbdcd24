"""Re-encode a GGUF's weights once into a format llama.cpp multiplies faster on the CPU.

Batched decoding is matrix-matrix work, and llama.cpp has fast CPU kernels for F16 and Q8_0 but
not for every 4-bit format: the embedded SmolLM2 ships as Q4_1, and the same weights stored as
F16 decode ~35% faster with 32 sequences per step, as BF16 on a CPU with AVX512-BF16 about 1.9x
(docs/performance.md). F16 holds every Q4_1 value to within 2^-11, BF16 to within 2^-8 of its
size, and both skip Q4_1's 8-bit rounding of activations, so answers differ from the original file
only by rounding, as they do between batch sizes. The result is cached next to the
store, keyed by the source file, and written atomically so concurrent workers can share it.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from .model import embedded_model_path, init_backend
from .native import KERNELS, llama
from .options import LlamaCppOptions

log = logging.getLogger("sference.engine.llamacpp")

# llama_ftype values: LLAMA_FTYPE_MOSTLY_Q8_0, LLAMA_FTYPE_MOSTLY_F16, LLAMA_FTYPE_MOSTLY_BF16
FORMATS = {"q8_0": 7, "f16": 1, "bf16": 32}


def resolve(weights: str, *, native_bf16: bool) -> str:
    """The format ``weights`` names: "auto" is BF16 on kernels with a BF16 dot product (twice
    F16's speed there), F16 elsewhere (BF16 without the instruction is slower than F16)."""
    if weights == "auto":
        return "bf16" if native_bf16 else "f16"
    return weights


def model_file(options: LlamaCppOptions, cache_dir: Path | None, *, threads: int) -> Path:
    """The GGUF to load for ``options``: its file (or the embedded model's) in the weight format
    it asks for, re-encoded into ``cache_dir`` (default: the temp dir) on first use."""
    path = Path(options.path) if options.path else embedded_model_path()
    weights = resolve(options.weights, native_bf16=KERNELS.native_bf16)
    log.info("llama.cpp CPU kernels: %s; weights: %s", KERNELS.describe(), weights)
    if weights == "original":
        return path
    return repacked(path, weights, cache_dir or Path(tempfile.gettempdir()) / "sference-models", threads=threads)


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
