"""The sandbox portal: an ASGI app answering Bitrix24 REST calls from an in-memory store.

One HTTP request to ``/rest/…`` goes through a fixed sequence of steps, each a small method: steps 1–6 and 8
in the HTTP face (:mod:`b24_sandbox.routes`), step 7 here:

1. **front faults**: outage, portal moved, latency — what nginx in front of the portal does;
2. **route**: webhook (``/rest/<user>/<code>/<method>``) or app (``/rest/<method>``);
3. **params**: query string merged with the body;
4. **authenticate**: webhook user/code, or an OAuth access token (``auth``/``access_token``/Bearer), then the
   method's scope (401 ``insufficient_scope``);
5. **request faults**: 503 storms, injected errors;
6. **throttle**: the leaky bucket of the client address (503 ``QUERY_LIMIT_EXCEEDED``);
7. **execute** (:meth:`Sandbox.execute`, the one place a method runs; ``batch`` calls it again per command):
   the ``OPERATION_TIME_LIMIT`` check before the call, the method, the operating-time bookkeeping after it;
8. **envelope**.

Statistics, metrics and ``on_call`` hooks see nested commands too.  Everything that depends on time reads
one injectable clock (``Sandbox(clock=ManualClock())``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from . import envelope, methods, seed
from .calls import CallEvent, Outcome, Stats, insufficient_scope, operation_time_limit
from .clock import Clock, system_clock
from .config import SandboxConfig
from .errors import ApiError, method_not_found
from .faults import Faults
from .methods import Call, Result
from .oauth import OAuthServer
from .operating import OperatingLimiter, Usage
from .persistence import DebouncedSaver, StateFile, dump_store, load_store
from .ratelimit import LeakyBucket
from .routes import Routes
from .state import build_state
from .store import Store
from .web import render_live, render_page

log = logging.getLogger("b24_sandbox")

READ_ONLY_SUFFIXES = (".get", ".list", ".fields", ".current")


class Sandbox:
    """A Bitrix24 cloud portal in memory.  ``Sandbox(config)`` is an ASGI app; see ``docs/sandbox.md``."""

    def __init__(self, config: SandboxConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or SandboxConfig()
        self.clock: Clock = clock or system_clock
        self.store = Store()
        self.bucket = LeakyBucket(self.config.rate, self.config.burst, self.clock)
        self.operating = OperatingLimiter(self.config.operating_limit)
        self.faults = Faults(self.clock, self.config.fault_seed)
        self.oauth = OAuthServer(self.config, self.clock)
        self._lock = threading.RLock()
        self._hooks: list[Callable[[CallEvent], None]] = []
        self._stats = Stats()
        self.registry = CollectorRegistry()
        self._m_requests = Counter("sandbox_requests", "REST requests answered, by method and error code",
                                   ["method", "error"], registry=self.registry)
        self._m_commands = Counter("sandbox_commands", "Methods executed (batch commands included)",
                                   ["method", "error"], registry=self.registry)
        self._m_limited = Counter("sandbox_rate_limited", "Requests refused with QUERY_LIMIT_EXCEEDED",
                                  registry=self.registry)
        self._m_operating = Counter("sandbox_operating_limited", "Calls refused with OPERATION_TIME_LIMIT",
                                    registry=self.registry)
        self._m_faults = Counter("sandbox_faults", "Injected faults, by kind", ["kind"], registry=self.registry)
        methods.load()
        self._state_file = StateFile(self.config.state_file) if self.config.state_file else None
        self._saver = DebouncedSaver(self._save_state, self.config.save_delay) if self._state_file else None
        saved = self._state_file.load() if self._state_file else None
        if saved is not None:
            load_store(self.store, saved.get("store") or {})
            self.oauth.load(saved.get("oauth") or {})
            log.info("sandbox state loaded", extra={"action": "sandbox.state_loaded", "path": self.config.state_file})
        else:
            seed.seed(self.store, self.config.tz, self.clock())
        self.oauth.on_change = self._mark_dirty
        self.routes = Routes(self)
        self.app = self.routes.app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.routes(scope, receive, send)

    # ---- test hooks and inspection -------------------------------------------------------------

    def on_call(self, callback: Callable[[CallEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after each method execution; returns a function that unregisters it."""
        with self._lock:
            self._hooks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._hooks:
                    self._hooks.remove(callback)

        return remove

    def state(self) -> dict[str, Any]:
        """Everything stored, grouped by entity, in the form the portal's ``get`` methods answer."""
        with self._lock:
            return json.loads(json.dumps(build_state(self), ensure_ascii=False, default=str))

    def board_html(self, refresh: int = 5) -> str:
        """The ``/_sandbox/`` board: the deals as a sales manager sees them, and the statistics."""
        with self._lock:
            return render_page(self.state(), self.config.domain, self.stats(), refresh)

    def board_live(self) -> str:
        """``/_sandbox/live``: the board's changing part, which the page swaps in without reloading."""
        with self._lock:
            return render_live(self.state(), self.stats())

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out = self._stats.as_dict()
        out["operating"] = self.operating.snapshot(self.clock())
        return out

    def reset(self) -> None:
        """Forget all data, statistics and operating time; ids start again from 1 and the seed data is back.

        Injected faults and OAuth tokens stay (they are settings of the portal, not its data).
        """
        with self._lock:
            self.store.clear()
            seed.seed(self.store, self.config.tz, self.clock())
            self._stats = Stats()
            self.bucket.reset()
            self.operating.reset()
        self._mark_dirty()

    def call(self, method: str, params: dict[str, Any] | None = None) -> Outcome:
        """Run a method in-process as the webhook user (seeding demos, pure tests; no HTTP and no limits)."""
        return self.execute(method.lower(), params or {}, self.config.webhook_user)

    def flush(self) -> None:
        """Write the state file now if anything changed (no-op without ``state_file``)."""
        if self._saver is not None:
            self._saver.flush()

    def close(self) -> None:
        """Shut down: save pending changes to the state file."""
        self.flush()

    # ---- the one place methods run -------------------------------------------------------------

    def execute(self, method: str, params: dict[str, Any], user_id: int, *, nested: bool = False,
                caller: str | None = None, scope: frozenset[str] | None = None) -> Outcome:
        """Run one method (a request or a batch command).  ``caller`` turns on the operating-time limit;
        ``scope`` is what the caller may call (None: anything), checked here for batch commands."""
        with self._lock:
            start = self.clock()
            began = time.perf_counter()  # inside the lock: waiting for another request is not run time
            result: Result | None = None
            error: ApiError | None = None
            counted = False
            try:
                if nested and method == "batch":
                    raise ApiError("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405)
                handler = methods.lookup(method)
                if handler is None:
                    raise method_not_found()
                if nested and not methods.scope_allows(scope, method):
                    raise insufficient_scope()
                if nested:
                    self._inject_command_fault(method)
                limited = caller is not None and method != "batch"
                if limited and self.operating.blocked(caller, method, start):
                    self._stats.operating_limited += 1
                    self._m_operating.inc()
                    raise operation_time_limit()
                counted = limited
                value = handler(Call(method, params, self.store, self.config, self, user_id, caller=caller,
                                     scope=scope))
                result = value if isinstance(value, Result) else Result(value)
            except ApiError as exc:
                error = exc
            except Exception:
                log.exception("sandbox method failed", extra={"action": "sandbox.error", "method": method})
                error = ApiError("INTERNAL_SERVER_ERROR", "Internal server error", 500)
            elapsed = time.perf_counter() - began
            usage: Usage | None = None
            if counted and caller is not None:
                usage = self.operating.record(caller, method, start, self.config.cost_of(method, elapsed))
            self._count(method, error)
            outcome = Outcome(result, error, envelope.time_block(start, start + elapsed, self.config.tz, usage))
            event = CallEvent(method, params, result.value if result else None, error.body() if error else None,
                              result.total if result else None, result.next if result else None, nested)
            for hook in list(self._hooks):
                try:
                    hook(event)
                except Exception:
                    log.exception("on_call hook failed", extra={"action": "sandbox.hook_error", "method": method})
        if error is None and method != "batch" and not method.endswith(READ_ONLY_SUFFIXES):
            self._mark_dirty()
        return outcome

    def _inject_command_fault(self, method: str) -> None:
        injection = self.faults.command_error(method)
        if injection is not None:
            self.count_fault(injection.label)
            raise ApiError(injection.error or "", injection.description or "", injection.status)

    def _count(self, method: str, error: ApiError | None) -> None:
        stats = self._stats
        stats.per_method[method] = stats.per_method.get(method, 0) + 1
        if method == "batch":
            stats.batches += 1
        else:
            stats.commands += 1
        code = "" if error is None else (str(error.code) or '""')
        if error is not None:
            stats.errors[code] = stats.errors.get(code, 0) + 1
        self._m_commands.labels(method, code).inc()

    def count_fault(self, label: str) -> None:
        with self._lock:
            self._stats.faults[label] = self._stats.faults.get(label, 0) + 1
        self._m_faults.labels(label).inc()

    def count_request(self, method: str | None = None, code: str = "") -> None:
        """One HTTP request answered (by the portal, or by a fault in front of it when ``method`` is None)."""
        with self._lock:
            self._stats.http_requests += 1
        if method is not None:
            self._m_requests.labels(method, code).inc()

    def count_refused(self, code: str) -> None:
        """A request refused before any method ran (auth, limits, injected errors, bad path)."""
        with self._lock:
            self._stats.errors[code] = self._stats.errors.get(code, 0) + 1

    def count_rate_limited(self) -> None:
        with self._lock:
            self._stats.rate_limited += 1
        self._m_limited.inc()

    # ---- persistence -----------------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        if self._saver is not None:
            self._saver.mark()

    def _save_state(self) -> None:
        assert self._state_file is not None
        with self._lock:
            payload = {"store": dump_store(self.store), "oauth": self.oauth.dump()}
        self._state_file.save(payload)
        log.info("sandbox state saved", extra={"action": "sandbox.state_saved", "path": self.config.state_file})
