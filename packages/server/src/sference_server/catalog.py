"""The served models, as the API sees them: ids, limits and descriptions. Loads no engine."""

from __future__ import annotations

from .config import ModelSpec
from .domain.chat import Limits
from .engines import registry


class ModelCatalog:
    def __init__(self, specs: list[ModelSpec]) -> None:
        ids = [spec.id for spec in specs]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"model ids must be unique; repeated: {', '.join(sorted(duplicates))}")
        self.specs = list(specs)
        self._limits = {spec.id: _limits(spec) for spec in specs}
        self._modalities = {spec.id: registry.modality(spec) for spec in specs}

    def ids(self) -> list[str]:
        return [spec.id for spec in self.specs]

    def limits(self, model_id: str) -> Limits | None:
        return self._limits.get(model_id)

    def modality(self, model_id: str) -> str | None:
        """``text_generation``, ``text_embedding`` or ``decisions``; None for a model not served."""
        return self._modalities.get(model_id)

    def describe_served(self, modality: str | None = None) -> str:
        """The served models' ids (only those of ``modality``, when given)."""
        ids = [i for i in self.ids() if modality is None or self._modalities[i] == modality]
        return ", ".join(repr(i) for i in ids) or "(none)"


def _limits(spec: ModelSpec) -> Limits:
    """Checks the engine kind and its options of ``spec`` (ValueError naming the model)."""
    try:
        return registry.limits(spec)
    except ValueError as exc:
        raise ValueError(f"model {spec.id!r}: {exc}") from exc
