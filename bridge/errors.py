"""One error tree for the whole bridge, split by what the consumer does next (``bridge/disposition.py``).

::

    BridgeError
    ├── ConfigError               bad settings or mapping file: refuse to start, say which key
    ├── RetryableError            the same work may succeed later
    │   ├── ServiceUnavailable        PAUSE: the service itself is down or refuses us; hold every message
    │   │   ├── InfrastructureError       PostgreSQL or RabbitMQ unreachable (bridge/edges.py)
    │   │   │   └── BrokerUnavailable         RabbitMQ: the consumer/relay reconnects, it never pauses on it
    │   │   ├── B24TransportError         network error, timeout, connection refused
    │   │   ├── B24ServerError            5xx without a known code, HTML error page
    │   │   ├── B24QueryLimitExceeded     503 QUERY_LIMIT_EXCEEDED (leaky bucket full)
    │   │   ├── B24PortalMoved            302 after a portal domain change: every call goes to the old address
    │   │   └── B24AuthError              webhook/app refused: NO_AUTH_FOUND, insufficient_scope, portal_deleted…
    │   │       └── B24TokenExpired           expired_token (the OAuth client refreshes once, then repeats)
    │   ├── B24OperationTimeLimit     HOLD: 429 OPERATION_TIME_LIMIT, only this message until reset_at
    │   └── B24ReplyTooLarge          RETRY: a reply over the HTTP client's size limit (this message's, not an outage)
    ├── DependencyMissing         WAIT: what this entity refers to is not in Bitrix24 yet; longer budget
    ├── NeedsReview               PARK FOR REVIEW: several (or only weak) existing records may be this 1C
    │                             object; stored for an operator (``b24bridge review``), nothing created
    └── PermanentError            DEAD-LETTER with the reason; retrying cannot help
        ├── PoisonMessage             unparseable body, unknown event type
        ├── DependencyExpired         waited out the wait budget (reason dependency_missing)
        ├── RetriesExhausted          an unexpected error outlasted every retry tier
        ├── B24AccessDenied           ACCESS_DENIED, "Access denied." (this record or field, not the webhook)
        ├── B24MethodNotFound         ERROR_METHOD_NOT_FOUND
        ├── B24NotFound               error "" with "Not found" / "… is not found"
        └── B24ValidationError        everything else the portal refused (ERROR_CORE, ERROR_ARGUMENT, "" …)

Anything else (a bug, a raw library error no edge turned into ours) goes through the retry tiers.
Every Bitrix24 error (``B24Error``) carries the method, the portal's ``error`` string, its description and
the HTTP status.  Messages never contain the webhook URL.  Library exceptions (httpx, aio-pika, asyncpg)
become these at the edge, in ``bridge/edges.py``, with ``raise … from exc``.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """Settings or mapping file are wrong; the message names the key and the reason."""


class RetryableError(BridgeError):
    """A transient failure: the same work may succeed later."""


class ServiceUnavailable(RetryableError):
    """A service every message needs (Bitrix24, PostgreSQL) is down or refuses the bridge itself: retrying
    one message cannot help until it is back, so the consumer holds everything and probes."""


class InfrastructureError(ServiceUnavailable):
    """PostgreSQL or RabbitMQ is unreachable or dropped the connection."""


class BrokerUnavailable(InfrastructureError):
    """RabbitMQ is unreachable, closed the connection or a channel, or did not confirm in time."""


class DependencyMissing(BridgeError):
    """The entity depends on another that Bitrix24 does not have yet (e.g. an order's company)."""

    def __init__(self, message: str, *, missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = missing or []


class NeedsReview(BridgeError):
    """Bitrix24 already holds records that may be this 1C object, and the matching rules cannot tell which
    (several candidates, or one weak one): an operator picks (``bridge/review.py``)."""

    def __init__(self, message: str, *, onec_type: str, onec_id: str, reason: str,
                 candidates: list[dict] | None = None, summary: str = "") -> None:
        super().__init__(message)
        self.onec_type = onec_type
        self.onec_id = onec_id
        self.reason = reason
        self.candidates = candidates or []
        self.summary = summary


class PermanentError(BridgeError):
    """Retrying cannot help: the message goes to the dead-letter queue with this reason."""

    reason = "permanent_error"


class PoisonMessage(PermanentError):
    """The message itself is broken (not JSON, not a v1 event, unknown event type)."""

    # every reason a caller gives (metrics create a dead-letter series for each at start-up)
    reasons = ("poison", "unparseable", "invalid_event", "unknown_event_type", "contract_violation",
               "checksum_mismatch")

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


class B24TransportError(B24Error, ServiceUnavailable):
    reason = "b24_unreachable"


class B24ServerError(B24Error, ServiceUnavailable):
    reason = "b24_server_error"


class B24QueryLimitExceeded(B24Error, ServiceUnavailable):
    reason = "b24_query_limit"


class B24OperationTimeLimit(B24Error, RetryableError):
    reason = "b24_operation_time_limit"

    def __init__(self, method: str, code: str, description: str = "", status: int | None = None,
                 reset_at: float | None = None) -> None:
        self.reset_at = reset_at
        super().__init__(method, code, description, status)


class B24ReplyTooLarge(B24Error, RetryableError):
    """A reply over :data:`bridge.b24.http11.MAX_BODY`: what this message asked for, so its retry tiers and
    then the DLQ, not a pause of every message as an outage would be."""

    reason = "b24_reply_too_large"


class B24AuthError(B24Error, ServiceUnavailable):
    """The portal refuses the webhook or app itself (deleted, scope missing, plan expired): every call would
    fail the same way, so it pauses rather than dead-letters; an operator fixes the portal side."""

    reason = "b24_auth"


class B24TokenExpired(B24AuthError):
    reason = "b24_token_expired"


class B24AccessDenied(B24Error, PermanentError):
    reason = "b24_access_denied"


class B24MethodNotFound(B24Error, PermanentError):
    reason = "b24_method_not_found"


class B24NotFound(B24Error, PermanentError):
    reason = "b24_not_found"


class B24PortalMoved(B24Error, ServiceUnavailable):
    """The portal answers 302: its domain changed and every call would fail alike until an operator puts the
    new address (``location``) into the setting, so it pauses rather than dead-letters every message."""

    reason = "b24_portal_moved"

    def __init__(self, method: str, code: str, description: str = "", status: int | None = None,
                 location: str | None = None) -> None:
        self.location = location
        super().__init__(method, code, description, status)


class B24ValidationError(B24Error, PermanentError):
    reason = "b24_rejected"


class DependencyExpired(PermanentError):
    """A missing dependency that did not appear within the wait budget."""

    reason = "dependency_missing"


class RetriesExhausted(PermanentError):
    """An unexpected error that outlasted every retry tier."""

    reason = "retries_exhausted"


def failure_reason(exc: BaseException) -> str:
    """A short machine-readable reason for logs, metrics and the DLQ ``x-reason`` header."""
    if isinstance(exc, DependencyMissing):
        return "dependency_missing"
    if isinstance(exc, NeedsReview):
        return "needs_review"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    if isinstance(exc, RetryableError):
        return "retryable"
    return "unexpected_error"
