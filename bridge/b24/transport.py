"""The HTTP edge: the only place that touches httpx, and the only place a secret URL exists.

Every request is built with a *display* URL (the webhook code shown as ``***``, no OAuth query) and
carries the real URL in a request extension.  :class:`SecretUrlTransport`, the innermost layer above
the socket, swaps the real URL in just before sending.  So every ``httpx.Request`` / ``Response`` the
rest of the program can see — in reprs, httpx's own log lines, ``exc.request`` of a network error —
holds the display URL only.  httpx exceptions become :class:`~bridge.errors.B24TransportError` here,
once, through :func:`bridge.edges.http`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from .. import __version__, edges
from ..errors import B24TransportError
from ..logs import redact
from . import metrics
from .envelope import TRANSPORT
from .limits import Timeouts

REAL_URL = "bridge.b24.real_url"
USER_AGENT = f"onec-b24-bridge/{__version__} (+httpx/{httpx.__version__})"

# The request surely never reached the portal: safe to repeat whatever the method does.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class SecretUrlTransport(httpx.AsyncBaseTransport):
    """Wraps the real transport; puts the secret URL in at the last moment."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        real = request.extensions.get(REAL_URL)
        if real is not None:
            extensions = {k: v for k, v in request.extensions.items() if k != REAL_URL}
            request = httpx.Request(
                request.method, real, headers=request.headers, stream=request.stream, extensions=extensions
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    location: str | None  # scrubbed
    content: bytes
    seconds: float


def never_sent(exc: BaseException) -> bool:
    """True when a :class:`B24TransportError` failed before the request could reach the portal."""
    return isinstance(exc, B24TransportError) and isinstance(exc.__cause__, _NEVER_SENT)


class Edge:
    """Sends one request and returns the raw reply; network failures become ``B24TransportError``."""

    def __init__(
        self,
        timeouts: Timeouts,
        secrets: Callable[[], Iterable[str]],
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = USER_AGENT,
        max_connections: int = 20,
    ) -> None:
        self._secrets = secrets
        inner = transport or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        )
        self.http = httpx.AsyncClient(
            transport=SecretUrlTransport(inner),
            timeout=httpx.Timeout(
                connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.pool
            ),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": user_agent},
        )

    def scrub(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "***")
        return redact(text)

    async def send(
        self, label: str, verb: str, display_url: str, real_url: str | None, content: bytes | None = None
    ) -> Reply:
        headers = {"Content-Type": "application/json; charset=utf-8"} if content is not None else None
        extensions = {REAL_URL: real_url} if real_url is not None else None
        request = self.http.build_request(
            verb, display_url, content=content, headers=headers, extensions=extensions
        )
        started = time.perf_counter()
        try:
            with edges.http(label, TRANSPORT, self.scrub):
                response = await self.http.send(request)
        except B24TransportError:
            metrics.REQUEST_SECONDS.labels(label).observe(time.perf_counter() - started)
            raise
        seconds = time.perf_counter() - started
        metrics.REQUEST_SECONDS.labels(label).observe(seconds)
        location = response.headers.get("location")
        return Reply(
            response.status_code,
            response.headers.get("content-type", ""),
            self.scrub(location) if location else None,
            response.content,
            seconds,
        )

    async def aclose(self) -> None:
        await self.http.aclose()
