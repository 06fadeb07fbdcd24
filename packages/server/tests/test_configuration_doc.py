"""docs/configuration.md against ``Settings``: every setting documented, nothing documented that is not one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sference_server.config import Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
PREFIX = Settings.model_config.get("env_prefix", "")

# ``SFERENCE_`` variables the doc names that are not server settings, each with why it is there.
NOT_SETTINGS = {
    "SFERENCE_BASE_URL": "read by the CLI and the SDK (the server's address), not by the server",
    "SFERENCE_API_KEY": "read by the CLI and the SDK (the key they send), not by the server",
    "SFERENCE_API_VERSION": "read by the CLI (the API version it asks for), not by the server",
    "SFERENCE_CPU_KERNELS": "read once per process as llama.cpp loads (kernels.py), before any setting",
    "SFERENCE_KERNELS_DIR": "read once per process as llama.cpp loads (kernels.py), and by build-kernels",
}


def settings_variables() -> set[str]:
    return {f"{PREFIX}{name}".upper() for name in Settings.model_fields}


def documented_in_table() -> set[str]:
    """The variables in the first column of the doc's tables."""
    names: set[str] = set()
    for line in DOC.read_text().splitlines():
        if line.startswith("|"):
            first_cell = line.split("|")[1]
            names.update(re.findall(rf"`({PREFIX}[A-Z0-9_]+)`", first_cell))
    return names


def mentioned() -> set[str]:
    return set(re.findall(rf"\b{PREFIX}[A-Z0-9_]+", DOC.read_text()))


def test_the_prefix_is_sference() -> None:
    assert PREFIX == "SFERENCE_"


def test_every_setting_is_documented_as_its_environment_variable() -> None:
    missing = settings_variables() - documented_in_table()
    assert not missing, f"add to docs/configuration.md: {', '.join(sorted(missing))}"


def test_every_variable_the_doc_names_is_a_setting_or_known_not_to_be() -> None:
    unknown = mentioned() - settings_variables() - set(NOT_SETTINGS)
    assert not unknown, f"docs/configuration.md names variables that Settings does not read: {sorted(unknown)}"


def test_the_allow_list_holds_only_variables_the_doc_names_that_are_not_settings() -> None:
    assert set(NOT_SETTINGS) <= mentioned() - settings_variables()
    assert not set(NOT_SETTINGS) & documented_in_table()  # not in the table of server settings


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("true", True), ("", False), ("0", False), ("off", False)]
)
def test_llama_log_reads_like_before(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("SFERENCE_LLAMA_LOG", value)
    assert Settings().llama_log is expected


def test_log_settings_default_and_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SFERENCE_LOG_LEVEL", raising=False)
    monkeypatch.delenv("SFERENCE_LLAMA_LOG", raising=False)
    assert (Settings().log_level, Settings().llama_log) == ("INFO", False)
    monkeypatch.setenv("SFERENCE_LOG_LEVEL", "debug")
    assert Settings().log_level == "DEBUG"
