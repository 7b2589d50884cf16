"""Writes the chart's README.md from values.yaml, so the values are documented in one place: their comments.

    python deploy/helm/chart_readme.py           # rewrite deploy/helm/onec-b24-bridge/README.md
    python deploy/helm/chart_readme.py --check   # exit 1 when the committed README is out of date

A comment block right above a key describes it; helm-docs' ``# --`` marker is dropped, a plain block counts
too. A mapping written in block style is listed key by key; everything else (scalars, lists, flow-style or
empty mappings) is one row with its default. A described mapping whose children are described as well
gets a row of its own above theirs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "onec-b24-bridge"
README = CHART / "README.md"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")


@dataclass(frozen=True)
class Row:
    path: str
    kind: str
    default: str
    description: str


def _descriptions(text: str) -> tuple[str, dict[tuple[str, ...], str], set[tuple[str, ...]]]:
    """(the file's opening comment, description of each key path, paths of block-style mappings)."""
    header: list[str] = []
    described: dict[tuple[str, ...], str] = {}
    blocks: set[tuple[str, ...]] = set()
    stack: list[tuple[int, str]] = []
    comment: list[str] = []
    list_owner: int | None = None  # keys inside the items of a block list are the list's value
    at_start = True
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if list_owner is not None and stripped:
            if indent > list_owner:
                continue
            list_owner = None
        if not stripped:
            if at_start and comment:
                header, at_start = comment, False
            comment = []
            continue
        if stripped.startswith("#"):
            comment.append(stripped[1:].removeprefix(" "))
            continue
        at_start = False
        if stripped.startswith("- "):
            list_owner = stack[-1][0] if stack else 0
            comment = []
            continue
        match = _KEY.match(line)
        if not match:
            comment = []
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if stack:
            blocks.add(tuple(k for _, k in stack))
        stack.append((indent, match["key"]))
        if comment:
            first = comment[0].removeprefix("--").strip()
            text = " ".join([first, *(c.strip() for c in comment[1:])])
            described[tuple(k for _, k in stack)] = text.strip()
        comment = []
    return "\n".join(header), described, blocks


def _kind(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object",
            type(None): "null"}[type(value)]


def rows(text: str) -> list[Row]:
    """One row per documented value of a values.yaml text, in file order."""
    _, described, blocks = _descriptions(text)
    values = yaml.safe_load(text) or {}
    out: list[Row] = []

    def visit(node: dict[str, Any], path: tuple[str, ...]) -> None:
        for key, value in node.items():
            here = (*path, key)
            description = described.get(here, "")
            nested = isinstance(value, dict) and value and here in blocks
            children_described = any(p[:len(here)] == here and len(p) > len(here) for p in described)
            if nested and (children_described or not description):
                if description:
                    out.append(Row(".".join(here), "object", "", description))
                visit(value, here)
            else:
                default = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
                out.append(Row(".".join(here), _kind(value), default, description))

    visit(values, ())
    return out


def _cell(text: str, *, code: bool = False) -> str:
    """Table-cell text: pipes escaped; outside code spans also <, > and & (a Markdown renderer would take
    <release> for an HTML tag and drop it)."""
    if not code:  # the odd pieces between backticks are code spans already
        pieces = text.split("`")
        pieces[::2] = [p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for p in pieces[::2]]
        text = "`".join(pieces)
    return text.replace("|", "\\|")


def render(values_text: str, chart: dict[str, Any]) -> str:
    header, _, _ = _descriptions(values_text)
    lines = [
        f"# {chart['name']}",
        "",
        " ".join(chart["description"].split()),
        "",
        f"Chart version {chart['version']}, app version {chart['appVersion']}, "
        f"Kubernetes {chart['kubeVersion']}.",
        "Installation, secrets, the mapping file, scaling, upgrades, `helm test` and the NetworkPolicy:",
        "[docs/deployment.md](../../../docs/deployment.md).",
        "",
        "<!-- Generated from values.yaml by deploy/helm/chart_readme.py: edit the comments there, then run",
        "     `python deploy/helm/chart_readme.py` (tests/deploy/test_chart_readme.py fails until then). -->",
        "",
        "```text",
        header,
        "```",
        "",
        "## Values",
        "",
        "| Key | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for row in rows(values_text):
        default = f"`{_cell(row.default, code=True)}`" if row.default else ""
        lines.append(f"| `{row.path}` | {row.kind} | {default} | {_cell(row.description)} |")
    return "\n".join(lines) + "\n"


def generate(chart_dir: Path = CHART) -> str:
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    return render((chart_dir / "values.yaml").read_text(encoding="utf-8"), chart)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only tell whether README.md is up to date")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = README.read_text(encoding="utf-8") if README.exists() else ""
        if current != text:
            print(f"{README} is out of date: run python deploy/helm/chart_readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
