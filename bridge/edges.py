"""Where library errors become ours: one context manager per library, used at every edge.

::

    with edges.postgres("outbox claim"):        # asyncpg: PostgreSQL away → InfrastructureError
        async with pool.acquire() as conn: ...
    with edges.broker("relay"):                 # aio-pika/aiormq: RabbitMQ away → BrokerUnavailable
        await exchange.publish(...)
    with edges.http(method, TRANSPORT, scrub):  # httpx or http11: no HTTP reply → B24TransportError
        response = await client.send(request)

Only failures of the service itself are translated.  PostgreSQL's refusal of a statement (a unique
violation, a missing table…) passes through unchanged, as before, unless the caller says the whole store is
unusable then (``every_error=True``: a rate-limit table or token store that cannot be read is as
unavailable as a server that is down).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aiormq
import asyncpg
import httpx

from .b24 import http11
from .errors import B24ReplyTooLarge, B24TransportError, BrokerUnavailable, InfrastructureError

# PostgreSQL is down, restarting, full, serving no writes or no longer letting the bridge in, or the
# connection broke (OSError covers refused/reset sockets and TimeoutError, as asyncpg raises them for connect
# and pool timeouts): nothing the bridge sends can succeed until that changes, whatever the message.
POSTGRES_DOWN: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.InterfaceError,  # connection closed or broken under a query
    asyncpg.CannotConnectNowError,  # 57P03: starting up / shutting down
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.DiskFullError,  # 53100 (not all of class 53: one message's query can run out of memory or temp space)
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a standby (a failover under way, or the DSN points at one)
    asyncpg.InvalidAuthorizationSpecificationError,  # class 28: the bridge's role or password gone
    asyncpg.InvalidCatalogNameError,  # 3D000: the database gone
    asyncpg.AdminShutdownError,  # 57P01: the server terminated the session
    asyncpg.CrashShutdownError,  # 57P02
    # a pooled connection the server cut mid-transaction during a restart: "cannot switch to state 15;
    # another operation (2) is in progress" (MagicStack/asyncpg#784); not a bug of ours (found by tests/chaos)
    asyncpg.InternalClientError,
)

# SQLSTATE classes of a statement refused for the values it was given: 22 data exception (a number out of
# numeric's range, a bad text encoding…), 54 program limit (a value too large to index).  Anything else — a
# read-only server after a failover, a lock or statement timeout, a deadlock, a full disk, a missing table,
# even a unique violation (the outbox's only one left after ON CONFLICT (event_id) is on its id: a sequence
# behind its rows after a restore) — is the store failing, not the row: retried, never blamed on the data.
DATA_REFUSALS = ("22", "54")

# RabbitMQ is away, or closed the connection or a channel (a closed channel must be rebuilt).
BROKER_DOWN: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    OSError,  # ConnectionError, TimeoutError (no confirm in time)
)


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


@contextmanager
def postgres(what: str, *, every_error: bool = False) -> Iterator[None]:
    """asyncpg failures of the server or connection → :class:`InfrastructureError` naming ``what``."""
    caught = POSTGRES_DOWN + (asyncpg.PostgresError,) if every_error else POSTGRES_DOWN
    try:
        yield
    except caught as exc:
        raise InfrastructureError(f"{what} unavailable: {_text(exc)}") from exc


def refuses_data(exc: BaseException) -> bool:
    """PostgreSQL refused these values, which no retry changes (:data:`DATA_REFUSALS`), or asyncpg could not
    encode one (a ValueError/OverflowError, e.g. a timestamp outside PostgreSQL's range): the one row is
    to blame, not the store."""
    if isinstance(exc, (ValueError, OverflowError)):
        return True
    return isinstance(exc, asyncpg.PostgresError) and str(exc.sqlstate or "")[:2] in DATA_REFUSALS


@contextmanager
def broker(what: str) -> Iterator[None]:
    """aio-pika/aiormq failures → :class:`BrokerUnavailable` naming ``what``."""
    try:
        yield
    except BROKER_DOWN as exc:
        raise BrokerUnavailable(f"{what}: RabbitMQ unavailable: {_text(exc)}") from exc


@contextmanager
def http(method: str, code: str, scrub: Callable[[str], str]) -> Iterator[None]:
    """Any httpx or :mod:`bridge.b24.http11` failure (no HTTP reply) → :class:`B24TransportError` for
    ``method`` with ``code`` (a reply over the size limit → :class:`B24ReplyTooLarge`); ``scrub`` takes
    secrets out of the text, since httpx may put the URL in its messages."""
    try:
        yield
    except http11.ReplyTooLarge as exc:  # the request's own: its retry tiers, not a pause of every message
        raise B24ReplyTooLarge(method, code, scrub(_text(exc)), None) from exc
    except (httpx.HTTPError, http11.HTTPError) as exc:
        raise B24TransportError(method, code, scrub(_text(exc)), None) from exc
