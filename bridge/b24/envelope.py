"""Bitrix24 reply envelopes → results, pages, batch results or typed errors (pure: no I/O).

The error class is chosen by the portal's ``error`` string, not by the HTTP status, because the two
drift between docs, server code and SDKs (reference §2.3 "Practical rule"); the status only decides
for codes we do not know (5xx → retryable, anything else → rejected).  Codes the bridge makes up for
failures that have no portal code start with ``BRIDGE_``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    B24AccessDenied,
    B24AuthError,
    B24Error,
    B24MethodNotFound,
    B24NotFound,
    B24OperationTimeLimit,
    B24PortalMoved,
    B24QueryLimitExceeded,
    B24ServerError,
    B24TokenExpired,
    B24ValidationError,
)
from ..logs import redact

NON_JSON = "BRIDGE_NON_JSON"
BAD_REPLY = "BRIDGE_BAD_REPLY"
TRANSPORT = "BRIDGE_TRANSPORT"
PORTAL_MOVED = "BRIDGE_PORTAL_MOVED"
COMMAND_MISSING = "BRIDGE_COMMAND_MISSING"
PAUSED = "OPERATION_TIME_LIMIT"

_AUTH_CODES = {
    "no_auth_found",
    "invalid_credentials",
    "insufficient_scope",
    "invalid_token",
    "authorization_error",
    "wrong_auth_type",
    "application_not_found",
    "invalid_request",  # "Https required."
    "invalid_grant",
    "invalid_client",
    "invalid_scope",
    "payment_required",
    "portal_deleted",
}
_ACCESS_CODES = {"access_denied", "user_access_error"}
_NOT_FOUND_CODES = {"not_found", "owner_not_found"}
_SERVER_CODES = {"internal_server_error", "error_unexpected_answer", "overload_limit"}
_REDIRECTS = {301, 302, 303, 307, 308}


def _is_not_found(description: str) -> bool:
    """``""`` + "Not found" / "Company is not found" / "The Requisite with ID '5' is not found" /
    "TypeAddress not found" — but not "The 'FIELD_NAME' field is not found.", which is bad input."""
    text = description.strip().lower()
    if text.rstrip(".!") == "not found" or text.startswith("typeaddress not found"):
        return True
    return " is not found" in text and "field" not in text


def error_class(code: str, description: str, status: int | None) -> type[B24Error]:
    """Which exception a portal ``error`` means (``status`` is None for a command inside a batch)."""
    folded = code.lower()
    if code == "QUERY_LIMIT_EXCEEDED":
        return B24QueryLimitExceeded
    if code == "OPERATION_TIME_LIMIT":
        return B24OperationTimeLimit
    if folded == "expired_token":
        return B24TokenExpired
    if folded in _AUTH_CODES:
        return B24AuthError
    if folded in _ACCESS_CODES or (code == "" and description.strip().lower().startswith("access denied")):
        return B24AccessDenied
    if code == "ERROR_METHOD_NOT_FOUND":
        return B24MethodNotFound
    if folded in _NOT_FOUND_CODES or (code == "" and _is_not_found(description)):
        return B24NotFound
    if folded in _SERVER_CODES or (status is not None and status >= 500):
        return B24ServerError
    return B24ValidationError


def error_from(method: str, payload: Any, status: int | None, *, reset_at: float | None = None) -> B24Error:
    """The typed error for an ``{"error": …, "error_description": …}`` payload (``error`` may be a number)."""
    if isinstance(payload, Mapping):
        raw = payload.get("error")
        code = "" if raw is None else str(raw)
        description = payload.get("error_description")
        description = "" if description is None else str(description)
    else:
        code, description = "", str(payload)
    description = redact(description)
    cls = error_class(code, description, status)
    if cls is B24OperationTimeLimit:
        return B24OperationTimeLimit(method, code, description, status, reset_at=reset_at)
    return cls(method, code, description, status)


def _snippet(content: bytes, limit: int = 160) -> str:
    text = content.decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    else:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return redact(text[:limit])


def parse_reply(
    method: str,
    status: int,
    content_type: str,
    content: bytes,
    *,
    location: str | None = None,
    reset_at: float | None = None,
) -> dict[str, Any]:
    """The decoded envelope of a successful reply; any failure raises its typed :class:`B24Error`.

    ``location`` must already be redacted: it goes into the exception.
    """
    if status in _REDIRECTS:
        where = location or "(no Location header)"
        raise B24PortalMoved(
            method,
            PORTAL_MOVED,
            f"the portal answered {status} and points to {where}; it has probably moved to a new domain: "
            "update the portal URL in the settings (the bridge never follows this redirect)",
            status,
            location=location,
        )
    try:
        payload = json.loads(content)
    except ValueError:
        kind = content_type.split(";")[0].strip() or "no content type"
        raise B24ServerError(
            method, NON_JSON, f"non-JSON reply ({kind}, {len(content)} bytes): {_snippet(content)}", status
        ) from None
    if not isinstance(payload, dict):
        raise B24ServerError(
            method, BAD_REPLY, f"reply is JSON {type(payload).__name__}, not an object", status
        )
    if "error" in payload and ("result" not in payload or status >= 400):
        raise error_from(method, payload, status, reset_at=reset_at)
    if status >= 400 or "result" not in payload:
        cls = B24ServerError if status >= 500 or status < 400 else B24ValidationError
        raise cls(
            method, BAD_REPLY, f"reply has neither result nor error (keys: {sorted(payload)[:8]})", status
        )
    return payload


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def items_of(result: Any, method: str = "") -> list[Any]:
    """The rows of a list result: a bare list (legacy crm.*), or the one list inside a wrapper
    (``{"items": […]}``, ``{"products": […]}``, ``{"categories": […]}``)."""
    if isinstance(result, list):
        return result
    if isinstance(result, Mapping):
        lists = [value for value in result.values() if isinstance(value, list)]
        if not result:
            return []
        if len(lists) == 1:
            return lists[0]
    raise TypeError(f"{method or 'the'} result is not a list of rows: {type(result).__name__}")


@dataclass(frozen=True)
class Page:
    """One reply of a (list) method: ``result`` plus the top-level ``total``/``next``/``time``."""

    result: Any
    total: int | None = None
    next: int | None = None
    time: Mapping[str, Any] | None = None

    @property
    def items(self) -> list[Any]:
        return items_of(self.result)

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> Page:
        time = envelope.get("time")
        return cls(
            envelope.get("result"),
            _int_or_none(envelope.get("total")),
            _int_or_none(envelope.get("next")),
            time if isinstance(time, Mapping) else None,
        )


def _bucket(value: Any) -> dict[str, Any]:
    """A batch bucket as a dict: PHP writes an empty one as ``[]`` and 0..n-1 keys as a list."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


