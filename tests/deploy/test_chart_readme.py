"""The chart's README.md is generated from the comments of values.yaml (deploy/helm/chart_readme.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import yaml

from tests.deploy.support import CHART, ROOT

SCRIPT = ROOT / "deploy" / "helm" / "chart_readme.py"
_spec = importlib.util.spec_from_file_location("chart_readme", SCRIPT)
chart_readme = sys.modules.setdefault("chart_readme", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(chart_readme)


def test_the_committed_chart_readme_is_what_values_yaml_generates():
    committed = (CHART / "README.md").read_text(encoding="utf-8")
    assert committed == chart_readme.generate(), "run: python deploy/helm/chart_readme.py"
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_value_of_values_yaml_has_a_row():
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    paths = {row.path for row in chart_readme.rows((CHART / "values.yaml").read_text(encoding="utf-8"))}

    def covered(node: Any, path: str) -> None:
        if path in paths:
            return
        assert isinstance(node, dict) and node, f"{path} has no row in the chart README"
        for key, value in node.items():
            covered(value, f"{path}.{key}" if path else key)

    covered(values, "")
    assert {"probes.startup", "helmTest.enabled", "networkPolicy.ingestFrom"} <= paths


SAMPLE = """\
# The file's own introduction.

# -- Labels added to every object.
commonLabels: {}

# Settings of one part: a plain comment
# that goes on.
part:
  # -- How many | to run.
  replicas: 2
  # not a description of anything below: the blank line ends it

  resources:
    requests: {cpu: 10m}
  hosts:
    - host: a.example
      # -- inside a list item, not a value of its own
      paths: [/v1/]
  # -- Whole object <kept> as one row.
  pdb:
    create: true
"""


def test_the_generator_reads_descriptions_blocks_lists_and_escapes_cells():
    rows = {row.path: row for row in chart_readme.rows(SAMPLE)}
    assert list(rows) == ["commonLabels", "part", "part.replicas", "part.resources.requests", "part.hosts",
                          "part.pdb"]
    assert rows["commonLabels"].description == "Labels added to every object."
    assert rows["part"].description == "Settings of one part: a plain comment that goes on."
    assert rows["part.resources.requests"].default == '{"cpu": "10m"}'
    assert rows["part.hosts"].kind == "list" and rows["part.hosts"].description == ""
    assert rows["part.pdb"].default == '{"create": true}'
    text = chart_readme.render(SAMPLE, {"name": "x", "description": "d", "version": "1", "appVersion": "1",
                                        "kubeVersion": ">=1.25"})
    assert "The file's own introduction." in text
    assert "| `part.replicas` | int | `2` | How many \\| to run. |" in text
    assert "Whole object &lt;kept&gt; as one row." in text
