"""Imports run one way and sit at the top of each module, so the package graph can be read from the heads.

The rule, checked on the source with ``ast`` (nothing is imported):

* ``onec_outbox`` is the 1C side — the contract, the BSL module, the simulator of a 1C base — and imports
  nothing from ``bridge``: a 1C programmer reads it without the bridge, and the contract stays a leaf.
* ``bridge`` may import ``onec_outbox.contract`` anywhere (the events it accepts and parses).  It may
  import ``onec_outbox.simulator`` only where a command drives the simulator as a client of the HTTP
  ingest (``SIMULATOR_DRIVERS``: ``b24bridge simulate`` and ``demo``).  Nothing else of ``onec_outbox``.
* No import inside a function, unless it keeps an optional dependency optional: then the line, or the
  one above it, says ``# optional dependency: …``.  ``importlib.import_module`` is used in one place,
  the CLI registry.  The Bitrix24 sandbox is its own package (``b24_sandbox``, checked by
  ``tests/sandbox/test_package.py``); the commands that need it import it at their top and the registry
  stands in for them where it is not installed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bridge", "onec_outbox")

CONTRACT = "onec_outbox.contract"
SIMULATOR = "onec_outbox.simulator"
SIMULATOR_DRIVERS = {"bridge.cli.simulate", "bridge.demo"}
DYNAMIC_IMPORTERS = {"bridge.cli"}  # the CLI registry: one module per subcommand, found by name

MARKER = "# optional dependency:"


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository root
    module: str  # the importing module, dotted
    target: str  # the imported module, absolute and dotted
    written: str  # as written (relative imports keep their dots)
    line: int
    in_function: bool
    marked: bool  # carries the optional-dependency marker

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.written}"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _sources() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]


def _imports(path: Path, root: Path = ROOT) -> list[Import]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text, filename=str(path))
    module, is_package = _module_name(path, root), path.name == "__init__.py"
    rel = str(path.relative_to(root))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                marked = any(MARKER in lines[n - 1] for n in (child.lineno - 1, child.lineno) if n >= 1)
                if isinstance(child, ast.Import):
                    pairs = [(alias.name, alias.name) for alias in child.names]
                else:
                    written = "." * child.level + (child.module or "")
                    target = _absolute(module, is_package, child.level, child.module)
                    pairs = [(target, written)]
                    if not child.module:  # "from . import x": each name may be a module
                        pairs = [(f"{target}.{a.name}", f"{written}{a.name}") for a in child.names]
                found.extend(Import(rel, module, target, written, child.lineno, in_function, marked)
                             for target, written in pairs)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def _all_imports() -> list[Import]:
    return [i for path in _sources() for i in _imports(path)]


def _within(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def test_the_1c_side_never_imports_the_bridge():
    wrong = [str(i) for i in _all_imports() if i.module.startswith("onec_outbox") and _within(i.target, "bridge")]
    assert wrong == [], "onec_outbox imports bridge:\n" + "\n".join(wrong)


def test_the_bridge_imports_only_the_contract_and_where_it_drives_it_the_simulator():
    wrong = [str(i) for i in _all_imports()
             if i.module.startswith("bridge") and _within(i.target, "onec_outbox")
             and not _within(i.target, CONTRACT)
             and not (_within(i.target, SIMULATOR) and i.module in SIMULATOR_DRIVERS)]
    assert wrong == [], "bridge imports onec_outbox beyond the contract:\n" + "\n".join(wrong)


def test_imports_are_at_module_top_unless_they_keep_a_dependency_optional():
    hidden = [str(i) for i in _all_imports()
              if i.in_function and not i.marked]
    assert hidden == [], (f"imports inside functions (move them to the top, or mark the line '{MARKER} …' "
                          "if the package is an optional extra):\n" + "\n".join(hidden))


def test_modules_are_imported_by_name_only_in_the_cli_registry():
    dynamic = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ("import_module", "__import__") and _module_name(path) not in DYNAMIC_IMPORTERS:
                    dynamic.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert dynamic == [], "modules imported by name outside the CLI registry:\n" + "\n".join(dynamic)


def test_the_checker_sees_what_it_must_refuse(tmp_path):
    """The rules above mean something only if the checker sees each kind of import."""
    fake = tmp_path / "onec_outbox" / "simulator"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text(
        "import json\n"
        "from bridge.errors import BridgeError\n"
        "def f():\n"
        "    from .. import contract\n"
        "    # optional dependency: rich (an extra)\n"
        "    import rich\n"
        "    from . import data\n", encoding="utf-8")
    found = _imports(fake / "x.py", tmp_path)
    assert [(i.target, i.in_function, i.marked) for i in found] == [
        ("json", False, False), ("bridge.errors", False, False),
        ("onec_outbox.contract", True, False), ("rich", True, True), ("onec_outbox.simulator.data", True, False)]
