"""Fixtures of the benchmark tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _worktrees() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def worktrees_kept():
    """For a ``--compare COMMIT`` run: skip outside a git checkout (it needs one), and fail if the run left a
    git worktree behind."""
    if not (ROOT / ".git").exists():
        pytest.skip("--compare needs a git checkout of the project")
    before = _worktrees()
    yield
    assert _worktrees() == before, "the --compare run left a git worktree behind"
