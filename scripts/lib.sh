# Shared by scripts/serve and scripts/test: find or install uv, then sync the workspace.
# shellcheck shell=bash

# Python comes from .python-version (3.12) through pyenv; never let uv download one.
export UV_PYTHON_DOWNLOADS=never

ensure_uv() {
    if command -v uv >/dev/null 2>&1 && uv --version >/dev/null 2>&1; then
        UV=$(command -v uv)
        return
    fi
    local tools="${XDG_CACHE_HOME:-$HOME/.cache}/sference/uv"
    if [ ! -x "$tools/bin/uv" ]; then
        echo "installing uv into $tools ..." >&2
        python3 -m venv "$tools"
        "$tools/bin/pip" install --quiet --disable-pip-version-check uv
    fi
    UV="$tools/bin/uv"
}

sync_workspace() {
    # The first sync compiles llama.cpp with portable CPU flags (pyproject.toml:
    # [tool.uv.extra-build-variables]); about 5 minutes on 2 cores, cached afterwards.
    "$UV" sync --frozen "$@"
}

build_cpu_kernels() {
    # Where the CPU has AVX-512 with BF16, compile llama.cpp's CPU kernels for it once (under a
    # minute; the engine then runs about twice as fast). Elsewhere, or if the build fails, the
    # portable kernels of the wheel are used, so a failure here only warns.
    "$UV" run --frozen sference-server build-kernels ||
        echo "warning: could not build the fast CPU kernels; the portable ones are used" >&2
}
