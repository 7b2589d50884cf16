"""The consumers' start-up check: the portal has what the mapping names before any message is taken.

A mapping that names a stage the portal does not have would dead-letter every deal, a missing requisite
preset every company.  So ``b24bridge run`` and ``consume`` check the mapping against the portal as
``b24bridge portal check`` does (:func:`bridge.portal.service.check`), for the keys the consumers they run
use (each handler's ``mapping_keys``), before consuming:

* the portal does not match, refuses the webhook, has moved, or answers the check's reads with an error
  → refuse to start: a :class:`ConfigError` with one line naming the first problem and its fix (the CLI
  exits 2).  A setting or the portal must change; retrying cannot help.  Warnings are only logged;
* the portal (or, in OAuth mode, the token store in PostgreSQL) cannot be reached → the consumers start
  paused: their queues are not consumed, ``bridge_consumer_paused`` is 1, the check is repeated every
  few seconds and ``startup.waiting`` is logged (the first time, then once a minute) until it passes.
  Refusing would only make the process restart in a loop; ingest, relay and ``/healthz`` run meanwhile;
* ``BRIDGE_STARTUP_CHECK=off`` skips the check (an emergency: the webhook may not read what the check
  reads, but the bridge must run).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence

from . import metrics
from .b24 import B24Client
from .backoff import Backoff
from .consumer import Consumer
from .errors import B24AuthError, B24Error, B24PortalMoved, ConfigError, ServiceUnavailable
from .mapping import Mapping
from .portal import service
from .portal.plan import Problem
from .settings import Settings

log = logging.getLogger(__name__)

RECHECK_INITIAL = 1.0  # seconds before the first re-check of a portal that could not be reached
RECHECK_MAX = 5.0  # the longest wait between two checks
PROGRESS_EVERY = 60.0  # seconds between two `startup.waiting` log lines


async def consume(settings: Settings, b24: B24Client, mapping: Mapping, consumers: Sequence[Consumer],
                  stop: asyncio.Event) -> None:
    """Run the consumers until ``stop`` once the portal passes the start-up check (see the module)."""
    if not consumers:
        return
    names = [c.handler.name for c in consumers]
    if not settings.startup_check:
        log.warning("start-up check of the portal skipped (BRIDGE_STARTUP_CHECK=off)",
                    extra={"action": "startup.skipped", "consumers": names})
    else:
        origin = str(settings.mapping_file) if settings.mapping_file else "the embedded default mapping"
        keys = {key for c in consumers for key in c.handler.mapping_keys}
        if not await portal_matches(b24, mapping, keys, stop, names=names, origin=origin):
            return  # stopped while waiting for the portal
    tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
    try:
        await asyncio.gather(*tasks)
    finally:  # one consumer died: stop the others too, and let them finish what they hold
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def portal_matches(b24: B24Client, mapping: Mapping, keys: Iterable[str], stop: asyncio.Event, *,
                         names: Sequence[str], origin: str) -> bool:
    """True once the portal has what ``keys`` of the mapping name; False if ``stop`` came first while the
    portal could not be reached; :class:`ConfigError` (one line) when it does not match."""
    keys = tuple(sorted(keys))
    backoff = Backoff(initial=RECHECK_INITIAL, maximum=RECHECK_MAX)
    since = time.monotonic()
    logged = float("-inf")
    try:
        while not stop.is_set():
            try:
                plan = await service.check(b24, mapping)
            except (B24AuthError, B24PortalMoved) as exc:
                raise ConfigError(f"refusing to start: the portal refuses the webhook: {exc}") from exc
            except ServiceUnavailable as exc:
                _paused(names, 1)
                now = time.monotonic()
                if now - logged >= PROGRESS_EVERY:
                    logged = now
                    log.warning("cannot reach the portal for the start-up check; consumers wait, paused", extra={
                        "action": "startup.waiting", "consumers": list(names), "waited": round(now - since, 1),
                        "error": f"{type(exc).__name__}: {exc}"})
                try:
                    await asyncio.wait_for(stop.wait(), backoff.next())
                except TimeoutError:
                    pass
                continue
            except B24Error as exc:
                raise ConfigError(f"refusing to start: cannot check the mapping against the portal: {exc}") from exc
            _judge(plan.problems, keys, names, origin)
            return True
        return False
    finally:
        _paused(names, 0)


def _judge(problems: Sequence[Problem], keys: Sequence[str], names: Sequence[str], origin: str) -> None:
    ours = [p for p in problems if _under(p.key, keys)]
    for warning in (p for p in ours if p.severity == "warning"):
        log.warning("start-up check: %s", warning, extra={"action": "startup.warning", "key": warning.key})
    errors = [p for p in ours if p.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more; `b24bridge portal check` lists them)" if len(errors) > 1 else ""
        raise ConfigError(f"refusing to start: {origin} does not match the portal: {errors[0]}{more}")
    log.info("start-up check passed: the portal has what the mapping names", extra={
        "action": "startup.checked", "consumers": list(names)})


def _under(key: str, prefixes: Sequence[str]) -> bool:
    """``deals.stages.paid`` and ``users.by_onec_id[…]`` are under ``deals`` and ``users``."""
    return any(key == p or key.startswith((f"{p}.", f"{p}[")) for p in prefixes)


def _paused(names: Sequence[str], value: int) -> None:
    for name in names:
        metrics.PAUSED.labels(name).set(value)
