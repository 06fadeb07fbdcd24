"""Build (once, cached) and run ``llama-server`` from the vendored llama.cpp inside the
llama-cpp-python sdist, with the same CPU flags as our engine (portable, or a kernel variant);
also ``llama-batched-bench``, llama.cpp's own measure of decode speed at a batch size."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sference_server.engines.llamacpp.kernels import PORTABLE_CMAKE_FLAGS, Variant, llama_cpp_version
from sference_server.engines.llamacpp.kernels_build import download_sdist, extract_llama_cpp

VERSION = llama_cpp_version()  # the installed one: its sdist carries the llama.cpp our engine runs
CACHE = Path(os.environ.get("SFERENCE_BENCH_CACHE", Path.home() / ".cache" / "sference-bench"))
TOOLS = ("llama-server", "llama-batched-bench")


def binary(tool: str = "llama-server", variant: Variant | None = None) -> Path:
    """``tool`` built (once, cached) with the portable flags of our wheel, or ``variant``'s."""
    suffix = f"-{variant.name}" if variant else ""
    target = CACHE / f"{tool}-{VERSION}{suffix}"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    print(f"building {', '.join(TOOLS)} {VERSION}{suffix} (about 5 minutes, once)...", file=sys.stderr)
    source = extract_llama_cpp(download_sdist(VERSION, work, say=print), work / "src")
    build = work / "cmake"
    subprocess.run(
        [
            "cmake",
            "-S",
            str(source),
            "-B",
            str(build),
            "-G",
            "Ninja" if shutil.which("ninja") else "Unix Makefiles",
            "-DCMAKE_BUILD_TYPE=Release",
            *(variant.cmake_flags if variant else PORTABLE_CMAKE_FLAGS),
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_OPENSSL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DBUILD_SHARED_LIBS=OFF",
        ],
        check=True,
    )
    jobs = str(os.cpu_count() or 2)
    subprocess.run(["cmake", "--build", str(build), "-j", jobs, "--target", *TOOLS], check=True)
    for name in TOOLS:
        shutil.copy2(build / "bin" / name, CACHE / f"{name}-{VERSION}{suffix}")
    shutil.rmtree(work, ignore_errors=True)
    return target


class LlamaServer:
    def __init__(
        self,
        model: Path,
        *,
        port: int,
        slots: int = 16,
        threads: int = 2,
        ctx: int = 8192,
        variant: Variant | None = None,
    ) -> None:
        """``variant``: llama.cpp built with these kernels' flags (default: our wheel's portable ones)."""
        self.args = [
            str(binary("llama-server", variant)),
            "-m",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-t",
            str(threads),
            "-c",
            str(ctx),
            "--parallel",
            str(slots),
            "--cont-batching",
            "-a",
            "smollm2-135m",
        ]
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError("llama-server did not become healthy")

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(30)
