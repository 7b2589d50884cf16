"""Keeping a sandbox portal across restarts: its store (and OAuth tokens) in one JSON file.

The file is written atomically (a temporary file in the same directory, then ``os.replace``), a short
while after a change (changes close together make one write) and at shutdown.  Values JSON cannot hold
are tagged: ``Decimal`` as ``{"$decimal": "100.00"}``; table keys that are tuples (contact ↔ company links,
addresses) as lists.  Id counters are saved too, so new ids continue where they left off.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .store import Store

log = logging.getLogger("b24_sandbox")

FORMAT = "b24-sandbox-state"
VERSION = 1


class StateFileError(Exception):
    """The state file exists but cannot be used (not ours, a newer format, or broken JSON)."""


def _encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dict):
        return {str(k): _encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v) for v in value]
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$decimal"}:
            return Decimal(value["$decimal"])
        return {k: _decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    return value


def _encode_key(key: Any) -> Any:
    return list(key) if isinstance(key, tuple) else key


def _decode_key(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def dump_store(store: Store) -> dict[str, Any]:
    return {
        "counters": dict(store.counters()),
        "tables": {name: [[_encode_key(k), _encode_value(r)] for k, r in rows.items()]
                   for name, rows in store.tables.items()},
    }


def load_store(store: Store, data: dict[str, Any]) -> None:
    store.clear()
    for name, rows in (data.get("tables") or {}).items():
        for key, record in rows:
            store.put(name, _decode_key(key), _decode_value(record))
    for counter, value in (data.get("counters") or {}).items():
        store.bump_counter(counter, int(value))


class StateFile:
    """One JSON file holding a portal; ``save`` is atomic, ``load`` returns None when there is no file yet."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateFileError(f"cannot read sandbox state file {self.path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StateFileError(f"{self.path} is not a sandbox state file (no \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise StateFileError(f"{self.path} has state format version {data.get('version')!r}; "
                                 f"this sandbox reads version {VERSION}")
        return data

    def save(self, payload: dict[str, Any]) -> None:
        document = {"format": FORMAT, "version": VERSION,
                    "saved_at": datetime.now(UTC).isoformat(timespec="seconds"), **payload}
        text = json.dumps(document, ensure_ascii=False, indent=1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class DebouncedSaver:
    """Calls ``save()`` once, ``delay`` seconds after the first of a run of ``mark()`` calls; ``flush`` now."""

    def __init__(self, save: Callable[[], None], delay: float) -> None:
        self._save = save
        self._delay = delay
        self._timer: threading.Timer | None = None
        self._dirty = False
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def mark(self) -> None:
        with self._lock:
            self._dirty = True
            if self._timer is None:
                self._timer = threading.Timer(self._delay, self._fire)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._run()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        self._run()

    def _run(self) -> None:
        with self._write_lock:
            with self._lock:
                if not self._dirty:
                    return
                self._dirty = False
            try:
                self._save()
            except Exception:
                log.exception("sandbox state was not saved", extra={"action": "sandbox.save_failed"})
                with self._lock:
                    self._dirty = True
