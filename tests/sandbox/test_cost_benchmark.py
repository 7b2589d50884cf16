"""The sandbox-cost benchmark runs (tiny sizes) and shows look-ups by key reading as many records at both sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_sandbox_cost_benchmark_reports_flat_scans_with_indexes_and_growing_ones_without(tmp_path):
    out = tmp_path / "figures.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.sandbox_cost", "--sizes", "40", "400", "--calls", "20",
                          "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "crm.company.list ORIGIN_ID" in run.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))
    for name in figures["after"]["40"]:
        # with indexes a call reads the records it names (at most the 50 keys asked), whatever the size
        assert figures["after"]["400"][name]["scanned_per_call"] <= 50, name
        assert figures["before"]["400"][name]["scanned_per_call"] >= 40, name  # without: table scans
