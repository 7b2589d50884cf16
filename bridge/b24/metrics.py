"""Prometheus metrics of the Bitrix24 client.  Labels name methods and error codes, never URLs."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALLS = Counter(
    "bridge_b24_calls",
    "Bitrix24 method calls by outcome; one per command, whether sent alone or inside a batch",
    ["method", "code"],
)
HTTP_REQUESTS = Counter(
    "bridge_b24_http_requests",
    "HTTP requests sent to the portal (a batch is one request, method=batch) by outcome",
    ["method", "code"],
)
REQUEST_SECONDS = Histogram(
    "bridge_b24_request_seconds",
    "Latency of one HTTP request to the portal",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 60),
)
BATCH_COMMANDS = Histogram(
    "bridge_b24_batch_commands",
    "Commands per batch request sent by the client",
    buckets=(1, 2, 5, 10, 20, 30, 40, 50),
)
RETRIES = Counter("bridge_b24_retries", "In-client retries of an HTTP request", ["method", "code"])
RATE_LIMIT_WAIT_SECONDS = Counter(
    "bridge_b24_rate_limit_wait_seconds", "Seconds spent waiting for a slot of the portal's leaky bucket"
)
RATE_LIMIT_SATURATIONS = Counter(
    "bridge_b24_rate_limit_saturations", "QUERY_LIMIT_EXCEEDED replies that pushed the shared bucket to full"
)
OPERATING_SECONDS = Gauge(
    "bridge_b24_method_operating_seconds",
    "Last reported time.operating of a method: its run time in the portal's 10-minute window",
    ["method"],
)
OPERATING_RESET_AT = Gauge(
    "bridge_b24_method_operating_reset_at",
    "Last reported time.operating_reset_at of a method (unix time)",
    ["method"],
)
METHOD_BLOCKED_UNTIL = Gauge(
    "bridge_b24_method_blocked_until",
    "Unix time until which the client holds calls of a method (OPERATION_TIME_LIMIT); 0 when not paused",
    ["method"],
)
OAUTH_REFRESHES = Counter(
    "bridge_b24_oauth_refreshes", "OAuth token refreshes by outcome (refreshed, adopted, failed)", ["outcome"]
)


def code_label(code: str) -> str:
    """An error code as a label value (the portal's empty code becomes ``EMPTY``)."""
    return code if code != "" else "EMPTY"
