"""Run a component until SIGTERM/SIGINT: one stop event, a graceful shutdown, a non-zero exit on crash."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator

from . import logs
from .errors import ConfigError
from .settings import Settings, unknown_variables

log = logging.getLogger(__name__)


def setup(settings: Settings) -> None:
    """Logging, the secrets logging must never show, and a warning for each unknown BRIDGE_* variable."""
    logs.configure(settings.log_level, settings.log_format)
    for name, suggestion in unknown_variables():
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        log.warning(f"{name} is not a bridge setting and is ignored{hint}", extra={
            "action": "settings.unknown_variable", "variable": name, "did_you_mean": suggestion})
    for secret in (settings.database_url, settings.amqp_url, settings.b24_webhook_url, *settings.ingest_tokens,
                   *settings.console_tokens, *((settings.console_session_key,) if settings.console_session_key else ())):
        value = secret.get_secret_value()
        logs.register_secret(value)
    for entry in settings.console_users:  # user:password — the password is the secret, the whole entry too
        logs.register_secret(entry.get_secret_value())
        # (a shorter one is refused by the console; registered, it would mask words in that very message)
        logs.register_secret(logs.long_enough(entry.get_secret_value().partition(":")[2]))
    if settings.b24_proxy_url:
        logs.register_secret(settings.b24_proxy_url.get_secret_value())
    for secret in (settings.database_url, settings.amqp_url, *((settings.b24_proxy_url,) if settings.b24_proxy_url
                                                               else ())):
        logs.register_secret(logs.url_password(secret.get_secret_value()))
    code = _webhook_code(settings.b24_webhook_url.get_secret_value())
    logs.register_secret(code)


def _webhook_code(url: str) -> str | None:
    parts = [p for p in url.split("/") if p]
    if "rest" in parts:
        i = parts.index("rest")
        if len(parts) > i + 2:
            return parts[i + 2]
    return None




def loop_factory(event_loop: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop for ``auto`` (when installed) and ``uvloop``; None (asyncio's own) for ``asyncio``.
    uvloop is a C event loop: per consumed event asyncpg, aio-pika and httpx cost ~10 % less CPU on it."""
    if event_loop == "asyncio":
        return None
    try:
        import uvloop  # optional dependency: not installed on Windows (pyproject marker)
    except ImportError:
        if event_loop == "uvloop":
            raise ConfigError("BRIDGE_EVENT_LOOP=uvloop but uvloop is not installed (pip install uvloop)") from None
        return None
    return uvloop.new_event_loop


# Young collections every 10,000 net allocations instead of 700: a consumer makes ≈ 60 per event that outlive
# it briefly (futures, records, dicts), so the default ran a collection every ≈ 12 events, 2.6 % of its CPU
# in process (benchmarks/consumer.py, "garbage collection"); now ≈ 0.3 %, a pause of a few ms each time.
GC_THRESHOLD = (10_000, 10, 10)


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    """The garbage collector as a long-running component wants it: what start-up made (modules, settings)
    collected once and then frozen out of every collection, and young collections less often
    (:data:`GC_THRESHOLD`).  Put back as it was afterwards, for a caller that goes on (a test); a freeze the
    caller made itself is left as it was."""
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    gc.collect()  # start-up's garbage is not frozen for the life of the process
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if not frozen:
            gc.unfreeze()


def run(main: Callable[[asyncio.Event], Awaitable[None]], event_loop: str = "auto") -> None:
    """Run ``main(stop)`` in a fresh event loop (``event_loop``: :func:`loop_factory`); SIGTERM and SIGINT
    set ``stop``.  A :class:`ConfigError` (bad settings or mapping, a portal that does not match it)
    propagates to the CLI group, which ends the process with one ``Error: …`` line, one JSON log line and
    exit code 2, not a traceback."""

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    with tuned_gc(), asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        runner.run(wrapper())
