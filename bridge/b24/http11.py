"""The portal's HTTP client: HTTP/1.1 keep-alive connections on asyncio, replies read by httptools' C parser.

Why not httpx for every request: a consumer sends ≈ 0.7 batch requests per event at a steady 100 events/s,
and one request through httpx costs ≈ 0.9 ms of CPU where the same request on a bare connection costs
≈ 0.2 ms (``benchmarks/b24_http.py``); end to end that was a fifth of a consumer's CPU (docs/performance.md).

Scope — what the portal's REST API needs and nothing more: GET and POST with a body of known length;
replies with ``Content-Length``, chunked or ended by the close, at most :data:`MAX_BODY` bytes as sent and as
decompressed (a runaway or hostile reply is :class:`ReplyTooLarge`, not a consumer out of memory); gzip and
deflate; TLS verified exactly as httpx verifies it (``httpx.create_ssl_context``: ``SSL_CERT_FILE``,
``SSL_CERT_DIR``, else certifi); one request at a time per connection, idle connections kept 5 s (httpcore's
default).  No proxies (with ``BRIDGE_B24_PROXY_URL`` :class:`bridge.b24.transport.Edge` sends through httpx
instead), no redirects (the bridge reads ``Location`` itself), no HTTP/2, no cookies.  Happy eyeballs races
whole connections, TLS handshake included (anyio races the TCP connect only): on a long round trip a second
handshake may start before the first ends, and the loser is closed.

Every failure says whether the request can have reached the server: :class:`NotSent` (the name did not
resolve, the connection or TLS handshake failed or timed out, no free connection in time) is safe to
repeat for any method; :class:`MaybeSent` (anything after the first byte was handed to the socket) is not.
Messages name the host, never the path: the path of a webhook holds its secret.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import select
import socket
import ssl
import zlib
from asyncio import staggered
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

import httptools
import httpx

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is reused; a server may close it after its own timeout
HAPPY_EYEBALLS_DELAY = 0.25  # anyio's (httpx's) default: an IPv6 address that hangs does not eat the connect timeout
MAX_BODY = 32 * 1024 * 1024  # bytes of a reply, as sent and decompressed: a batch of 50 pages of 50 items is ≈ 2 MB


class HTTPError(Exception):
    """No HTTP reply: the request failed on the way."""


class NotSent(HTTPError):
    """Failed before any byte of the request reached the socket."""


class ConnectError(NotSent):
    pass


class ConnectTimeout(NotSent):
    pass


class PoolTimeout(NotSent):
    pass


class MaybeSent(HTTPError):
    """Failed after the request was (maybe partly) sent: the server may have acted on it."""


class ReadTimeout(MaybeSent):
    pass


class RemoteProtocolError(MaybeSent):
    """The server closed the connection early or answered something that is not HTTP/1.1."""


class ReplyTooLarge(RemoteProtocolError):
    """The reply was over the size limit, as sent or decompressed (read no further, the connection closed)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    content: bytes


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> bytes:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (host if self.port == default else f"{host}:{self.port}").encode("idna")


