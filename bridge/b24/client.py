"""``B24Client``: the one way the bridge talks to Bitrix24 REST.

::

    page = await client.call_page("crm.company.list", {"filter": {"ORIGIN_ID": guid}})
    company_id = await client.call("crm.company.add", {"fields": {...}})
    async for row in client.iterate("crm.company.list", {"select": ["ID"]}, fast=True): ...
    result = await client.batch({"co": ("crm.company.get", {"id": 1})})

Layers, from the caller down: per-method pause (``OPERATION_TIME_LIMIT``) → coalescing into batches
→ one HTTP request with retries (rate-limit slot, auth, send, parse, backoff) → the edge.  Method names
live in ``methods.py``, paging helpers in ``paging.py``, the HTTP edge in ``transport.py``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from ..errors import (
    B24Error,
    B24OperationTimeLimit,
    B24QueryLimitExceeded,
    B24ServerError,
    B24TokenExpired,
    B24TransportError,
)
from . import calls, metrics
from .auth import Auth, OAuthAuth
from .coalescer import Coalescer, chain_ref, step_token
from .envelope import COMMAND_MISSING, PAUSED, BatchResult, Page, items_of, parse_batch, parse_reply
from .limits import (
    DEFAULT_BATCHING,
    DEFAULT_OPERATING_LIMIT,
    DEFAULT_RATE_LIMIT,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    PAGE_SIZE,
    Batching,
    OperatingLimit,
    RateLimit,
    RetryPolicy,
    Timeouts,
)
from .methods import is_read_only, normalize_method
from .operating import OperatingTracker
from .paging import fresh_rows, iterate_fast
from .query import Unencodable, build_command, json_body
from .ratelimit import Bucket, LocalBucket
from .transport import USER_AGENT, Edge, HttpClient, never_sent

log = logging.getLogger("bridge.b24")


def _resolved(params: Mapping[str, Any] | None, earlier: list[Any]) -> Mapping[str, Any] | None:
    """A chain step's parameters as the trace shows them: one that refers to an earlier step's result
    (``chain_ref(j)``, e.g. the ``id`` of a new deal's rows) as the id that step returned."""
    refs = {chain_ref(j): value for j, value in enumerate(earlier)}
    if not params or not any(isinstance(v, str) and v in refs for v in params.values()):
        return params
    return {k: refs[v] if isinstance(v, str) and v in refs else v for k, v in params.items()}


class B24Client:
    """Async Bitrix24 REST client (one per portal and process; share it between tasks)."""

    def __init__(
        self,
        auth: Auth,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        rate: RateLimit = DEFAULT_RATE_LIMIT,
        batching: Batching = DEFAULT_BATCHING,
        operating: OperatingLimit = DEFAULT_OPERATING_LIMIT,
        bucket: Bucket | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = USER_AGENT,
        rng: random.Random | None = None,
        http_client: HttpClient = "builtin",
        proxy: str | None = None,
    ) -> None:
        self.auth = auth
        self.retry = retry
        self.batching = batching
        self.bucket: Bucket = bucket if bucket is not None else LocalBucket(rate)
        self.operating = OperatingTracker(operating)
        self._rng = rng or random.Random()
        self._edge = Edge(timeouts, auth.secrets, transport, user_agent, client=http_client, proxy=proxy,
                          headers=getattr(auth, "headers", None))
        if isinstance(auth, OAuthAuth):
            auth.bind(self._fetch_raw)
        self._coalescer = (
            Coalescer(batching, self.bucket.acquire, self._send_one_with_slot, self._send_batch_with_slot)
            if batching.enabled
            else None
        )

    def __repr__(self) -> str:
        return f"B24Client({self.auth.base_url!r}, auth={self.auth.kind}, bucket={self.bucket!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Send what is queued for batching, then close the connections."""
        if self._coalescer is not None:
            await self._coalescer.aclose()
        await self._edge.aclose()

    # ----------------------------------------------------------------------------------------- calls

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """The method's ``result``; a typed :class:`~bridge.errors.B24Error` when the portal refuses."""
        return (await self.call_page(method, params)).result

    async def call_page(self, method: str, params: Mapping[str, Any] | None = None) -> Page:
        """The whole reply of one method: ``result`` with ``total``/``next``/``time`` (list methods)."""
        await calls.before_call()
        method = normalize_method(method)
        params = dict(params or {})
        command = self._command_for(method, params)
        attempt = 0
        since = calls.started()
        while True:
            try:
                await self._wait_if_paused(method)
            except B24OperationTimeLimit as exc:
                self._count(method, exc, params, since)
                raise
            try:
                if command is not None:
                    assert self._coalescer is not None
                    page = await self._coalescer.submit(method, params, command, first=is_read_only(method))
                else:
                    page = await self._send_one(method, params)
            except B24OperationTimeLimit as exc:
                reset_at = self.operating.refused(method)
                if exc.reset_at is None:
                    exc.reset_at = reset_at
                attempt += 1
                if (
                    attempt > self.retry.max_retries
                    or self.operating.wait(method) > self.operating.limit.max_wait
                ):
                    self._count(method, exc, params, since)
                    raise
                self._retried(method, exc, attempt, self.operating.wait(method))
                continue
            except B24Error as exc:
                self._count(method, exc, params, since)
                raise
            metrics.CALLS.labels(method, "ok").inc()
            calls.note(method, params, result=page.result, since=since)
            return page

    async def call_chain(self, steps: Sequence[tuple[str, Mapping[str, Any] | None]], *,
                         halt: bool = False) -> list[Any]:
        """Commands that depend on each other in one request, saving a round trip per step: a later step
        refers to an earlier one's result with :func:`chain_ref` (``chain_ref(0, "element", "id")``).  With
        batching on, the chain rides in a batch with other callers' commands.  Returns each step's
        ``result``; the first failing step's typed error is raised (a batch is not a transaction: the
        steps before it took effect).  ``halt``: no step runs after a refused one even when none refers to
        another (a step that does refer never runs after a refusal)."""
        await calls.before_call()
        methods = [normalize_method(method) for method, _ in steps]
        since = calls.started()
        for method in dict.fromkeys(methods):  # a method paused by OPERATION_TIME_LIMIT holds the chain
            await self._wait_if_paused(method)
        encoded = [build_command(method, params or {}, max_vars=self.batching.max_command_vars)
                   for method, (_, params) in zip(methods, steps, strict=True)]
        if self._coalescer is not None:
            outcomes: list[Page | B24Error] = await self._coalescer.submit_chain(
                list(zip(methods, encoded, strict=True)), halt=halt)
        else:
            keys = [f"step{j}" for j in range(len(steps))]
            commands: dict[str, str] = {}
            for key, command in zip(keys, encoded, strict=True):
                for j, other in enumerate(keys):
                    command = command.replace(step_token(j), other)
                commands[key] = command
            result = await self._batch(commands, dict(zip(keys, methods, strict=True)), halt=True,
                                       slot_held=False)
            outcomes = [result.errors[key] if key in result.errors else result.page(key) for key in keys
                        if key in result.errors or key in result.results]
        values = []
        for (method, (_, params)), outcome in zip(zip(methods, steps, strict=True), outcomes, strict=False):
            if isinstance(outcome, B24Error):
                if isinstance(outcome, B24OperationTimeLimit):  # pause the method for every caller, as call() does
                    reset_at = self.operating.refused(method)
                    if outcome.reset_at is None:
                        outcome.reset_at = reset_at
                self._count(method, outcome, _resolved(params, values), since)
                raise outcome
            metrics.CALLS.labels(method, "ok").inc()
            calls.note(method, _resolved(params, values), result=outcome.result, since=since)
            values.append(outcome.result)
        if len(values) < len(methods):
            raise B24ServerError(methods[len(values)], COMMAND_MISSING, "the batch reply has no result for this step")
        return values

    def _command_for(self, method: str, params: Mapping[str, Any]) -> str | None:
        """The batch command of a call that may be coalesced, or None when it must go alone."""
        if self._coalescer is None or method in self.batching.never_coalesce:
            return None
        try:
            return build_command(method, params, max_vars=self.batching.max_command_vars)
        except Unencodable:
            return None

    async def _wait_if_paused(self, method: str) -> None:
        wait = self.operating.wait(method)
        if wait <= 0:
            return
        if wait > self.operating.limit.max_wait:
            state = self.operating.state(method)
            raise B24OperationTimeLimit(
                method,
                PAUSED,
                f"held by the bridge for {wait:.0f} s more: the portal's operation time limit for this method "
                f"is spent (last time.operating {state.operating:.1f} s)",
                None,
                reset_at=self.operating.blocked_until(method),
            )
        await asyncio.sleep(wait)

    async def batch(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any] | None] | str], *, halt: bool = False
    ) -> BatchResult:
        """Up to 50 commands in one request, run in order by the portal; per-key result or typed error.

        Keys must not be numbers (the portal would turn the reply's buckets into lists); params may refer
        to earlier commands as ``"$result[key][ID]"``.  ``halt=True`` stops at the first failing command
        (earlier writes stay: a batch is not a transaction).  Bypasses coalescing.
        """
        await calls.before_call()
        if not commands:
            raise ValueError("batch() needs at least one command")
        if len(commands) > self.batching.max_commands:
            raise ValueError(
                f"batch() takes at most {self.batching.max_commands} commands, got {len(commands)}; "
                "issue independent calls concurrently with call() and the client batches them"
            )
        encoded: dict[str, str] = {}
        methods: dict[str, str] = {}
        since = calls.started()
        for key, spec in commands.items():
            if not isinstance(key, str) or not key or key.isdigit() or "[" in key or "]" in key:
                raise ValueError(f"batch key {key!r} must be a non-numeric string without brackets")
            method, params = (spec, None) if isinstance(spec, str) else spec
            methods[key] = normalize_method(method)
            if methods[key] == "batch":
                raise ValueError("a batch cannot contain a batch (ERROR_BATCH_METHOD_NOT_ALLOWED)")
            try:
                encoded[key] = build_command(methods[key], params or {})
            except Unencodable as exc:
                raise ValueError(f"batch command {key!r}: {exc}; call it alone instead") from exc
        result = await self._batch(encoded, methods, halt=halt, slot_held=False)
        for key, method in methods.items():
            if key in result.errors or key in result.results:
                code = result.errors[key].code if key in result.errors else "ok"
                metrics.CALLS.labels(method, metrics.code_label(code)).inc()
                spec = commands[key]
                params = None if isinstance(spec, str) else spec[1]
                if key in result.errors:
                    calls.note(method, params, code=code, status=result.errors[key].status, since=since)
                else:
                    calls.note(method, params, result=result.page(key).result, since=since)
        return result

    async def iterate(
        self, method: str, params: Mapping[str, Any] | None = None, *, fast: bool = False, id_key: str = "ID"
    ) -> AsyncIterator[Any]:
        """Every row of a list method, in ``id_key`` order.

        Default: ``order {id_key: ASC}`` (unless given) and ``start`` paging; after the first page, the
        remaining pages are fetched up to 50 per ``batch`` request; rows seen twice (the data moved under
        the paging) are dropped.  ``fast=True``: ``start=-1`` and a ``>id_key`` window, no COUNT on the
        portal's side — for big exports (one request per 50 rows, each cheap).
        """
        base = dict(params or {})
        if fast:
            async for row in iterate_fast(self.call_page, method, base, id_key):
                yield row
            return
        base.setdefault("order", {id_key: "ASC"})
        first = await self.call_page(method, {**base, "start": 0})
        seen: set[Any] = set()
        for row in fresh_rows(first.items, seen, id_key):
            yield row
        total, start = first.total or 0, first.next
        while start is not None and start < total:
            starts = [
                start + PAGE_SIZE * i
                for i in range(self.batching.max_commands)
                if start + PAGE_SIZE * i < total
            ]
            pages = await self._pages(method, base, starts)
            for page in pages:
                for row in fresh_rows(page.items, seen, id_key):
                    yield row
            last = pages[-1]
            total = max(total, last.total or 0)
            start = starts[-1] + PAGE_SIZE if last.next is not None else None

    async def list_all(
        self, method: str, params: Mapping[str, Any] | None = None, *, fast: bool = False, id_key: str = "ID"
    ) -> list[Any]:
        """All rows of a list method (see :meth:`iterate`)."""
        return [row async for row in self.iterate(method, params, fast=fast, id_key=id_key)]

    async def _pages(self, method: str, base: Mapping[str, Any], starts: list[int]) -> list[Page]:
        if len(starts) == 1:
            return [await self.call_page(method, {**base, "start": starts[0]})]
        try:
            result = await self.batch({f"p{start}": (method, {**base, "start": start}) for start in starts})
        except ValueError:  # params too big for a batch command
            return [await self.call_page(method, {**base, "start": start}) for start in starts]
        return [result.page(f"p{start}") for start in starts]

    # ------------------------------------------------------------------------------- one request

    async def _send_one(self, method: str, params: Mapping[str, Any], *, slot_held: bool = False) -> Page:
        envelope = await self._request(method, params, idempotent=is_read_only(method), slot_held=slot_held)
        self.operating.record(method, envelope.get("time"))
        return Page.from_envelope(envelope)

    async def _send_one_with_slot(self, method: str, params: Mapping[str, Any]) -> Page:
        return await self._send_one(method, params, slot_held=True)

    async def _send_batch_with_slot(self, commands: dict[str, str], methods: dict[str, str], *,
                                    halt: bool = False) -> BatchResult:
        return await self._batch(commands, methods, halt=halt, slot_held=True)

    async def _batch(
        self, commands: dict[str, str], methods: dict[str, str], *, halt: bool, slot_held: bool
    ) -> BatchResult:
        metrics.BATCH_COMMANDS.observe(len(commands))
        idempotent = all(is_read_only(m) for m in methods.values())
        envelope = await self._request(
            "batch", {"halt": int(halt), "cmd": commands}, idempotent=idempotent, slot_held=slot_held
        )
        result = parse_batch(envelope, methods, self.operating.reset_at)
        for key, method in methods.items():
            self.operating.record(method, result.times.get(key))
        return result

    async def _request(
        self, method: str, params: Mapping[str, Any], *, idempotent: bool, slot_held: bool = False
    ) -> dict[str, Any]:
        """One HTTP request, retried as the :class:`RetryPolicy` allows; returns the decoded envelope."""
        failures = 0
        refreshed = False
        display, real = self.auth.target(method)
        while True:
            if not slot_held:
                await self.bucket.acquire()
            slot_held = False
            token = await self.auth.token()
            body = json_body(self.auth.sign(params, token))
            try:
                reply = await self._edge.send(method, "POST", display, real, body)
                envelope = parse_reply(
                    method,
                    reply.status,
                    reply.content_type,
                    reply.content,
                    location=reply.location,
                    reset_at=self.operating.reset_at(method),
                )
            except B24TokenExpired as exc:
                metrics.HTTP_REQUESTS.labels(method, exc.code).inc()
                if refreshed or not getattr(self.auth, "can_refresh", False):
                    raise
                refreshed = True
                await self.auth.refresh(token)  # type: ignore[attr-defined]
                slot_held = False
                continue
            except (B24QueryLimitExceeded, B24ServerError, B24TransportError) as exc:
                metrics.HTTP_REQUESTS.labels(method, metrics.code_label(exc.code)).inc()
                if isinstance(exc, B24QueryLimitExceeded):
                    await self.bucket.saturate()
                elif not (idempotent or never_sent(exc)):
                    raise  # a write whose fate is unknown: the caller looks it up before trying again
                failures += 1
                if failures > self.retry.max_retries:
                    raise
                delay = self.retry.delay(failures, self._rng)
                self._retried(method, exc, failures, delay)
                await asyncio.sleep(delay)
                continue
            except B24Error as exc:
                metrics.HTTP_REQUESTS.labels(method, metrics.code_label(exc.code)).inc()
                raise
            metrics.HTTP_REQUESTS.labels(method, "ok").inc()
            return envelope

    async def _fetch_raw(self, display_url: str, real_url: str) -> tuple[int, bytes]:
        """A GET outside the portal's REST API (the OAuth server), through the same edge."""
        reply = await self._edge.send("oauth.token", "GET", display_url, real_url)
        return reply.status, reply.content

    # ------------------------------------------------------------------------------------ metrics

    @staticmethod
    def _count(method: str, exc: B24Error, params: Mapping[str, Any] | None = None,
               since: float | None = None) -> None:
        metrics.CALLS.labels(method, metrics.code_label(exc.code)).inc()
        calls.note(method, params, code=exc.code, status=exc.status, since=since)

    def _retried(self, method: str, exc: B24Error, attempt: int, delay: float) -> None:
        """Say which portal (host only: the webhook path is a secret), which try of how many, and how
        long until the next, in the message itself: a CLI without JSON logging shows only the message."""
        metrics.RETRIES.labels(method, metrics.code_label(exc.code)).inc()
        host = urlsplit(self.auth.base_url).netloc or "?"
        code = exc.code or '""'
        log.warning(
            f"Bitrix24 {method} at {host} failed ({code}); retry {attempt} of {self.retry.max_retries} "
            f"in {delay:.1f} s",
            extra={
                "action": "b24.retry",
                "host": host,
                "method": method,
                "code": exc.code,
                "status": exc.status,
                "attempt": attempt,
                "max_retries": self.retry.max_retries,
                "delay": round(delay, 3),
                "error": str(exc),
            },
        )


__all__ = ["B24Client", "is_read_only", "items_of", "normalize_method"]
