"""Every Prometheus metric the bridge exports, named in one place (dashboards and alerts refer to these).

Labels never carry secrets or unbounded values (no URLs, no ids): entity, event type, method, reason.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- ingest -------------------------------------------------------------------------------------------
INGEST_REQUESTS = Counter("bridge_ingest_requests_total", "POST /v1/events requests by HTTP status", ["status"])
INGEST_EVENTS = Counter(
    "bridge_ingest_events_total", "Events received, by entity and result", ["entity", "result"]
)
INGEST_SECONDS = Histogram(
    "bridge_ingest_request_seconds", "Time to validate and durably store one request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# --- outbox and relay ---------------------------------------------------------------------------------
OUTBOX_PENDING = Gauge("bridge_outbox_pending", "Outbox rows not yet published, by entity", ["entity"])
OUTBOX_OLDEST_AGE = Gauge(
    "bridge_outbox_oldest_pending_seconds", "Age of the oldest unpublished outbox row, by entity", ["entity"]
)
RELAY_PUBLISHED = Counter("bridge_relay_published_total", "Events published with a broker confirm", ["entity"])
RELAY_FAILED = Counter("bridge_relay_publish_failures_total", "Publishes that failed (row kept)", ["reason"])
RELAY_BATCH_SECONDS = Histogram(
    "bridge_relay_batch_seconds", "Claim → publish → confirm → mark, per batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RELAY_LAST_SUCCESS = Gauge("bridge_relay_last_cycle_timestamp_seconds", "When the relay last finished a cycle")

# --- consumers ----------------------------------------------------------------------------------------
CONSUMED = Counter(
    "bridge_consumer_messages_total", "Messages handled, by consumer and outcome", ["consumer", "outcome"]
)
CONSUME_SECONDS = Histogram(
    "bridge_consumer_handle_seconds", "Time to apply one message to Bitrix24", ["consumer"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RETRIES = Counter("bridge_consumer_retries_total", "Messages sent to a delay tier", ["consumer", "reason"])
DEAD_LETTERS = Counter("bridge_consumer_dead_letters_total", "Messages dead-lettered", ["consumer", "reason"])
DEAD_LETTERS_STORED = Counter("bridge_dead_letters_stored_total",
                              "Dead letters the sink moved from RabbitMQ into PostgreSQL", ["queue", "reason"])
DEPENDENCY_WAITS = Counter(
    "bridge_consumer_dependency_waits_total", "Messages parked because a dependency is missing", ["consumer"]
)
PAUSED = Gauge("bridge_consumer_paused", "1 while a consumer holds back because Bitrix24 is failing", ["consumer"])
END_TO_END = Histogram(
    "bridge_end_to_end_seconds", "From 1C's occurred_at to applied in Bitrix24", ["consumer"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)

# --- deals --------------------------------------------------------------------------------------------
PAID_NOTIFICATIONS = Counter("bridge_deal_paid_notifications_total", "'Client paid' notifications sent")
UNMAPPED_USERS = Counter(
    "bridge_deal_unmapped_users_total", "1C users with no Bitrix24 user (counted once per process)"
)
