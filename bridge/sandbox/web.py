"""The read-only ``/_sandbox/`` page (filled in with the deal kanban in phase 2)."""

from __future__ import annotations

import html
import json
from typing import Any


def render_page(state: dict[str, Any]) -> str:
    return "<!doctype html><pre>" + html.escape(json.dumps(state, ensure_ascii=False, indent=1)) + "</pre>"
