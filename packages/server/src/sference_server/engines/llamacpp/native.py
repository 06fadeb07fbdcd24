"""llama-cpp-python's binding, loaded over the fastest CPU kernels this machine can run.

Every module of this engine imports ``llama`` from here, so the kernels are chosen
(:func:`kernels.load`) before llama.cpp's libraries are bound, once per process.
"""

from __future__ import annotations

from .kernels import load

KERNELS = load()

import llama_cpp as llama  # noqa: E402  (after the kernels are loaded, on purpose)

__all__ = ["KERNELS", "llama"]
