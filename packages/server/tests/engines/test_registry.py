"""The engine registry: one table entry per engine kind, no fall-through to a default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sference_server.catalog import ModelCatalog
from sference_server.config import ModelSpec
from sference_server.domain.chat import Limits
from sference_server.engines import echo, registry
from sference_server.engines.echo import EchoEngine


def test_an_unknown_engine_kind_is_rejected_with_the_kinds_available() -> None:
    spec = ModelSpec(id="m", engine="vllm")
    for call in (registry.limits, registry.context_tokens, registry.build_engine):
        with pytest.raises(ValueError, match=r"unknown engine 'vllm'; available engines: bert, echo, llamacpp, openai"):
            call(spec)
    with pytest.raises(
        ValueError, match=r"^model 'm': unknown engine 'vllm'; available engines: bert, echo, llamacpp, openai"
    ):
        ModelCatalog([spec])


def test_an_unknown_echo_option_is_rejected() -> None:
    spec = ModelSpec(id="m", engine="echo", options={"slots": 2, "tokens_delay": 0.1, "colour": "red"})
    with pytest.raises(ValueError, match=r"unknown echo options: colour, tokens_delay"):
        registry.build_engine(spec)
    with pytest.raises(ValueError, match=r"^model 'm': unknown echo options: colour, tokens_delay"):
        ModelCatalog([spec])


def test_echo_is_built_and_its_limits_read_from_the_table() -> None:
    spec = ModelSpec(id="m", engine="echo", options={"slots": 3, "token_delay": 0.25})
    engine = registry.build_engine(spec)
    assert isinstance(engine, EchoEngine)
    assert (engine.model_id, engine.slots, engine.token_delay) == ("m", 3, 0.25)
    assert registry.limits(spec) == Limits(max_tokens=echo.MAX_TOKENS)
    assert registry.context_tokens(spec) == echo.MAX_TOKENS + 1
    assert registry.ENGINE_KINDS["echo"].options.parse({}) == echo.EchoOptions(slots=8, token_delay=0.0)


def test_llamacpp_limits_come_from_its_options() -> None:
    spec = ModelSpec(id="m", engine="llamacpp", options={"ctx_per_slot": 512})
    assert registry.limits(spec) == Limits(max_tokens=511)
    with pytest.raises(ValueError, match="unknown llamacpp options: ctx"):
        registry.limits(ModelSpec(id="m", engine="llamacpp", options={"ctx": 512}))


def test_build_passes_the_process_settings_to_the_llamacpp_engine(tmp_path: Path) -> None:
    from sference_server.engines.llamacpp.engine import LlamaCppEngine

    spec = ModelSpec(id="m", engine="llamacpp", options={"slots": 2})
    engine = registry.build_engine(spec, cache_dir=tmp_path, llama_log=True)  # builds; loads nothing yet
    assert isinstance(engine, LlamaCppEngine)
    assert (engine.model_id, engine.options.slots, engine.cache_dir, engine.llama_log) == ("m", 2, tmp_path, True)
    default = registry.build_engine(spec)
    assert isinstance(default, LlamaCppEngine)
    assert (default.cache_dir, default.llama_log) == (None, False)


def test_limits_and_echo_engines_do_not_import_llama_cpp() -> None:
    """The API process reads every model's limits; llama.cpp is imported only to build its engine."""
    script = (
        "import sys\n"
        "from sference_server.config import ModelSpec, default_models\n"
        "from sference_server.engines import registry\n"
        "for spec in default_models():\n"
        "    registry.limits(spec)\n"
        "registry.build_engine(ModelSpec(id='m', engine='echo'))\n"
        "assert 'llama_cpp' not in sys.modules, 'llama_cpp was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