@dataclass(frozen=True)
class BatchResult:
    """Per-command outcome of one ``batch``: a result or a typed error, plus total/next/time.

    ``skipped`` are the commands that never ran (``halt`` stopped at an earlier error).
    """

    keys: tuple[str, ...]
    results: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, B24Error] = field(default_factory=dict)
    totals: Mapping[str, int] = field(default_factory=dict)
    nexts: Mapping[str, int] = field(default_factory=dict)
    times: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(k for k in self.keys if k not in self.results and k not in self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.skipped

    def page(self, key: str) -> Page:
        """The command's page, or its typed error raised; ``KeyError`` for an unknown or skipped key."""
        if key in self.errors:
            raise self.errors[key]
        if key not in self.results:
            if key in self.keys:
                raise KeyError(
                    f"batch command {key!r} did not run: halt stopped the batch at an earlier error"
                )
            raise KeyError(f"no batch command {key!r}")
        return Page(self.results[key], self.totals.get(key), self.nexts.get(key), self.times.get(key))

    def __getitem__(self, key: str) -> Any:
        return self.page(key).result


def parse_batch(
    envelope: Mapping[str, Any],
    methods: Mapping[str, str],
    reset_at: Callable[[str], float | None] = lambda method: None,
) -> BatchResult:
    """Split a ``batch`` envelope into per-command results and typed errors (``methods``: key → method)."""
    body = envelope.get("result")
    if not isinstance(body, Mapping):
        raise B24ServerError(
            "batch", BAD_REPLY, f"batch result is {type(body).__name__}, not an object", None
        )
    keys: Sequence[str] = tuple(methods)
    results = _bucket(body.get("result"))
    raw_errors = _bucket(body.get("result_error"))
    totals = {
        k: n for k, v in _bucket(body.get("result_total")).items() if (n := _int_or_none(v)) is not None
    }
    nexts = {k: n for k, v in _bucket(body.get("result_next")).items() if (n := _int_or_none(v)) is not None}
    times = {k: v for k, v in _bucket(body.get("result_time")).items() if isinstance(v, Mapping)}
    errors: dict[str, B24Error] = {}
    for key, payload in raw_errors.items():
        method = methods.get(key, key)
        errors[key] = error_from(method, payload, None, reset_at=reset_at(method))
    return BatchResult(
        tuple(keys),
        {k: v for k, v in results.items() if k not in errors},
        errors,
        totals,
        nexts,
        times,
    )
