"""One error tree for the whole bridge, split by what the caller does next.

::

    BridgeError
    ├── ConfigError               bad settings or mapping file: refuse to start, say which key
    ├── RetryableError            try again later (delay tiers; pause while Bitrix24 is down)
    │   ├── B24TransportError         network error, timeout, connection refused
    │   ├── B24ServerError            5xx without a known code, HTML error page
    │   ├── B24QueryLimitExceeded     503 QUERY_LIMIT_EXCEEDED (leaky bucket full)
    │   ├── B24OperationTimeLimit     429 OPERATION_TIME_LIMIT (one method paused until reset_at)
    │   └── InfrastructureError       PostgreSQL or RabbitMQ unreachable
    ├── DependencyMissing         what this entity refers to is not in Bitrix24 yet: wait, longer budget
    └── PermanentError            dead-letter with the reason; retrying cannot help
        ├── PoisonMessage             unparseable body, unknown event type
        ├── B24AuthError              NO_AUTH_FOUND, INVALID_CREDENTIALS, insufficient_scope, invalid_grant…
        │   └── B24TokenExpired           expired_token (the OAuth client refreshes once, then repeats)
        ├── B24AccessDenied           ACCESS_DENIED, "Access denied."
        ├── B24MethodNotFound         ERROR_METHOD_NOT_FOUND
        ├── B24NotFound               error "" with "Not found" / "… is not found"
        ├── B24PortalMoved            302 after a portal domain change
        └── B24ValidationError        everything else the portal refused (ERROR_CORE, ERROR_ARGUMENT, "" …)

Every Bitrix24 error (``B24Error``) carries the method, the portal's ``error`` string, its description and
the HTTP status.  Messages never contain the webhook URL.  Library exceptions (httpx, aio-pika, asyncpg)
become these at the adapter edge with ``raise … from exc``.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """Settings or mapping file are wrong; the message names the key and the reason."""


class RetryableError(BridgeError):
    """A transient failure: the same work may succeed later."""


class InfrastructureError(RetryableError):
    """PostgreSQL or RabbitMQ is unreachable or dropped the connection."""


class DependencyMissing(BridgeError):
    """The entity depends on another that Bitrix24 does not have yet (e.g. an order's company)."""

    def __init__(self, message: str, *, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing or []


class PermanentError(BridgeError):
    """Retrying cannot help: the message goes to the dead-letter queue with this reason."""

    reason = "permanent_error"


class PoisonMessage(PermanentError):
    """The message itself is broken (not JSON, not a v1 event, unknown event type)."""

    # every reason a caller gives (metrics create a dead-letter series for each at start-up)
    reasons = ("poison", "unparseable", "invalid_event", "unknown_event_type", "contract_violation")

    def __init__(self, message: str, *, reason: str = "poison") -> None:
        super().__init__(message)
        self.reason = reason


class B24Error(BridgeError):
    """An error answered by (or on the way to) Bitrix24."""

    reason = "b24_error"

    def __init__(self, method: str, code: str, description: str = "", status: int | None = None) -> None:
        self.method = method
        self.code = code
        self.description = description
        self.status = status
        super().__init__(self._text())

    def _text(self) -> str:
        code = self.code if self.code != "" else '""'
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.method}: {code}{status}: {self.description}".rstrip(": ")


class B24TransportError(B24Error, RetryableError):
    reason = "b24_unreachable"


class B24ServerError(B24Error, RetryableError):
    reason = "b24_server_error"


class B24QueryLimitExceeded(B24Error, RetryableError):
    reason = "b24_query_limit"


class B24OperationTimeLimit(B24Error, RetryableError):
    reason = "b24_operation_time_limit"

    def __init__(self, method: str, code: str, description: str = "", status: int | None = None,
                 reset_at: float | None = None) -> None:
        self.reset_at = reset_at
        super().__init__(method, code, description, status)


class B24AuthError(B24Error, PermanentError):
    reason = "b24_auth"


class B24TokenExpired(B24AuthError):
    reason = "b24_token_expired"


class B24AccessDenied(B24Error, PermanentError):
    reason = "b24_access_denied"


class B24MethodNotFound(B24Error, PermanentError):
    reason = "b24_method_not_found"


class B24NotFound(B24Error, PermanentError):
    reason = "b24_not_found"


class B24PortalMoved(B24Error, PermanentError):
    reason = "b24_portal_moved"

    def __init__(self, method: str, code: str, description: str = "", status: int | None = None,
                 location: str | None = None) -> None:
        self.location = location
        super().__init__(method, code, description, status)


class B24ValidationError(B24Error, PermanentError):
    reason = "b24_rejected"


def failure_reason(exc: BaseException) -> str:
    """A short machine-readable reason for logs, metrics and the DLQ ``x-reason`` header."""
    if isinstance(exc, DependencyMissing):
        return "dependency_missing"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    if isinstance(exc, RetryableError):
        return "retryable"
    return "unexpected_error"
