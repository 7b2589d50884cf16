"""The failure table: one row per error class and per Bitrix24 error code the envelope knows, each with the
decision the consumer obeys (bridge/disposition.py).  Bitrix24 rows go through the real envelope parser, so
a code moved to another class shows up here as a changed decision."""

from __future__ import annotations

import aiormq
import asyncpg
import httpx
import pytest

from bridge import edges
from bridge.b24 import http11
from bridge.b24.envelope import error_from, parse_reply
from bridge.disposition import DeadLetter, Hold, Pause, Retry, Wait, decide
from bridge.errors import (
    B24OperationTimeLimit,
    B24TransportError,
    BrokerUnavailable,
    ConfigError,
    DependencyExpired,
    DependencyMissing,
    InfrastructureError,
    PoisonMessage,
    RetriesExhausted,
    RetryableError,
    failure_reason,
)
from onec_outbox.contract import ContractViolation, parse_event

NOW = 1_750_000_000.0
TIERS = 3  # retry tiers of the target
BUDGET = 3600.0  # wait budget


def b24(code: str, status: int | None, description: str = ""):
    return error_from("crm.company.add", {"error": code, "error_description": description}, status)


def reply(status: int, body: bytes, content_type: str = "application/json", location: str | None = None):
    try:
        parse_reply("crm.company.add", status, content_type, body, location=location)
    except Exception as exc:  # noqa: BLE001 - the typed error is the row
        return exc
    raise AssertionError("the reply parsed as a success")


# (error, decision) — every code of bridge/b24/envelope.py, with the HTTP status the portal sends it with
# (docs/reference bitrix24-api.md §2.3; None: a command inside a batch, which has no status of its own).
BITRIX24 = [
    # the portal itself is down or over its limits: pause everything
    (b24("QUERY_LIMIT_EXCEEDED", 503, "Too many requests"), Pause()),
    (b24("QUERY_LIMIT_EXCEEDED", None), Pause()),
    (b24("INTERNAL_SERVER_ERROR", 500), Pause()),
    (b24("ERROR_UNEXPECTED_ANSWER", 500), Pause()),
    (b24("OVERLOAD_LIMIT", 503), Pause()),
    (b24("SOMETHING_NEW", 502), Pause()),  # an unknown code with a 5xx
    (b24("", 500, "SQL query error!"), Pause()),
    (reply(502, b"<html><title>502 Bad Gateway</title></html>", "text/html"), Pause()),  # BRIDGE_NON_JSON
    (reply(200, b"[1, 2]"), Pause()),  # BRIDGE_BAD_REPLY
    (B24TransportError("crm.company.add", "BRIDGE_TRANSPORT", "ConnectError: refused"), Pause()),
    # the webhook or app is refused: every call would fail alike, so pause rather than dead-letter all
    (b24("NO_AUTH_FOUND", 401, "Wrong authorization data"), Pause()),
    (b24("INVALID_CREDENTIALS", 401, "Invalid request credentials"), Pause()),
    (b24("insufficient_scope", 401), Pause()),
    (b24("invalid_token", 401), Pause()),
    (b24("expired_token", 401, "The access token provided has expired."), Pause()),
    (b24("authorization_error", 401), Pause()),
    (b24("WRONG_AUTH_TYPE", 403), Pause()),
    (b24("application_not_found", 401), Pause()),
    (b24("INVALID_REQUEST", 400, "Https required."), Pause()),
    (b24("invalid_grant", 400), Pause()),
    (b24("invalid_client", 401), Pause()),
    (b24("invalid_scope", 400), Pause()),
    (b24("PAYMENT_REQUIRED", 402), Pause()),
    (b24("PORTAL_DELETED", 403), Pause()),
    # the portal moved to another domain: every call answers 302 until the setting has the new address
    (reply(302, b"", location="https://new.bitrix24.ru/rest/"), Pause()),
    # one method's run-time budget: hold only this message until the portal's reset
    (B24OperationTimeLimit("crm.deal.update", "OPERATION_TIME_LIMIT", "", 429, reset_at=NOW + 42), Hold(42.0)),
    (B24OperationTimeLimit("crm.deal.update", "OPERATION_TIME_LIMIT", "", 429, reset_at=NOW - 5), Hold(1.0)),
    (B24OperationTimeLimit("crm.deal.update", "OPERATION_TIME_LIMIT", "", 429, reset_at=NOW + 7200), Hold(600.0)),
    (b24("OPERATION_TIME_LIMIT", 429, "Method is blocked due to operation time limit."), Hold(1.0)),  # no reset_at
    # the portal refused this message's data or record: dead-letter with the reason operators filter on
    (b24("ACCESS_DENIED", 403, "Access denied!"), DeadLetter("b24_access_denied")),
    (b24("user_access_error", 403), DeadLetter("b24_access_denied")),
    (b24("", 400, "Access denied."), DeadLetter("b24_access_denied")),
    (b24("ERROR_METHOD_NOT_FOUND", 404, "Method not found!"), DeadLetter("b24_method_not_found")),
    (b24("NOT_FOUND", 404), DeadLetter("b24_not_found")),
    (b24("OWNER_NOT_FOUND", 400), DeadLetter("b24_not_found")),
    (b24("", 400, "Not found"), DeadLetter("b24_not_found")),
    (b24("", 400, "The Requisite with ID '5' is not found"), DeadLetter("b24_not_found")),
    (b24("", 400, "TypeAddress not found"), DeadLetter("b24_not_found")),
    (b24("ERROR_CORE", 400, "Invalid e-mail"), DeadLetter("b24_rejected")),
    (b24("ERROR_ARGUMENT", 400), DeadLetter("b24_rejected")),
    (b24("ERROR_BATCH_LENGTH_EXCEEDED", None), DeadLetter("b24_rejected")),
    (b24("ERROR_BATCH_METHOD_NOT_ALLOWED", None), DeadLetter("b24_rejected")),
    (b24("", 400, "Parameter 'fields' must be array."), DeadLetter("b24_rejected")),
    (b24("", 400, "The 'FIELD_NAME' field is not found."), DeadLetter("b24_rejected")),  # bad input, not a record
    (reply(400, b'{"foo": 1}'), DeadLetter("b24_rejected")),  # BRIDGE_BAD_REPLY with a 4xx
]


