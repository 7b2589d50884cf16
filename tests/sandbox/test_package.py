"""The sandbox is a package of its own: it imports nothing from the bridge or the 1C side, so it can be
installed (dev and demo extras) or left out (the production image) without either noticing."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "b24_sandbox"
PROJECT_PACKAGES = ("bridge", "onec_outbox", "tests", "benchmarks")


def _imports(tree: ast.AST):
    """(imported module, node) for every import; relative imports give their dotted remainder only."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield ("." * node.level + (node.module or ""), node)


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` (annotation-only, never run)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            inside |= {id(child) for child in ast.walk(node)}
    return inside


def _modules():
    files = sorted(SANDBOX.rglob("*.py"))
    assert len(files) > 20, "the sandbox package was not found where this test looks"
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in files]


def test_the_sandbox_imports_nothing_from_the_bridge_or_the_1c_side():
    offending = [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                 for path, tree in _modules() for name, node in _imports(tree)
                 if name.split(".")[0] in PROJECT_PACKAGES]
    assert offending == []


def test_the_sandbox_imports_at_module_level_only():
    """A function-level import hides a dependency; annotation-only imports under TYPE_CHECKING are fine."""
    offending = []
    for path, tree in _modules():
        module_level = {id(node) for node in tree.body} | _type_checking_blocks(tree)
        offending += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                      for name, node in _imports(tree) if id(node) not in module_level]
    assert offending == []
