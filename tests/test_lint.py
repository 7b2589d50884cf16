"""Undefined names, unused imports and the like fail the build (pyflakes' checks, through ruff): a name
error in a rarely taken path would otherwise wait for production to show itself."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_pyflakes_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed (it is in the dev extras: pip install -e '.[dev]')")
    done = subprocess.run([ruff, "check", "--select", "F", "--no-cache", "bridge", "b24_sandbox", "onec_outbox",
                           "tests", "benchmarks", "deploy"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-5000:]
