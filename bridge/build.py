"""Which build of the bridge is running: the version and the source revision it was built from.

The revision comes from ``bridge/REVISION`` (written by the image build: ``docker build --build-arg
REVISION=$(git rev-parse HEAD)``), else from git when running from a checkout, else ``unknown``.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from . import __version__

VERSION = __version__
_HERE = Path(__file__).resolve().parent


@functools.cache
def revision() -> str:
    stamped = _HERE / "REVISION"
    if stamped.is_file():
        text = stamped.read_text(encoding="utf-8").strip()
        if text:
            return text
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=_HERE, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
