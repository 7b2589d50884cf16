"""Shared helpers of the deployment tests: render the chart offline, find tools, read the metric registry."""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "onec-b24-bridge"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULE_TESTS = (DEPLOY / "prometheus" / "tests.yml", DEPLOY / "prometheus" / "tests-working-hours.yml")
DASHBOARD = DEPLOY / "grafana" / "onec-b24-bridge.json"
KUBE_VERSION = "1.30.0"
RELEASE, NAMESPACE = "demo", "bridge"

# Metric names the rules and the dashboard may use from RabbitMQ's rabbitmq_prometheus plugin
# (/metrics/detailed and /metrics/per-object), so a typo there fails as well.
RABBITMQ_METRICS = frozenset({
    "rabbitmq_detailed_queue_messages", "rabbitmq_queue_messages",
    "rabbitmq_detailed_queue_consumers", "rabbitmq_queue_consumers",
})


def ci_values(name: str) -> dict[str, Any]:
    """One of the chart's ci/<name>-values.yaml files (minimal, everything)."""
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Manifest:
    template: str  # e.g. onec-b24-bridge/templates/relay/deployment.yaml
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.doc["kind"]

    @property
    def name(self) -> str:
        return self.doc["metadata"]["name"]

    @property
    def annotations(self) -> dict[str, str]:
        return self.doc["metadata"].get("annotations") or {}


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def render(values: dict[str, Any]) -> list[Manifest]:
    """`helm template` of the chart with these values, as parsed objects (NOTES.txt left out)."""
    return [Manifest(template, copy.deepcopy(doc)) for template, doc in _rendered(json.dumps(values, sort_keys=True))]


def render_notes(values: dict[str, Any]) -> str:
    return _helm_template(json.dumps(values, sort_keys=True))["NOTES.txt"]


@functools.lru_cache(maxsize=32)
def _helm_template(values_json: str) -> dict[str, str]:
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render(json.loads(values_json), name=RELEASE, namespace=NAMESPACE)
    return {("NOTES.txt" if template.endswith("NOTES.txt") else template): text for template, text in out.items()}


@functools.lru_cache(maxsize=32)
def _rendered(values_json: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    docs = []
    for template, text in sorted(_helm_template(values_json).items()):
        if template.endswith((".yaml", ".yml")):
            docs += [(template, doc) for doc in yaml.load_all(text, Loader=_Loader) if doc]
    return tuple(docs)


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m.kind == kind and m.name == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {[(m.kind, m.name) for m in manifests]}"
    return found[0]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind]


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    """The pod spec of a Pod, or of a Deployment's or Job's pod template."""
    return manifest.doc["spec"] if manifest.kind == "Pod" else manifest.doc["spec"]["template"]["spec"]


def workloads(manifests: list[Manifest]) -> Iterator[Manifest]:
    return (m for m in manifests if m.kind in ("Deployment", "Job"))


def env_names(container: dict[str, Any]) -> list[str]:
    return [e["name"] for e in container.get("env", [])]


def secret_keys(container: dict[str, Any]) -> dict[str, bool]:
    """Environment variables a container takes from a Secret → whether the key is optional."""
    return {e["name"]: bool(e["valueFrom"]["secretKeyRef"].get("optional"))
            for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}


def tool(name: str) -> str:
    """Path of a command-line tool, or skip (fail when BRIDGE_TEST_REQUIRE_TOOLS=1, as in CI)."""
    path = shutil.which(name)
    if path:
        return path
    hint = {"promtool": "apt-get install -y --no-install-recommends prometheus  (Debian 12: promtool 2.42)"}
    message = f"{name} is not installed; install it with: {hint.get(name, name)}"
    if os.environ.get("BRIDGE_TEST_REQUIRE_TOOLS", "") not in ("", "0", "false", "no"):
        pytest.fail(f"{message} (BRIDGE_TEST_REQUIRE_TOOLS=1, so this is a failure, not a skip)")
    pytest.skip(message)


def exported_metric_names() -> frozenset[str]:
    """Every series name the bridge can export: the families of every component's registry (a counter
    ``x`` is scraped as ``x_total``, a histogram as ``x_bucket``/``x_sum``/``x_count``, an info as
    ``x_info``; ``_created`` series are off)."""
    from bridge import metrics

    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("", "_sum", "_count"), "info": ("_info",)}
    names = set()
    for family in metrics.registry(*metrics.COMPONENTS).collect():
        if family.name.startswith("bridge_"):
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return frozenset(names)


_GRAFANA_VARS = re.compile(r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}")


def promql(expr: str):
    """Parse PromQL (Grafana's $__rate_interval and friends become 5m first); raises ValueError."""
    import promql_parser

    return promql_parser.parse(_GRAFANA_VARS.sub("5m", expr))


def selector_names(expr: str) -> set[str]:
    """Metric names of every vector selector in a PromQL expression."""
    import promql_parser

    names: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")

    promql_parser.walk(promql(expr), visit)
    return names


# Series Prometheus itself records for every scrape target.
PROMETHEUS_METRICS = frozenset({"up"})


def unknown_metrics(names: set[str]) -> set[str]:
    known = exported_metric_names()
    return {n for n in names if not (n in known or n in RABBITMQ_METRICS or n in PROMETHEUS_METRICS)}