@pytest.mark.parametrize("exc, decision", BITRIX24, ids=lambda v: repr(v)[:70] if isinstance(v, Exception) else "")
def test_each_bitrix24_error_gets_its_decision(exc, decision):
    assert decide(exc, now=NOW, attempt=0, retry_tiers=TIERS) == decision


def _contract_violation() -> ContractViolation:
    try:
        parse_event({"event_type": "counterparty.upserted"})
    except ContractViolation as exc:
        return exc
    raise AssertionError("the event parsed")


# (error, attempt, waiting_since, decision) — the bridge's own classes and what is left over
BRIDGE = [
    (InfrastructureError("PostgreSQL unavailable: ConnectionRefusedError"), 0, None, Pause()),
    (BrokerUnavailable("RabbitMQ unavailable"), 0, None, Pause()),
    (DependencyMissing("company not in Bitrix24 yet"), 0, None, Wait(NOW)),
    (DependencyMissing("company not in Bitrix24 yet"), 0, NOW - 600, Wait(NOW - 600)),
    (DependencyMissing("company not in Bitrix24 yet"), 0, NOW - BUDGET - 1, DeadLetter("dependency_missing")),
    (PoisonMessage("not JSON", reason="not_json"), 0, None, DeadLetter("not_json")),
    (PoisonMessage("unknown type", reason="unknown_event_type"), 0, None, DeadLetter("unknown_event_type")),
    (_contract_violation(), 0, None, DeadLetter("contract_violation")),
    (DependencyExpired("waited a day"), 0, None, DeadLetter("dependency_missing")),
    (RetriesExhausted("after 3 retries"), 0, None, DeadLetter("retries_exhausted")),
    # anything else is a surprise: the retry tiers, counted, then the DLQ
    (RuntimeError("boom"), 0, None, Retry(0)),
    (RuntimeError("boom"), TIERS - 1, None, Retry(TIERS - 1)),
    (RuntimeError("boom"), TIERS, None, DeadLetter("retries_exhausted")),
    (KeyError("ID"), 1, NOW - 10, Retry(1)),
    (ConfigError("mapping changed under us"), 0, None, Retry(0)),
    (RetryableError("transient, this message only"), 0, None, Retry(0)),
]


@pytest.mark.parametrize("exc, attempt, since, decision", BRIDGE, ids=lambda v: type(v).__name__)
def test_each_bridge_error_gets_its_decision(exc, attempt, since, decision):
    assert decide(exc, now=NOW, attempt=attempt, retry_tiers=TIERS, waiting_since=since,
                  wait_budget=BUDGET) == decision


def _through(edge, exc: BaseException) -> BaseException:
    try:
        with edge:
            raise exc
    except BaseException as out:  # noqa: BLE001 - what leaves the edge is the row
        return out
    raise AssertionError("unreachable")


