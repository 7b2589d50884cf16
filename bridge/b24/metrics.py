"""Prometheus metrics of the Bitrix24 client.  Labels name methods and error codes, never URLs.

Registered nowhere by themselves: the consumer processes serve them (``bridge.metrics.registry``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALLS = Counter(
    "bridge_b24_calls",
    "Bitrix24 method calls by outcome; one per command, whether sent alone or inside a batch",
    ["method", "code"], registry=None,
)
HTTP_REQUESTS = Counter(
    "bridge_b24_http_requests",
    "HTTP requests sent to the portal (a batch is one request, method=batch) by outcome",
    ["method", "code"], registry=None,
)
REQUEST_SECONDS = Histogram(
    "bridge_b24_request_seconds",
    "Latency of one HTTP request to the portal",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 60), registry=None,
)
BATCH_COMMANDS = Histogram(
    "bridge_b24_batch_commands",
    "Commands per batch request sent by the client",
    buckets=(1, 2, 5, 10, 20, 30, 40, 50), registry=None,
)
RETRIES = Counter("bridge_b24_retries", "In-client retries of an HTTP request", ["method", "code"], registry=None)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "bridge_b24_rate_limit_wait_seconds", "Seconds spent waiting for a slot of the portal's leaky bucket",
    registry=None,
)
RATE_LIMIT_SATURATIONS = Counter(
    "bridge_b24_rate_limit_saturations", "QUERY_LIMIT_EXCEEDED replies that pushed the shared bucket to full",
    registry=None,
)
OPERATING_SECONDS = Gauge(
    "bridge_b24_method_operating_seconds",
    "Last reported time.operating of a method: its run time in the portal's 10-minute window",
    ["method"], registry=None,
)
OPERATING_RESET_AT = Gauge(
    "bridge_b24_method_operating_reset_timestamp_seconds",
    "Last reported time.operating_reset_at of a method (unix time)",
    ["method"], registry=None,
)
METHOD_BLOCKED_UNTIL = Gauge(
    "bridge_b24_method_blocked_until_timestamp_seconds",
    "Unix time until which the client holds calls of a method (OPERATION_TIME_LIMIT); 0 when not paused",
    ["method"], registry=None,
)
OAUTH_REFRESHES = Counter(
    "bridge_b24_oauth_refreshes", "OAuth token refreshes by outcome (refreshed, adopted, failed)", ["outcome"],
    registry=None,
)

OAUTH_OUTCOMES = ("refreshed", "adopted", "failed")

ALL = (CALLS, HTTP_REQUESTS, REQUEST_SECONDS, BATCH_COMMANDS, RETRIES, RATE_LIMIT_WAIT_SECONDS,
       RATE_LIMIT_SATURATIONS, OPERATING_SECONDS, OPERATING_RESET_AT, METHOD_BLOCKED_UNTIL, OAUTH_REFRESHES)


def init() -> None:
    """The label sets known before the first request (the OAuth outcomes) at 0."""
    for outcome in OAUTH_OUTCOMES:
        OAUTH_REFRESHES.labels(outcome)


def code_label(code: str) -> str:
    """An error code as a label value (the portal's empty code becomes ``EMPTY``)."""
    return code if code != "" else "EMPTY"
