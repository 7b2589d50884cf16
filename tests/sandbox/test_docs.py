"""docs/sandbox.md's fidelity table points at tests that exist, so it cannot rot silently."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`([scb])/(test_\w+\.py)(?:::(test_\w+))?`|`::(test_\w+)`")


def test_every_test_named_in_the_fidelity_table_exists():
    doc = (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8")
    table = doc[doc.index("## Fidelity"):doc.index("## Not emulated")]
    named, missing = 0, []
    for line in table.splitlines():
        current: Path | None = None
        for match in REFERENCE.finditer(line):
            if match.group(2):
                folder = {"s": "sandbox", "c": "conformance", "b": "browser"}[match.group(1)]
                current = ROOT / "tests" / folder / match.group(2)
                name = match.group(3)
                if not current.exists():
                    missing.append(str(current.relative_to(ROOT)))
                    continue
            else:
                name = match.group(4)
            if name:
                named += 1
                if current is None or not re.search(rf"def {name}\(", current.read_text(encoding="utf-8")):
                    missing.append(f"{current}::{name}")
    assert named > 30 and missing == []
