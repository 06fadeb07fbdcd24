"""Compile a variant of llama.cpp's CPU kernels (``sference-server build-kernels``).

The source is the llama.cpp vendored in the llama-cpp-python sdist of the installed version, so
the variant's ``libggml-cpu`` matches the wheel's ``libggml-base`` it links against; the sdist
comes from the package index (checked against its published SHA-256) unless a local copy is
given. Only the ``ggml-cpu`` target is built (about 25 s on 2 cores) with the same options as the
wheel apart from the instruction set. The result is written atomically, so concurrent builds are
safe. ``bench/llama_server.py`` builds llama.cpp's own tools from the same source.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

from .kernels import LIBRARY, Variant, library_path

DEFAULT_INDEX = "https://pypi.org/simple"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"  # the index's JSON form (PEP 691)
VENDORED = "vendor/llama.cpp/"


class BuildError(Exception):
    """The variant could not be built; the message says why."""


def build(
    variant: Variant,
    version: str,
    *,
    sdist: Path | None = None,
    root: Path | None = None,
    jobs: int | None = None,
    say: Callable[[str], None] = print,
) -> Path:
    """Build ``variant`` for llama-cpp-python ``version`` unless it is built; its library's path."""
    target = library_path(variant, version, root)
    if target.is_file():
        return target
    if shutil.which("cmake") is None:  # the workspace's dev group has it; a missing compiler shows at configure
        raise BuildError("cmake is not on PATH (the build needs cmake and a C++ compiler)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sference-kernels-") as scratch:
        work = Path(scratch)
        archive = sdist or download_sdist(version, work, say)
        source = extract_llama_cpp(archive, work / "src")
        say(f"compiling {variant.name} kernels (the ggml-cpu target only; under a minute on 2 cores)...")
        build_dir = work / "build"
        _run(
            [
                "cmake",
                "-S",
                str(source),
                "-B",
                str(build_dir),
                *(["-G", "Ninja"] if shutil.which("ninja") else []),
                "-DCMAKE_BUILD_TYPE=Release",
                "-DBUILD_SHARED_LIBS=ON",
                *variant.cmake_flags,
                "-DLLAMA_CURL=OFF",
                "-DLLAMA_OPENSSL=OFF",
                "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF",
                "-DLLAMA_BUILD_TOOLS=OFF",
                "-DLLAMA_BUILD_SERVER=OFF",
            ]
        )
        _run(["cmake", "--build", str(build_dir), "--target", "ggml-cpu", "-j", str(jobs or os.cpu_count() or 2)])
        built = next(build_dir.rglob(LIBRARY), None)
        if built is None:
            raise BuildError(f"the build made no {LIBRARY}")
        partial = target.with_name(f"{LIBRARY}.{os.getpid()}.partial")
        shutil.copyfile(built.resolve(), partial)
        os.replace(partial, target)
    return target


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise BuildError(f"{' '.join(command[:3])} ... failed (exit {result.returncode}):\n{tail}")


def package_index() -> str:
    """The index uv or pip would use (``UV_DEFAULT_INDEX``, ``UV_INDEX_URL``, ``PIP_INDEX_URL``)."""
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(name):
            return os.environ[name].rstrip("/")
    return DEFAULT_INDEX


def download_sdist(version: str, work: Path, say: Callable[[str], None]) -> Path:
    """The sdist of llama-cpp-python ``version`` from the package index, its SHA-256 checked."""
    filename = f"llama_cpp_python-{version}.tar.gz"
    page = f"{package_index()}/llama-cpp-python/"
    try:
        listing = httpx.get(page, headers={"Accept": SIMPLE_JSON}, timeout=30, follow_redirects=True)
        listing.raise_for_status()
        (entry,) = [f for f in listing.json()["files"] if f["filename"] == filename]
        url, sha256 = httpx.URL(page).join(entry["url"]), entry["hashes"]["sha256"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise BuildError(f"could not find {filename} at {page} ({exc!r}); pass --sdist") from exc
    path = work / filename
    say(f"downloading {url} ({entry.get('size', 0) / 1e6:.0f} MB)...")
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, timeout=60, follow_redirects=True) as response, path.open("wb") as out:
            response.raise_for_status()
            for piece in response.iter_bytes(1 << 20):
                digest.update(piece)
                out.write(piece)
    except httpx.HTTPError as exc:
        raise BuildError(f"could not download {url} ({exc!r}); pass --sdist") from exc
    if digest.hexdigest() != sha256:
        raise BuildError(f"{filename} does not match the SHA-256 the index publishes for it")
    return path


def extract_llama_cpp(archive: Path, into: Path) -> Path:
    """Unpack only the vendored llama.cpp of an sdist; the directory that holds it."""
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0] if names else ""
        prefix = f"{top}/{VENDORED}"  # the sdist's own folder, not a copy under .git/modules
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        if not members:
            raise BuildError(f"{archive} holds no {prefix} (is it a llama-cpp-python sdist?)")
        tar.extractall(into, members=members, filter="data")
    return into / prefix
