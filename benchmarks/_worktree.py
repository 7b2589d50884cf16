"""Another commit's code beside today's: a detached git worktree for a benchmark's ``--compare``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@contextlib.contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` in a temporary directory; removed afterwards, and if git cannot
    remove it (the directory goes with the temporary one anyway), its registration is pruned, so
    ``git worktree list`` is left as it was.  Needs a git checkout of the project."""
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), commit],
                       check=True)
        try:
            yield tree
        finally:
            removed = subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                                     capture_output=True, text=True, check=False)
            if removed.returncode != 0:
                print(f"git worktree remove: {removed.stderr.strip()}; pruning", file=sys.stderr)
                subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


def short(commit: str) -> str:
    """The abbreviated hash of ``commit`` (a name fit for a column, and never "now")."""
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", f"{commit}^{{commit}}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def alternate(sides: list[tuple[str, T]], rounds: int) -> Iterator[tuple[int, str, T]]:
    """``(round, name, side)`` for every side of every round, in the order A B, B A, A B …: neither side
    always runs first (a warmer cache or a quieter host would favour it)."""
    for r in range(rounds):
        for name, side in sides if r % 2 == 0 else sides[::-1]:
            yield r, name, side
