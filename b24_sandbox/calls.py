"""What one method call is and leaves behind: who called, what ran, what came out, what was counted."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .methods import Result


@dataclass
class CallEvent:
    """What an ``on_call`` hook receives after every method execution (batch commands included)."""

    method: str
    params: dict[str, Any]
    result: Any = None
    error: dict[str, Any] | None = None
    total: int | None = None
    next: int | None = None
    nested: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Outcome:
    result: Result | None
    error: ApiError | None
    time: dict[str, Any]


@dataclass
class Stats:
    http_requests: int = 0
    commands: int = 0
    batches: int = 0
    rate_limited: int = 0
    operating_limited: int = 0
    per_method: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "http_requests": self.http_requests,
            "commands": self.commands,
            "batches": self.batches,
            "commands_per_request": round(self.commands / self.http_requests, 3) if self.http_requests else 0,
            "rate_limited": self.rate_limited,
            "operating_limited": self.operating_limited,
            "per_method": dict(sorted(self.per_method.items())),
            "errors": dict(sorted(self.errors.items())),
            "faults": dict(sorted(self.faults.items())),
        }


@dataclass
class Target:
    method: str
    user: str | None = None
    code: str | None = None

    @property
    def app_mode(self) -> bool:
        return self.user is None


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``key`` identifies the webhook or app for the operating-time limit."""

    key: str
    user_id: int
    scope: frozenset[str] | None = None


def webhook_key(user: int, code: str) -> str:
    """The operating-limit identity of a webhook (the code is hashed: it is a secret)."""
    return f"webhook:{user}:{hashlib.sha256(code.encode()).hexdigest()[:8]}"


def insufficient_scope(description: str = "") -> ApiError:
    """A scope the webhook/app lacks (401, as OAuthException sends it): APAuth\\Auth and OAuth\\Auth give a
    text; a batch command gets none (CRestServerBatchItem::checkAuth)."""
    return ApiError("insufficient_scope", description, 401)


def operation_time_limit() -> ApiError:
    return ApiError("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429)
