"""Which build of llama.cpp's CPU kernels this process runs.

The llama-cpp-python wheel is compiled for portable AVX2 (pyproject.toml), because ``-march=native``
turns on AMX kernels that crash on some Xeons (docs/operations.md). On a CPU with AVX-512 and its
BF16 dot product, kernels compiled for those instructions decode the embedded model's batches
about 1.9x faster with BF16 weights (docs/performance.md). ``sference-server build-kernels``
compiles that variant of ``libggml-cpu`` once per llama-cpp-python version into a cache; before
``llama_cpp`` is imported, :func:`load` puts it in place of the wheel's own when the CPU has every
instruction it was compiled for. The variant carries the same soname, so the wheel's
``libggml.so`` binds to whichever copy the process loaded first. AMX is never compiled in.

``SFERENCE_CPU_KERNELS=portable`` keeps the wheel's kernels; ``SFERENCE_KERNELS_DIR`` moves the
cache (default ``$XDG_CACHE_HOME/sference/kernels``).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

SETTING = "SFERENCE_CPU_KERNELS"  # "auto" (the default) or "portable"
CACHE_DIR = "SFERENCE_KERNELS_DIR"
LIBRARY = "libggml-cpu.so.0"  # the soname the wheel's libggml.so asks for
PORTABLE = "portable"

# What pyproject.toml builds the wheel with: every x86-64 CPU of the last decade has these.
PORTABLE_CMAKE_FLAGS = (
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON",
)


@dataclass(frozen=True)
class Variant:
    """A build of the CPU kernels for a family of CPUs."""

    name: str
    cpu_flags: frozenset[str]  # as /proc/cpuinfo spells them; the CPU must have all
    cmake_flags: tuple[str, ...]
    native_bf16: bool  # has a BF16 dot product, so BF16 weights are the fastest format


AVX512_BF16 = Variant(
    name="avx512-bf16",
    cpu_flags=frozenset(
        {
            *("avx2", "fma", "f16c", "bmi2"),
            *("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512vbmi", "avx512_vnni", "avx512_bf16"),
        }
    ),
    cmake_flags=(
        *PORTABLE_CMAKE_FLAGS,
        "-DGGML_AVX512=ON",
        "-DGGML_AVX512_VBMI=ON",
        "-DGGML_AVX512_VNNI=ON",
        "-DGGML_AVX512_BF16=ON",
    ),
    native_bf16=True,
)
VARIANTS = (AVX512_BF16,)


@dataclass(frozen=True)
class Kernels:
    """The kernels a process runs: a variant (with its library) or the wheel's portable build."""

    variant: Variant | None
    path: Path | None = None
    reason: str = ""  # why the portable build, when it is

    @property
    def name(self) -> str:
        return self.variant.name if self.variant else PORTABLE

    @property
    def native_bf16(self) -> bool:
        return self.variant is not None and self.variant.native_bf16

    def describe(self) -> str:
        return f"{self.name} ({self.path})" if self.path else f"{PORTABLE} ({self.reason})"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of this machine's CPU (empty where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def llama_cpp_version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def cache_root() -> Path:
    configured = os.environ.get(CACHE_DIR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sference" / "kernels"


def library_path(variant: Variant, version: str, root: Path | None = None) -> Path:
    """Where ``build-kernels`` puts ``variant``'s library for llama-cpp-python ``version``."""
    return (root or cache_root()) / f"llama-cpp-python-{version}" / variant.name / LIBRARY


def supported(variant: Variant, flags: frozenset[str]) -> bool:
    return variant.cpu_flags <= flags


def choose(setting: str, flags: frozenset[str], version: str, root: Path | None = None) -> Kernels:
    """The kernels to load for ``setting`` on a CPU with ``flags``, from what is built."""
    if setting == PORTABLE:
        return Kernels(None, reason=f"{SETTING}={PORTABLE}")
    if setting != "auto":
        raise ValueError(f"{SETTING} must be 'auto' or '{PORTABLE}'; got {setting!r}")
    reasons = []
    for variant in VARIANTS:
        missing = variant.cpu_flags - flags
        if missing:
            reasons.append(f"the CPU lacks {', '.join(sorted(missing))} for {variant.name}")
            continue
        path = library_path(variant, version, root)
        if path.is_file():
            return Kernels(variant, path)
        reasons.append(f"{variant.name} is not built (sference-server build-kernels)")
    return Kernels(None, reason="; ".join(reasons))


def _wheel_library_dir() -> Path | None:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "lib"


def load() -> Kernels:
    """Load the fastest kernels this CPU can run; call before ``llama_cpp`` is first imported."""
    try:
        version = llama_cpp_version()
    except importlib.metadata.PackageNotFoundError:
        return Kernels(None, reason="llama-cpp-python is not installed")
    kernels = choose(os.environ.get(SETTING, "auto"), cpu_flags(), version)
    if kernels.path is None:
        return kernels
    if "llama_cpp" in sys.modules:  # its libraries are bound already; a second copy would not be used
        return Kernels(None, reason="llama_cpp was imported before the kernels were chosen")
    wheel = _wheel_library_dir()
    base = wheel / "libggml-base.so.0" if wheel else None
    if base is None or not base.is_file():
        return Kernels(None, reason="the llama-cpp-python wheel has no lib/libggml-base.so.0")
    # The variant needs the wheel's libggml-base; global, so libggml.so later resolves both here.
    ctypes.CDLL(str(base), mode=ctypes.RTLD_GLOBAL)
    try:
        ctypes.CDLL(str(kernels.path), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:  # damaged or built against another libggml-base: the wheel's still work
        return Kernels(None, reason=f"{kernels.path} did not load ({exc})")
    return kernels