def _split(url: str) -> tuple[_Origin, bytes]:
    """The origin and the request target (path and query, ASCII) of an absolute http(s) URL.  (Not cached:
    an OAuth request's query holds tokens, which a cache would keep after they are replaced.)"""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectError(f"not an absolute http(s) URL (scheme {parts.scheme!r})")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConnectError(f"the port of {parts.hostname} is not a port number") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        raw = target.encode("ascii")
    except UnicodeEncodeError:
        raw = quote(target, safe="/?&=%:@!$'()*+,;~-._").encode("ascii")
    return _Origin(parts.scheme, parts.hostname, port), raw


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time (no pipelining)."""

    def __init__(self, origin: _Origin, max_body: int = MAX_BODY) -> None:
        self.origin = origin
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.expiry = KEEPALIVE_EXPIRY  # seconds it may stay idle: ours, or less when the server says so
        self._parser: httptools.HttpResponseParser | None = None
        self._reply: asyncio.Future[Response] | None = None
        self._status = 0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._headers_done = False
        self._until_eof = False  # a body with neither Content-Length nor chunked ends with the connection
        self._keep_alive = False
        self.last_data = 0.0

    # ---------------------------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # bytes on an idle connection: it is not in a state we can reuse
            self.close()
            return
        self.last_data = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(RemoteProtocolError(f"{self.origin.host} sent a malformed HTTP reply: {exc}"))

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended()

    def _ended(self) -> None:
        self.closed = True
        if self._reply is None or self._reply.done():
            return
        if self._until_eof and self._headers_done:
            self._keep_alive = False
            self.on_message_complete()
        else:
            self._fail(RemoteProtocolError(f"{self.origin.host} closed the connection without a whole reply"))

    # ---------------------------------------------------------------------------------- httptools callbacks

    def on_message_begin(self) -> None:
        if self._reply is None:  # a second reply to one request: the connection cannot be trusted any more
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._reply is not None:
            self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        if self._reply is None or self._parser is None:
            return
        self._status = self._parser.get_status_code()
        if self._status < 200:  # an interim reply (100 Continue, 103 Early Hints): the real one follows
            return
        self._headers_done = True
        declared = self._headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:  # refused before a byte of it is read
            self._fail(ReplyTooLarge(f"{self.origin.host} announced a reply of {int(declared):,} bytes, over "
                                     f"{self.max_body:,}"))
            return
        chunked = self._headers.get("transfer-encoding", "").rsplit(",", 1)[-1].strip().lower() == "chunked"
        self._until_eof = ("content-length" not in self._headers and not chunked
                           and self._status not in (204, 304))

    def on_body(self, body: bytes) -> None:
        if self._reply is not None:
            self._body_size += len(body)
            if self._body_size > self.max_body:
                self._fail(ReplyTooLarge(f"{self.origin.host} sent a reply over {self.max_body:,} bytes"))
                return
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._reply is not None and self._status < 200:  # end of an interim reply: wait for the real one
            self._status, self._headers, self._body, self._body_size = 0, {}, [], 0
            return
        if self._parser is not None and not self._until_eof:
            self._keep_alive = self._parser.should_keep_alive()
        reply, self._reply, self._parser = self._reply, None, None
        body, self._body = b"".join(self._body), []  # an idle connection keeps no reply
        if reply is not None and not reply.done():
            reply.set_result(Response(self._status, self._headers, body))

    # ---------------------------------------------------------------------------------- the exchange

    def _fail(self, exc: BaseException) -> None:
        reply, self._reply, self._parser = self._reply, None, None
        if reply is not None and not reply.done():
            reply.set_exception(exc)
        self.close()

    def start(self, request: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None and self._reply is None
        loop = asyncio.get_running_loop()
        self._reply = loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._status, self._headers, self._body, self._body_size = 0, {}, [], 0
        self._headers_done = self._until_eof = self._keep_alive = False
        self.last_data = loop.time()
        self.transport.write(request)
        return self._reply

    def readable(self) -> bool:
        """Whether the idle socket has something to read: the server's close (or bytes nobody asked for) that
        reached the machine but not yet the event loop.  Checked before reuse, as httpcore does, so that a
        request is not written to a connection already closed (its fate would then be unknown)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return False
        try:
            if hasattr(select, "poll"):  # select() refuses descriptors from 1024 on; poll() has no such limit
                poller = select.poll()
                poller.register(sock.fileno(), select.POLLIN)
                return bool(poller.poll(0))
            return bool(select.select([sock.fileno()], [], [], 0)[0])
        except (OSError, ValueError):  # closed under us
            return True

    @property
    def reusable(self) -> bool:
        return self._keep_alive and not self.closed

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http11:
    """A pool of keep-alive connections, at most ``max_connections`` at once over every origin."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, pool_timeout: float,
                 max_connections: int = 20, headers: Iterable[tuple[str, str]] = (),
                 ssl_context: ssl.SSLContext | None = None, keepalive_expiry: float = KEEPALIVE_EXPIRY,
                 max_body: int = MAX_BODY) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_timeout = pool_timeout
        self.keepalive_expiry = keepalive_expiry
        self.max_body = max_body
        self._ssl = ssl_context
        self._fixed = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers)
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._closed = False

    async def request(self, method: str, url: str, content: bytes | None = None,
                      headers: Iterable[tuple[str, str]] = ()) -> Response:
        if self._closed:
            raise PoolTimeout("the HTTP client is closed")
        origin, target = _split(url)
        head = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nHost: ", origin.host_header, b"\r\n", self._fixed]
        head += [f"{k}: {v}\r\n".encode("latin-1") for k, v in headers]
        if content is not None:
            head.append(b"Content-Length: %d\r\n" % len(content))
        head.append(b"\r\n")
        if content:
            head.append(content)
        if self._slots.locked():
            try:
                async with asyncio.timeout(self.pool_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise PoolTimeout(f"no free connection to {origin.host} within {self.pool_timeout:g} s") from None
        else:
            await self._slots.acquire()
        try:
            connection = self._idle_connection(origin) or await self._connect(origin)
            try:
                response = await self._exchange(connection, b"".join(head))
            except BaseException:
                connection.close()
                raise
            if connection.reusable and not self._closed:
                connection.idle_since = asyncio.get_running_loop().time()
                connection.expiry = _keepalive(response.headers.get("keep-alive"), self.keepalive_expiry)
                self._idle.setdefault(origin, []).append(connection)
            else:
                connection.close()
            return _decoded(response, origin, self.max_body)
        finally:
            self._slots.release()

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to have been closed by the server
            if not connection.closed and now - connection.idle_since < connection.expiry and \
                    not connection.readable():
                return connection
            connection.close()
        return None

    async def _connect(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = None
        if origin.scheme == "https":
            tls = self._ssl or _default_ssl()
        try:
            async with asyncio.timeout(self.connect_timeout):
                addresses = await _addresses(loop, origin)
                if len(addresses) == 1:
                    return await _open(loop, origin, addresses[0], tls, self.max_body)
                # happy eyeballs (RFC 8305), as httpx does and uvloop's create_connection does not: the next
                # address gets its turn after 0.25 s, so an IPv6 route that drops packets costs 0.25 s, not 5
                connection, _, errors = await staggered.staggered_race(
                    [functools.partial(_open, loop, origin, address, tls, self.max_body) for address in addresses],
                    HAPPY_EYEBALLS_DELAY)
                if connection is None:
                    raise next((e for e in reversed(errors) if e is not None), OSError("no address answered"))
                return connection
        except TimeoutError:
            raise ConnectTimeout(f"no connection to {origin.host}:{origin.port} within "
                                 f"{self.connect_timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, name not resolved, certificate refused
            raise ConnectError(f"cannot connect to {origin.host}:{origin.port}: {exc}") from None

    async def _exchange(self, connection: _Connection, request: bytes) -> Response:
        if connection.closed:  # nothing written yet: the request surely did not reach the server
            raise ConnectError(f"{connection.origin.host} closed the connection before the request was sent")
        reply = connection.start(request)
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def check() -> None:  # the read timeout counts from the last byte received, as httpx's does
            nonlocal timer
            if reply.done():
                return
            quiet = loop.time() - connection.last_data
            if quiet >= self.read_timeout:
                connection._fail(ReadTimeout(f"{connection.origin.host} sent nothing for {self.read_timeout:g} s"))
            else:
                timer = loop.call_later(self.read_timeout - quiet, check)

        timer = loop.call_later(self.read_timeout, check)
        try:
            return await reply
        finally:
            timer.cancel()

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


def _keepalive(header: str | None, default: float) -> float:
    """How long an idle connection may be reused: ``default``, or a second less than the server's
    ``Keep-Alive: timeout=N`` (Apache's is 5 s, as our default: its clock starts before ours, so a request sent
    just before our expiry would meet the server's close)."""
    if header:
        for part in header.split(","):
            name, _, value = part.partition("=")
            if name.strip().lower() == "timeout":
                try:
                    return min(default, max(0.0, float(value.strip()) - 1.0))
                except ValueError:
                    break
    return default


async def _addresses(loop: asyncio.AbstractEventLoop, origin: _Origin) -> list[str]:
    """The host's addresses, families interleaved (RFC 8305: IPv6, IPv4, IPv6 …, in the resolver's order)."""
    infos = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
    by_family: dict[int, list[str]] = {}
    for family, _, _, _, sockaddr in infos:
        ips = by_family.setdefault(family, [])
        if sockaddr[0] not in ips:
            ips.append(sockaddr[0])
    if not by_family:
        raise OSError(f"{origin.host} has no address")
    columns = list(by_family.values())
    return [ip for row in itertools.zip_longest(*columns) for ip in row if ip is not None]


async def _open(loop: asyncio.AbstractEventLoop, origin: _Origin, ip: str, tls: ssl.SSLContext | None,
                max_body: int) -> _Connection:
    """One connection to one address (TLS for the origin's host name, not the address)."""
    _, connection = await loop.create_connection(lambda: _Connection(origin, max_body), ip, origin.port, ssl=tls,
                                                 server_hostname=origin.host if tls else None)
    return connection


def _decoded(response: Response, origin: _Origin, limit: int) -> Response:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("identity", "") or not response.content:
        return response
    try:
        if encoding in ("gzip", "x-gzip"):
            content = _inflate(response.content, 16 + zlib.MAX_WBITS, limit, origin)
        elif encoding == "deflate":  # zlib-wrapped as the RFC says, or raw deflate as some servers send
            try:
                content = _inflate(response.content, zlib.MAX_WBITS, limit, origin)
            except zlib.error:
                content = _inflate(response.content, -zlib.MAX_WBITS, limit, origin)
        else:
            raise RemoteProtocolError(f"{origin.host} answered in an encoding not asked for: {encoding!r}")
    except zlib.error as exc:
        raise RemoteProtocolError(f"{origin.host} sent a broken {encoding} body: {exc}") from None
    return Response(response.status, response.headers, content)


def _inflate(data: bytes, wbits: int, limit: int, origin: _Origin) -> bytes:
    """``data`` decompressed, never more than ``limit`` bytes of it (a few kilobytes of gzip can inflate to
    gigabytes); a stream cut short is an error, as ``zlib.decompress`` says."""
    inflater = zlib.decompressobj(wbits)
    content = inflater.decompress(data, limit + 1)
    if len(content) <= limit and not inflater.unconsumed_tail:
        content += inflater.flush()
    if len(content) > limit or inflater.unconsumed_tail:
        raise ReplyTooLarge(f"{origin.host} sent a reply that decompresses to over {limit:,} bytes")
    if not inflater.eof:
        raise zlib.error("incomplete or truncated stream")
    return content


@lru_cache(maxsize=1)
def _default_ssl() -> ssl.SSLContext:
    """The certificates httpx would trust (SSL_CERT_FILE, SSL_CERT_DIR, else certifi's bundle)."""
    context = httpx.create_ssl_context()
    context.set_alpn_protocols(["http/1.1"])
    return context
