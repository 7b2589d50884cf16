"""Run a component until SIGTERM/SIGINT: one stop event, a graceful shutdown, a non-zero exit on crash."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from . import logs
from .errors import ConfigError
from .settings import Settings

log = logging.getLogger(__name__)


def setup(settings: Settings) -> None:
    """Logging, and the secrets logging must never show."""
    logs.configure(settings.log_level, settings.log_format)
    for secret in (settings.database_url, settings.amqp_url, settings.b24_webhook_url, *settings.ingest_tokens):
        value = secret.get_secret_value()
        logs.register_secret(value)
    from urllib.parse import urlsplit

    for secret in (settings.database_url, settings.amqp_url):
        password = urlsplit(secret.get_secret_value()).password
        logs.register_secret(password)
    code = _webhook_code(settings.b24_webhook_url.get_secret_value())
    logs.register_secret(code)


def _webhook_code(url: str) -> str | None:
    parts = [p for p in url.split("/") if p]
    if "rest" in parts:
        i = parts.index("rest")
        if len(parts) > i + 2:
            return parts[i + 2]
    return None


EXIT_CONFIG = 2  # refused to start: a setting, the mapping or the portal must change


def run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` in a fresh event loop; SIGTERM and SIGINT set ``stop``.  A :class:`ConfigError`
    (bad settings or mapping, a portal that does not match it) ends the process with its one-line
    message on stderr and exit code 2, not a traceback."""

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    try:
        asyncio.run(wrapper())
    except ConfigError as exc:
        print(f"b24bridge: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
