"""Another commit's code beside today's: a detached git worktree for a benchmark's ``--compare``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
