"""The Grafana dashboard and the alerting rules in docs/monitoring name only metrics the server
exports, with labels those metrics have: a renamed metric or label fails here, not on a
dashboard that silently goes blank."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sference_server import metrics
from sference_server.services.metrics import QueueCollector
from sference_server.store.database import Database

DOCS = Path(__file__).resolve().parents[3] / "docs" / "monitoring"
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")
NAME = re.compile(r"\bsference_[a-z_]+")
GROUPING = re.compile(r"\b(?:by|on)\s*\(([^)]*)\)")
MATCHER = re.compile(r"\b([a-z_]+)\s*(?:=~|!=|!~|=)\s*\"")


def expressions() -> list[str]:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    rules = yaml.safe_load((DOCS / "alerts.yml").read_text())
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return exprs


def exported(db: Database) -> dict[str, set[str]]:
    """Each family the server exports and its label names (``le`` too for histograms); the label
    names are read from prometheus-client's private ``_labelnames``, which it has no public way
    to give."""
    families: dict[str, set[str]] = {}
    for collector in metrics.EXPORTED:
        histogram = {"le"} if collector._type == "histogram" else set()
        families[collector._name] = set(collector._labelnames) | histogram
    for family in QueueCollector(db).collect():
        families[family.name] = set(family._labelnames)
    return families


def family_of(name: str, known: dict[str, set[str]]) -> str | None:
    for candidate in (name, *(name.removesuffix(s) for s in SUFFIXES if name.endswith(s))):
        if candidate in known:
            return candidate
    return None


@pytest.mark.parametrize("expr", expressions())
def test_expressions_name_exported_metrics_and_labels(expr: str, db: Database) -> None:
    known = exported(db)
    names = NAME.findall(expr)
    assert names, expr
    families = [family_of(name, known) for name in names]
    assert None not in families, f"{expr}: unknown metric among {names}"
    labels = set().union(*(known[f] for f in families if f is not None))
    used = {label.strip() for group in GROUPING.findall(expr) for label in group.split(",") if label.strip()}
    used |= set(MATCHER.findall(expr))
    assert used <= labels, f"{expr}: labels {sorted(used - labels)} are not on {families}"