# (edge, raw library error, decision of what leaves the edge)
EDGES = [
    (edges.postgres("PostgreSQL"), ConnectionRefusedError(111, "Connection refused"), Pause()),
    (edges.postgres("PostgreSQL"), TimeoutError(), Pause()),
    (edges.postgres("PostgreSQL"), asyncpg.ConnectionDoesNotExistError("connection was closed"), Pause()),
    (edges.postgres("PostgreSQL"), asyncpg.InterfaceError("connection is closed"), Pause()),
    (edges.postgres("PostgreSQL"), asyncpg.TooManyConnectionsError("sorry, too many clients"), Pause()),
    (edges.postgres("PostgreSQL"), asyncpg.CannotConnectNowError("the database system is starting up"), Pause()),
    (edges.postgres("PostgreSQL"), asyncpg.AdminShutdownError("terminating connection"), Pause()),
    # a server that cannot serve anyone right now (a standby after a failover, a full disk, the database or
    # the bridge's role gone): every message would burn its retries on it; pausing waits it out
    (edges.postgres("PostgreSQL"), asyncpg.ReadOnlySQLTransactionError("read-only transaction"), Pause()),
    (edges.postgres("PostgreSQL"), asyncpg.DiskFullError("could not extend file"), Pause()),
    (edges.postgres("PostgreSQL"), asyncpg.InvalidCatalogNameError('database "bridge" does not exist'), Pause()),
    (edges.postgres("PostgreSQL"), asyncpg.InvalidPasswordError("password authentication failed"), Pause()),
    # PostgreSQL refusing the statement is the caller's business (or a bug): it passes unchanged
    (edges.postgres("PostgreSQL"), asyncpg.UniqueViolationError("duplicate key"), Retry(0)),
    (edges.postgres("PostgreSQL"), asyncpg.SerializationError("could not serialize"), Retry(0)),
    # ...unless the whole store is unusable without it (the shared rate limit, the OAuth token store)
    (edges.postgres("token store", every_error=True), asyncpg.UndefinedTableError("no table"), Pause()),
    (edges.broker("relay"), aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"), Pause()),
    (edges.broker("relay"), aiormq.exceptions.ChannelInvalidStateError("channel closed"), Pause()),
    (edges.http("crm.company.add", "BRIDGE_TRANSPORT", str), httpx.ConnectError("refused"), Pause()),
    (edges.http("crm.company.add", "BRIDGE_TRANSPORT", str), httpx.ReadTimeout("timed out"), Pause()),
    (edges.http("crm.company.add", "BRIDGE_TRANSPORT", str), http11.RemoteProtocolError("hung up"), Pause()),
    # a reply over the client's size limit is this message's: its retry tiers, not a pause of every message
    (edges.http("crm.product.list", "BRIDGE_TRANSPORT", str), http11.ReplyTooLarge("over 33,554,432 bytes"),
     Retry(0)),
]


@pytest.mark.parametrize("edge, raw, decision", EDGES, ids=[type(raw).__name__ for _, raw, _ in EDGES])
def test_raw_library_errors_are_decided_after_their_edge(edge, raw, decision):
    out = _through(edge, raw)
    assert decide(out, now=NOW, attempt=0, retry_tiers=TIERS) == decision
    assert out is raw or out.__cause__ is raw


def test_the_http_edge_keeps_secrets_out_of_the_message():
    out = _through(edges.http("crm.company.add", "BRIDGE_TRANSPORT", lambda t: t.replace("s3cr3t", "***")),
                   httpx.ConnectError("cannot reach https://portal/rest/1/s3cr3t/"))
    assert isinstance(out, B24TransportError) and "s3cr3t" not in str(out) and "***" in str(out)


def test_a_dead_letter_carries_the_reason_and_text_the_dlq_headers_show():
    exc = b24("ERROR_CORE", 400, "Invalid e-mail")
    assert decide(exc, now=NOW) == DeadLetter(failure_reason(exc))
    assert decide(exc, now=NOW).error == str(exc)
    exhausted = decide(RuntimeError("boom"), now=NOW, attempt=TIERS, retry_tiers=TIERS)
    assert exhausted.error == f"after {TIERS} retries: RuntimeError('boom')"
    retried = decide(RuntimeError("boom"), now=NOW, attempt=1, retry_tiers=TIERS)
    assert (retried.reason, retried.error) == ("unexpected_error", "RuntimeError('boom')")
