"""Every Prometheus metric the bridge exports, named in one place (dashboards and alerts refer to these).

Labels never carry secrets or unbounded values (no URLs, no ids): entity, event type, method, reason.

Each process exports only the families of the components it runs: :func:`registry` builds the registry
its ``/metrics`` serves (the ingest's, the relay's, the consumers', or all three for ``b24bridge run``;
the relay's include 1C's health, read from PostgreSQL, see :mod:`bridge.heartbeat`),
always with ``bridge_build_info``.  The metric objects themselves are module-level and registered nowhere
else, so importing a module never adds families to another component's page.

A labelled counter series that first appears at 1 is invisible to ``increase()``, so every label set an
alert or panel needs is created at 0 when its component starts: the ingest's and the relay's when their
registry is built (their label values are fixed), a consumer's by :func:`init_consumer` with its name.
``_created`` series are off: they double the series count and no rule reads them.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)

from . import build, topology
from .b24 import metrics as b24_metrics
from .errors import B24Error, PermanentError, failure_reason

disable_created_metrics()

# --- every process ------------------------------------------------------------------------------------
BUILD_INFO = Info("bridge_build", "Version and source revision of the running bridge (value 1)", registry=None)

# --- ingest -------------------------------------------------------------------------------------------
INGEST_REQUESTS = Counter("bridge_ingest_requests_total", "POST /v1/events requests by HTTP status", ["status"],
                          registry=None)
INGEST_EVENTS = Counter(
    "bridge_ingest_events_total", "Events received, by entity and result", ["entity", "result"], registry=None
)
INGEST_SECONDS = Histogram(
    "bridge_ingest_request_seconds", "Time to validate and durably store one request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=None,
)
# what POST /v1/events answers (see bridge.ingest) and what it says per event
INGEST_STATUSES = ("200", "400", "401", "403", "408", "413", "415", "500", "503")
INGEST_RESULTS = ("accepted", "duplicate", "rejected")

# --- outbox and relay ---------------------------------------------------------------------------------
OUTBOX_PENDING = Gauge("bridge_outbox_pending", "Outbox rows not yet published, by entity", ["entity"],
                       registry=None)
OUTBOX_OLDEST_AGE = Gauge(
    "bridge_outbox_oldest_pending_seconds", "Age of the oldest unpublished outbox row, by entity", ["entity"],
    registry=None,
)
RELAY_PUBLISHED = Counter("bridge_relay_published_total", "Events published with a broker confirm", ["entity"],
                          registry=None)
RELAY_FAILED = Counter("bridge_relay_publish_failures_total", "Publishes that failed (row kept)", ["reason"],
                       registry=None)
RELAY_BATCH_SECONDS = Histogram(
    "bridge_relay_batch_seconds", "Claim → publish → confirm → mark, per batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=None,
)
RELAY_LAST_SUCCESS = Gauge("bridge_relay_last_cycle_timestamp_seconds",
                           "When the relay last finished a cycle (0 until its first); only relays export it",
                           registry=None)

# --- 1C health: the latest heartbeat of each 1C base (bridge.heartbeat), set from PostgreSQL by the relay ---
ONEC_PENDING = Gauge("bridge_onec_pending", "Changes waiting in 1C's own queue, by 1C base (its last heartbeat)",
                     ["source"], registry=None)
ONEC_OLDEST_PENDING = Gauge(
    "bridge_onec_oldest_pending_seconds",
    "Seconds 1C's queue had not been empty at its last heartbeat (≥ the oldest waiting change's age)", ["source"],
    registry=None,
)
ONEC_REJECTED = Gauge("bridge_onec_rejected", "Objects whose last send 1C marked «Отклонено», by 1C base",
                      ["source"], registry=None)
ONEC_LAST_HEARTBEAT = Gauge("bridge_onec_last_heartbeat_timestamp_seconds",
                            "When the bridge last received a heartbeat from this 1C base", ["source"],
                            registry=None)
ONEC_SENDER_INFO = Gauge("bridge_onec_sender_info", "The 1C module and platform versions of each base (value 1)",
                         ["source", "module_version", "platform_version"], registry=None)
ONEC_WORKING_HOURS = Gauge("bridge_onec_working_hours",
                           "1 within BRIDGE_WORKING_HOURS, when 1C must post heartbeats; 0 outside", registry=None)
ONEC_GAUGES = (ONEC_PENDING, ONEC_OLDEST_PENDING, ONEC_REJECTED, ONEC_LAST_HEARTBEAT, ONEC_SENDER_INFO)

# --- consumers ----------------------------------------------------------------------------------------
CONSUMED = Counter(
    "bridge_consumer_messages_total", "Messages handled, by consumer and outcome", ["consumer", "outcome"],
    registry=None,
)
CONSUME_SECONDS = Histogram(
    "bridge_consumer_handle_seconds", "Time to apply one message to Bitrix24", ["consumer"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=None,
)
RETRIES = Counter("bridge_consumer_retries_total", "Messages sent to a delay tier", ["consumer", "reason"],
                  registry=None)
DEAD_LETTERS = Counter("bridge_consumer_dead_letters_total", "Messages dead-lettered", ["consumer", "reason"],
                       registry=None)
DEAD_LETTERS_STORED = Counter("bridge_dead_letters_stored_total",
                              "Dead letters the sink moved from RabbitMQ into PostgreSQL", ["queue", "reason"],
                              registry=None)
DEPENDENCY_WAITS = Counter(
    "bridge_consumer_dependency_waits_total", "Messages parked because a dependency is missing", ["consumer"],
    registry=None,
)
DEPENDENCY_WAITS_IN_HAND = Counter(
    "bridge_consumer_dependency_waits_in_hand_total",
    "Messages that looked again in hand for a missing dependency: resolved (applied without the wait "
    "queue) or queued (still missing, sent to the wait queue)", ["consumer", "result"],
    registry=None,
)
LEASE_WAIT = Histogram(
    "bridge_consumer_lease_wait_seconds",
    "Time a unit of work waited for a 1C object's lease (two events of one counterparty, product or document): "
    "held by another task of this process, or by another consumer process (polled; a document's merge lock "
    "in PostgreSQL is not counted)", ["holder"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=None,
)
LEASE_HOLDERS = ("this_process", "another_process")
HAND_OVERS = Counter(
    "bridge_consumer_hand_overs_total",
    "Documents that found their order's deal being pushed and left the recompute to that push (which redoes "
    "it once more when it gives the lease back) instead of waiting for it: held by another task of this "
    "process, or by another consumer process", ["holder"], registry=None,
)
RESYNC_SWEPT = Counter(
    "bridge_deal_resync_swept_total",
    "Orders the deal consumer's sweep recomputed because their facts had waited over a minute (a push that "
    "took a hand-over died, or an event that would recompute them failed), by result", ["result"],
    registry=None,
)
SWEEP_RESULTS = ("settled", "handed_over", "failed")
PAUSED = Gauge("bridge_consumer_paused", "1 while a consumer holds back because Bitrix24 is failing", ["consumer"],
               registry=None)
END_TO_END = Histogram(
    "bridge_end_to_end_seconds", "From 1C's occurred_at to applied in Bitrix24", ["consumer"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600), registry=None,
)
# events parked for an operator because Bitrix24 already holds records that may be their 1C object
REVIEW_PARKED = Counter("bridge_review_parked_total", "Events parked for review (matching could not pick one "
                        "existing Bitrix24 record), by 1C object type and reason", ["entity", "reason"],
                        registry=None)
REVIEW_OPEN = Gauge("bridge_review_open", "Review items waiting for an operator, by consumer (as this process last read "
                    "them: at a park and every 30 s)", ["consumer"], registry=None)
APPLY_LATENCY = Histogram(
    "bridge_consumer_apply_latency_seconds",
    "From the ingest's acceptance of an event (its 200) to the consumer applying it in Bitrix24", ["entity"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300, 900, 3600), registry=None,
)
# outcomes the consumer counts besides its handlers' own (bridge.consumer.Outcome)
HANDLING_OUTCOMES = ("parked", "dead_lettered", "waiting", "retried", "review")

# --- deals --------------------------------------------------------------------------------------------
PAID_NOTIFICATIONS = Counter("bridge_deal_paid_notifications_total", "'Client paid' notifications sent",
                             registry=None)
UNMAPPED_USERS = Counter(
    "bridge_deal_unmapped_users_total", "1C users with no Bitrix24 user (counted once per process)", registry=None
)

# --- field ownership (docs/ownership.md) ----------------------------------------------------------------
OWNED_OVERWRITES = Counter(
    "bridge_consumer_owned_field_overwrites_total",
    "Manual edits in Bitrix24 of fields 1C owns, put back to 1C's value by a 1C change, by entity and field",
    ["entity", "field"], registry=None,
)

# --- console ------------------------------------------------------------------------------------------
CONSOLE_LOGINS = Counter("bridge_console_logins_total", "Console form logins, by result (ok, refused)", ["result"],
                         registry=None)
CONSOLE_ACTIONS = Counter("bridge_console_dead_letters_marked_total",
                          "Dead letters replayed or purged from the console", ["action"], registry=None)

# --- reconcile (`b24bridge reconcile --every`) --------------------------------------------------------
RECONCILE_DRIFT = Gauge(
    "bridge_reconcile_drift", "Findings of the last reconcile run: Bitrix24 records missing, duplicated, twinned, "
    "drifted, with a wrong amount or stage, by entity and kind", ["entity", "kind"], registry=None)
RECONCILE_LAST_RUN = Gauge("bridge_reconcile_last_run_timestamp_seconds",
                           "Unix time the last reconcile run finished (the process's start until then)",
                           registry=None)

# --- which process exports what ----------------------------------------------------------------------
COMPONENTS = {
    "ingest": (INGEST_REQUESTS, INGEST_EVENTS, INGEST_SECONDS),
    "relay": (OUTBOX_PENDING, OUTBOX_OLDEST_AGE, RELAY_PUBLISHED, RELAY_FAILED, RELAY_BATCH_SECONDS,
              RELAY_LAST_SUCCESS, *ONEC_GAUGES, ONEC_WORKING_HOURS),
    "consumer": (CONSUMED, CONSUME_SECONDS, RETRIES, DEAD_LETTERS, DEAD_LETTERS_STORED, DEPENDENCY_WAITS,
                 DEPENDENCY_WAITS_IN_HAND, LEASE_WAIT, HAND_OVERS, RESYNC_SWEPT, PAUSED,
                 END_TO_END, APPLY_LATENCY, REVIEW_PARKED, REVIEW_OPEN,
                 PAID_NOTIFICATIONS, UNMAPPED_USERS, OWNED_OVERWRITES, *b24_metrics.ALL),
    "console": (CONSOLE_LOGINS, CONSOLE_ACTIONS),
    "reconcile": (RECONCILE_DRIFT, RECONCILE_LAST_RUN),
}


def registry(*components: str) -> CollectorRegistry:
    """The registry a process serves on ``/metrics``: build info, process metrics and the families of
    ``components`` (``ingest``, ``relay``, ``consumer``, ``console``), with their fixed label sets at 0."""
    unknown = set(components) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown components {sorted(unknown)}; known: {sorted(COMPONENTS)}")
    out = CollectorRegistry(auto_describe=True)
    BUILD_INFO.info({"version": build.VERSION, "revision": build.revision()})
    for collector in (BUILD_INFO, PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        out.register(collector)
    for component in dict.fromkeys(components):
        for metric in COMPONENTS[component]:
            out.register(metric)
        _INIT.get(component, lambda: None)()
    return out


def exposition(reg: CollectorRegistry) -> tuple[bytes, str]:
    """The text a ``/metrics`` request answers, and its content type."""
    return generate_latest(reg), CONTENT_TYPE_LATEST


def dead_letter_reasons() -> list[str]:
    """Every reason a dead letter can carry, read from the error classes (``reason``, and ``reasons`` for
    a class whose instances choose one, like PoisonMessage)."""
    found: set[str] = set()
    todo: list[type] = [PermanentError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for value in (cls.__dict__.get("reason"), *cls.__dict__.get("reasons", ())):
            if isinstance(value, str):
                found.add(value)
    return sorted(found)


def retry_reasons() -> list[str]:
    """Reasons an event goes to a retry tier: errors the bridge does not classify (RetryableError pauses
    the consumer instead; PermanentError dead-letters)."""
    return sorted({failure_reason(Exception()), B24Error.reason})


def init_consumer(name: str, outcomes: Iterable[str] = ()) -> None:
    """Create every series of consumer ``name`` at 0, so the first dead letter, retry or wait of a kind
    is an increase that alerts see (called when the consumer starts)."""
    for outcome in (*outcomes, *HANDLING_OUTCOMES):
        CONSUMED.labels(name, outcome)
    for reason in dead_letter_reasons():
        DEAD_LETTERS.labels(name, reason)
    for reason in retry_reasons():
        RETRIES.labels(name, reason)
    DEPENDENCY_WAITS.labels(name)
    for result in ("resolved", "queued"):
        DEPENDENCY_WAITS_IN_HAND.labels(name, result)
    REVIEW_OPEN.labels(name)
    for holder in LEASE_HOLDERS:
        LEASE_WAIT.labels(holder)
        HAND_OVERS.labels(holder)
    for result in SWEEP_RESULTS:
        RESYNC_SWEPT.labels(result)
    PAUSED.labels(name).set(0)
    CONSUME_SECONDS.labels(name)
    END_TO_END.labels(name)


def _init_ingest() -> None:
    for status in INGEST_STATUSES:
        INGEST_REQUESTS.labels(status)
    for entity in (*topology.ENTITIES, "unknown"):
        for result in INGEST_RESULTS:
            INGEST_EVENTS.labels(entity, result)


def _init_relay() -> None:
    for entity in topology.ENTITIES:
        RELAY_PUBLISHED.labels(entity)
        OUTBOX_PENDING.labels(entity)
        OUTBOX_OLDEST_AGE.labels(entity)


def _init_console() -> None:
    for result in ("ok", "refused"):
        CONSOLE_LOGINS.labels(result)
    for action in ("replay", "purge"):
        CONSOLE_ACTIONS.labels(action)


_INIT = {"ingest": _init_ingest, "relay": _init_relay, "consumer": b24_metrics.init, "console": _init_console}
