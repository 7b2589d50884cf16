"""The HTTP edge: the only place that sends to the portal, and the only place a secret URL exists.

Requests go through the bridge's own HTTP/1.1 client (:mod:`bridge.b24.http11`: a request costs a
consumer a fraction of httpx's CPU), or through httpx when a transport is given (the tests'
``MockTransport``, an in-process app), when a proxy is configured (``BRIDGE_B24_PROXY_URL``; the
environment's ``HTTPS_PROXY`` is not read, as it never was: a variable meant for other programs must not
reroute the portal's traffic) or when ``BRIDGE_B24_HTTP_CLIENT=httpx`` asks for it.

The own client gets the real URL directly and its errors name the host only.  Through httpx every request
is built with a *display* URL (the webhook code shown as ``***``, no OAuth query) and carries the real URL
in a request extension; :class:`SecretUrlTransport`, the innermost layer above the socket, swaps the real
URL in just before sending.  So every ``httpx.Request`` / ``Response`` the rest of the program can see — in
reprs, httpx's own log lines, ``exc.request`` of a network error — holds the display URL only.  Either
client's exceptions become :class:`~bridge.errors.B24TransportError` here, once, through
:func:`bridge.edges.http`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx

from .. import __version__, edges
from ..errors import B24ReplyTooLarge, B24TransportError
from ..logs import redact, url_password
from ..settings import proxy_address
from . import http11, metrics
from .envelope import TRANSPORT
from .limits import Timeouts

REAL_URL = "bridge.b24.real_url"
USER_AGENT = f"onec-b24-bridge/{__version__}"
HttpClient = Literal["builtin", "httpx"]

# The request surely never reached the portal: safe to repeat whatever the method does.
# httpx.ProxyError: the proxy refused the CONNECT tunnel (or the SOCKS handshake): nothing reached the portal.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol,
               httpx.ProxyError, http11.NotSent)


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
        client: HttpClient = "builtin",
        proxy: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._secrets = secrets
        self._proxy = proxy_address(proxy) if proxy else None
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._timeout = httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.read,
                                      pool=timeouts.pool)
        self._headers = {"Accept": "application/json", "User-Agent": user_agent, **(headers or {})}
        self.builtin: http11.Http11 | None = None
        if transport is None and client == "builtin" and self._proxy is None:
            self.builtin = http11.Http11(
                connect_timeout=timeouts.connect, read_timeout=timeouts.read, pool_timeout=timeouts.pool,
                max_connections=max_connections, headers=[*self._headers.items(), ("Accept-Encoding", "gzip, deflate")])
        self._transport = transport
        self._http: httpx.AsyncClient | None = None  # made at its first use: its TLS context costs ~20 ms

    @property
    def http(self) -> httpx.AsyncClient:
        """The httpx client for what the own client does not send (a test's transport, a proxy, ``client="httpx"``)."""
        if self._http is None:
            inner = self._transport or httpx.AsyncHTTPTransport(limits=self._limits, proxy=self._proxy)
            self._http = httpx.AsyncClient(transport=SecretUrlTransport(inner), timeout=self._timeout,
                                           follow_redirects=False, headers=self._headers)
        return self._http

    def scrub(self, text: str) -> str:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "***")
        if self._proxy:  # the whole proxy URL, and its password wherever it shows on its own
            text = text.replace(self._proxy, "***")
            password = url_password(self._proxy)
            if password:
                text = text.replace(password, "***")
        return redact(text)

    def _scrub_naming_proxy(self, text: str) -> str:
        """A failure through the proxy says so (the proxy's host, never its password): "All connection
        attempts failed" alone sends an operator to look at the portal when the proxy is what is down."""
        assert self._proxy is not None
        parts = urlsplit(self._proxy)
        return f"{self.scrub(text)} (through the proxy {parts.hostname}:{parts.port or 3128})"

    async def send(
        self, label: str, verb: str, display_url: str, real_url: str | None, content: bytes | None = None
    ) -> Reply:
        started = time.perf_counter()
        try:
            with edges.http(label, TRANSPORT, self._scrub_naming_proxy if self._proxy else self.scrub):
                status, headers, body = await self._exchange(verb, display_url, real_url, content)
        except (B24TransportError, B24ReplyTooLarge):  # a reply or a failure is a request; a cancelled one is not
            metrics.REQUEST_SECONDS.labels(label).observe(time.perf_counter() - started)
            raise
        seconds = time.perf_counter() - started
        metrics.REQUEST_SECONDS.labels(label).observe(seconds)
        location = headers.get("location")
        return Reply(status, headers.get("content-type", ""), self.scrub(location) if location else None, body,
                     seconds)

    async def _exchange(self, verb: str, display_url: str, real_url: str | None,
                        content: bytes | None) -> tuple[int, Mapping[str, str], bytes]:
        """Status, headers and body, through the own client or httpx (which sees the display URL only)."""
        if self.builtin is not None:
            url = real_url if real_url is not None else display_url
            reply = await self.builtin.request(verb, url, content, _JSON.items() if content is not None else ())
            return reply.status, reply.headers, reply.content
        extensions = {REAL_URL: real_url} if real_url is not None else None
        request = self.http.build_request(verb, display_url, content=content,
                                          headers=_JSON if content is not None else None, extensions=extensions)
        response = await self.http.send(request)
        return response.status_code, response.headers, response.content

    async def aclose(self) -> None:
        if self.builtin is not None:
            await self.builtin.aclose()
        if self._http is not None:
            await self._http.aclose()


_JSON = {"Content-Type": "application/json; charset=utf-8"}
