"""JSON-lines logging with secret redaction.

Every line is one JSON object with ``ts``, ``level``, ``logger``, ``msg`` and whatever the caller put in
``extra`` (by convention an ``action`` key such as ``relay.publish`` plus ``event_id``, ``entity_type``,
``entity_id``).  Secrets never reach the output: values registered with :func:`register_secret` (the webhook
code, ingest tokens, passwords in DSNs) and anything shaped like a Bitrix24 webhook path are replaced by
``***`` in the final text, whichever field they hide in.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}
_WEBHOOK_PATH = re.compile(r"(/rest/\d+/)([^/\s\"']+)")
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s\"']*:)([^@\s\"']+)(@)", re.IGNORECASE)
_secrets: dict[str, None] = {}  # insertion-ordered: the oldest go first when the cap is reached
_longest_first: tuple[str, ...] = ()  # _secrets, longest first (a secret inside another is replaced after it)
_MAX_SECRETS = 256  # OAuth access tokens are renewed hourly; expired ones need no protection for ever
_lock = threading.Lock()


MIN_BARE_PASSWORD = 8  # a shorter password (a dev's "bridge") hidden on its own would eat ordinary words


def url_password(url: str) -> str | None:
    """The password of a ``scheme://user:password@host`` URL when it is long enough to hide wherever it shows
    on its own (inside a URL :func:`redact` hides it anyway); None otherwise."""
    try:
        password = urlsplit(url if "://" in url else f"http://{url}").password
    except ValueError:
        return None
    return long_enough(password)


def long_enough(password: str | None) -> str | None:
    """``password`` when it is long enough to hide wherever it shows on its own, else None."""
    return password if password and len(password) >= MIN_BARE_PASSWORD else None


def register_secret(value: str | None) -> None:
    """Remember a value that must never appear in a log line (ignores short or empty values)."""
    global _longest_first
    if value and len(value) >= 4:
        with _lock:
            _secrets.pop(value, None)
            _secrets[value] = None
            while len(_secrets) > _MAX_SECRETS:
                del _secrets[next(iter(_secrets))]
            _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """Replace every registered secret, webhook code and URL password in ``text`` by ``***``.  (Every log
    line passes here: the patterns are searched only where their fixed part, ``/rest/`` or ``://``, occurs.)"""
    for secret in _longest_first:  # (a tuple replaced whole on registration: read without the lock)
        if secret in text:
            text = text.replace(secret, "***")
    if "/rest/" in text:
        text = _WEBHOOK_PATH.sub(r"\1***", text)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1***\3", text)
    return text


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)  # made once, not by every json.dumps(default=…)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(_ENCODER.encode(out))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")}
        line = super().format(record)
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return redact(line)


class _CancelledRpc(logging.Filter):
    """aiormq warns "Closing channel … because RPC call … cancelled" whenever a task of ours is cancelled or
    times out mid-call: at every shutdown (a refused start included), and before a reconnect the bridge
    already reports.  Not a fact for the operator: dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and "because RPC call" in record.msg and "cancelled" in record.msg)


def configured() -> bool:
    """Whether :func:`configure` installed its handler."""
    return any(getattr(h, "_bridge", False) for h in logging.getLogger().handlers)


def configure(level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    """Install the formatter on the root logger (idempotent: replaces handlers it installed before)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_bridge", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._bridge = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "httpx", "httpcore", "asyncio", "uvicorn.access",
                  "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    channel = logging.getLogger("aiormq.channel")
    if not any(isinstance(f, _CancelledRpc) for f in channel.filters):
        channel.addFilter(_CancelledRpc())
