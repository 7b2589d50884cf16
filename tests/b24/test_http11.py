"""The bridge's own HTTP/1.1 client against real sockets: what it sends, every way a reply can be framed,
connections reused and replaced, TLS verified, and — what the retry rules depend on — every failure saying
whether the request can have reached the server (``transport.never_sent``)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import subprocess
import threading
import time
import zlib

import pytest
import uvloop
from pydantic import ValidationError

from bridge.b24 import client_from_settings, http11
from bridge.b24.limits import Timeouts
from bridge.b24.transport import Edge, never_sent
from bridge.cli import _settings_problem
from bridge.errors import B24ReplyTooLarge, B24TransportError
from bridge.settings import Settings
from tests.helpers import free_port

# pytest-asyncio 1.5 calls overriding this fixture deprecated in favour of a hook that would apply to every test
# of the directory; the lock pins 1.5
pytestmark = pytest.mark.filterwarnings("ignore:Overriding the \"event_loop_policy\" fixture:DeprecationWarning")


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request):
    """Each test on both loops: the bridge runs on uvloop (whose ``create_connection`` differs from asyncio's),
    the rest of the tests on asyncio's."""
    return uvloop.EventLoopPolicy() if request.param == "uvloop" else asyncio.DefaultEventLoopPolicy()


class Server:
    """A TCP server on 127.0.0.1 answering the n-th request with ``reply(request, n)``: bytes, or a list of
    bytes and pauses (float seconds), ``"close"`` hanging up after them; None stays silent.  Records the
    requests and counts the connections."""

    def __init__(self, reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.reply(request, len(self.requests))
                if answer is None:
                    await asyncio.sleep(3600)
                parts = answer if isinstance(answer, list) else [answer]
                for part in parts:
                    if isinstance(part, float):
                        await asyncio.sleep(part)
                    elif isinstance(part, bytes):
                        writer.write(part)
                        await writer.drain()
                if any(p == "close" or isinstance(p, bytes) and b"Connection: close" in p for p in parts):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ok(body: bytes = b'{"result":true}', *extra: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
            + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body)


def client(**kwargs) -> http11.Http11:
    kwargs.setdefault("connect_timeout", 2.0)
    kwargs.setdefault("read_timeout", 2.0)
    kwargs.setdefault("pool_timeout", 2.0)
    return http11.Http11(headers=[("Accept", "application/json"), ("User-Agent", "test")], **kwargs)


def edge(secrets=(), **kwargs) -> Edge:
    """An edge whose scrub knows ``secrets`` (none by default: so a test sees what the client itself writes)."""
    return Edge(Timeouts(connect=1.0, read=kwargs.pop("read", 1.0), pool=0.5), lambda: list(secrets), **kwargs)


async def test_sends_the_request_and_reuses_the_connection():
    async with Server(lambda request, n: ok(b'{"n":%d}' % n)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        http = client()
        first = await http.request("POST", f"{server.url}/rest/1/s3cr3t/batch?x=1", b'{"a":"\xd0\xb1"}',
                                   [("Content-Type", "application/json; charset=utf-8")])
        second = await http.request("GET", f"{server.url}/rest/1/s3cr3t/profile")
        await http.aclose()
    assert (first.status, first.content, second.content) == (200, b'{"n":1}', b'{"n":2}')
    assert first.headers["content-type"] == "application/json"
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /rest/1/s3cr3t/batch?x=1 HTTP/1.1"
    assert {b"Host: 127.0.0.1:%d" % port, b"Accept: application/json",
            b"User-Agent: test", b"Content-Length: 10",
            b"Content-Type: application/json; charset=utf-8"} <= set(lines[1:])
    assert body == b'{"a":"\xd0\xb1"}'
    assert server.requests[1].startswith(b"GET /rest/1/s3cr3t/profile HTTP/1.1\r\n")
    assert b"Content-Length" not in server.requests[1]


@pytest.mark.parametrize("framing", ["chunked", "gzip", "deflate", "raw deflate", "until close", "in pieces"])
async def test_reads_every_framing_of_a_reply(framing):
    body = '{"result":{"TITLE":"ООО Ромашка"}}'.encode() * 50

    def reply(request, n):
        if framing == "chunked":
            chunks = [body[:100], body[100:]]
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n")
        if framing == "gzip":
            return ok(gzip.compress(body), b"Content-Encoding: gzip")
        if framing == "deflate":
            return ok(zlib.compress(body), b"Content-Encoding: deflate")
        if framing == "raw deflate":
            raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            return ok(raw.compress(body) + raw.flush(), b"Content-Encoding: deflate")
        if framing == "until close":
            return [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body]
        whole = ok(body)
        return [whole[:20], 0.05, whole[20:500], 0.05, whole[500:]]

    async with Server(reply) as server:
        http = client()
        first = await http.request("GET", f"{server.url}/a")
        second = await http.request("GET", f"{server.url}/b")
        await http.aclose()
    assert first.content == body and second.content == body
    assert server.connections == (2 if framing == "until close" else 1)


@pytest.mark.parametrize("framing", ["Content-Length", "chunked", "until close"])
async def test_a_reply_larger_than_the_limit_fails_and_its_connection_is_dropped(framing):
    big = b"x" * 5000

    def reply(request, n):
        if n > 1:
            return ok(b"small")
        if framing == "chunked":
            return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    *(b"%x\r\n%s\r\n" % (1000, big[:1000]) for _ in range(5)), b"0\r\n\r\n"]
        if framing == "until close":
            return [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big]
        return ok(big)

    async with Server(reply) as server:
        http = client(max_body=4096)
        with pytest.raises(http11.ReplyTooLarge, match="over 4,096") as info:
            await http.request("GET", f"{server.url}/rest/1/s3cr3t/crm.product.list")
        after = await http.request("GET", f"{server.url}/b")  # the rest of the big reply is not read as this one
        await http.aclose()
    assert isinstance(info.value, http11.MaybeSent) and "s3cr3t" not in str(info.value)
    assert after.content == b"small" and server.connections == 2


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
async def test_a_compressed_reply_that_inflates_past_the_limit_fails(encoding):
    """A few kilobytes of gzip can inflate to gigabytes: the client stops at the limit instead of running out of memory."""
    bomb = b"\0" * 10_000_000
    exact = b"y" * 65536

    def compressed(data: bytes) -> bytes:
        if encoding == "gzip":
            return gzip.compress(data)
        if encoding == "deflate":
            return zlib.compress(data)
        raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return raw.compress(data) + raw.flush()

    header = b"Content-Encoding: " + encoding.split()[-1].encode()
    async with Server(lambda request, n: ok(compressed(bomb if n == 1 else exact), header)) as server:
        http = client(max_body=65536)
        with pytest.raises(http11.ReplyTooLarge, match="decompresses to over 65,536 bytes"):
            await http.request("GET", f"{server.url}/a")
        at_the_limit = await http.request("GET", f"{server.url}/b")
        await http.aclose()
    assert len(compressed(bomb)) < 65536  # within the limit on the wire: only the decompressed size gives it away
    assert at_the_limit.content == exact


async def test_through_the_edge_a_reply_over_the_limit_is_the_messages_own_failure_not_an_outage():
    """``B24ReplyTooLarge`` (retry tiers, then the DLQ) rather than ``B24TransportError`` (a pause of every
    message, as if the portal were down)."""
    bomb = gzip.compress(b"\0" * (http11.MAX_BODY + 1))
    async with Server(lambda request, n: ok(bomb, b"Content-Encoding: gzip")) as server:
        e = edge()
        with pytest.raises(B24ReplyTooLarge) as info:
            await e.send("crm.product.list", "POST", "x", f"{server.url}/rest/1/s3cr3t/crm.product.list", b"{}")
        await e.aclose()
    assert not isinstance(info.value, B24TransportError) and not never_sent(info.value)
    assert f"{http11.MAX_BODY:,}" in str(info.value) and "s3cr3t" not in str(info.value)


async def test_a_truncated_gzip_body_is_a_broken_reply():
    body = gzip.compress(b'{"result":true}' * 100)
    async with Server(lambda request, n: ok(body[:-12], b"Content-Encoding: gzip")) as server:
        http = client()
        with pytest.raises(http11.RemoteProtocolError, match="broken gzip body"):
            await http.request("GET", f"{server.url}/a")
        await http.aclose()


@pytest.mark.parametrize("interim", [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"])
async def test_an_interim_reply_is_not_the_reply(interim):
    async with Server(lambda request, n: [interim, 0.05, ok(b'{"n":%d}' % n)]) as server:
        http = client()
        first = await http.request("POST", f"{server.url}/a", b"{}")
        second = await http.request("POST", f"{server.url}/b", b"{}")  # not given the first request's reply
        await http.aclose()
    assert (first.status, first.content, second.content) == (200, b'{"n":1}', b'{"n":2}')
    assert "link" not in first.headers


async def test_a_transfer_encoding_other_than_chunked_ends_with_the_connection():
    reply = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nbody", "close"]
    async with Server(lambda request, n: reply) as server:
        http = client()
        first = await http.request("GET", f"{server.url}/a")
        second = await http.request("GET", f"{server.url}/b")
        await http.aclose()
    assert first.content == second.content == b"body" and server.connections == 2


async def test_the_servers_keep_alive_timeout_is_respected():
    async with Server(lambda request, n: ok(b"x", b"Keep-Alive: timeout=1, max=100")) as server:
        http = client()  # our own expiry is 5 s; the server's 1 s, less a second for the way: never reused
        await http.request("GET", f"{server.url}/a")
        await http.request("GET", f"{server.url}/b")
        await http.aclose()
    assert server.connections == 2


async def test_an_idle_connection_the_server_closed_is_replaced():
    async with Server(lambda request, n: [ok(), "close"] if n == 1 else ok(b"again")) as server:
        http = client()
        await http.request("GET", f"{server.url}/a")  # kept alive by the client; the server hangs up after it
        await asyncio.sleep(0.05)
        second = await http.request("GET", f"{server.url}/b")
        await http.aclose()
    assert second.content == b"again"
    assert server.connections == 2


async def test_a_connection_that_answered_twice_is_not_reused():
    async with Server(lambda request, n: ok(b"one") + ok(b"two") if n == 1 else ok(b"three")) as server:
        http = client()
        first = await http.request("GET", f"{server.url}/a")
        second = await http.request("GET", f"{server.url}/b")
        await http.aclose()
    assert (first.content, second.content) == (b"one", b"three")
    assert server.connections == 2


async def test_a_close_the_event_loop_has_not_seen_yet_is_noticed_before_reuse():
    listener = socket.create_server(("127.0.0.1", 0))
    replies = [ok(b"first"), ok(b"again")]

    closed = threading.Event()

    def serve() -> None:  # in a thread: its close reaches the client's socket while the client's loop is blocked
        for reply in replies:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(reply)
                time.sleep(0.05)
            closed.set()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    http = client()
    assert (await http.request("GET", f"{url}/a")).content == b"first"
    assert closed.wait(5)  # the server has closed; the event loop has not run since, so it has seen no EOF
    time.sleep(0.05)  # noqa: ASYNC251 - the FIN's way through loopback
    second = await http.request("POST", f"{url}/b", b"{}")
    await http.aclose()
    thread.join(5)
    assert second.content == b"again"


async def test_a_url_with_a_bad_port_is_never_sent():
    e = edge()
    with pytest.raises(B24TransportError) as info:
        await e.send("crm.deal.add", "POST", "x", "http://portal.example:99999x/rest/1/s3cr3t/", b"{}")
    await e.aclose()
    assert never_sent(info.value) and "s3cr3t" not in str(info.value) + str(info.value.__cause__)


async def test_an_expired_idle_connection_is_not_reused():
    async with Server(lambda request, n: ok()) as server:
        http = client(keepalive_expiry=0.05)
        await http.request("GET", f"{server.url}/a")
        await asyncio.sleep(0.1)
        await http.request("GET", f"{server.url}/b")
        await http.aclose()
    assert server.connections == 2


async def test_a_refused_connection_was_never_sent():
    port = free_port()  # nothing listens there
    e = edge()
    with pytest.raises(B24TransportError) as info:
        await e.send("crm.deal.add", "POST", "http://x/rest/1/***/", f"http://127.0.0.1:{port}/rest/1/s3cr3t/", b"{}")
    await e.aclose()
    assert isinstance(info.value.__cause__, http11.ConnectError)
    assert never_sent(info.value)
    assert "s3cr3t" not in str(info.value) + str(info.value.__cause__) and f"127.0.0.1:{port}" in str(info.value)


@pytest.mark.parametrize("server_does", ["stays silent", "hangs up", "answers garbage"])
async def test_a_request_that_reached_the_server_may_have_been_applied(server_does):
    answer = {"stays silent": None, "hangs up": "close", "answers garbage": b"NOT HTTP\r\n\r\n"}[server_does]
    async with Server(lambda request, n: answer) as server:
        e = edge(read=0.3)
        with pytest.raises(B24TransportError) as info:
            await e.send("crm.deal.add", "POST", "x", f"{server.url}/rest/1/s3cr3t/crm.deal.add", b"{}")
        await e.aclose()
    expected = {"stays silent": http11.ReadTimeout}.get(server_does, http11.RemoteProtocolError)
    assert isinstance(info.value.__cause__, expected)
    assert not never_sent(info.value), "a write whose fate is unknown must not be repeated blindly"
    assert "s3cr3t" not in str(info.value) + str(info.value.__cause__)  # the host is named, never the path
    assert len(server.requests) == 1


async def test_the_read_timeout_counts_from_the_last_byte():
    whole = ok(b"x" * 40)
    slow = [whole[:10], 0.2, whole[10:20], 0.2, whole[20:30], 0.2, whole[30:40], 0.2, whole[40:]]  # 0.8 s, 0.2 s gaps
    async with Server(lambda request, n: slow) as server:
        http = client(read_timeout=0.5)
        reply = await http.request("GET", f"{server.url}/a")
        await http.aclose()
    assert reply.content == b"x" * 40


async def test_no_free_connection_in_time_was_never_sent():
    async with Server(lambda request, n: None if n == 1 else ok()) as server:
        e = Edge(Timeouts(connect=1.0, read=5.0, pool=0.2), list, max_connections=1)
        hanging = asyncio.create_task(e.send("crm.deal.add", "POST", "x", f"{server.url}/a", b"{}"))
        await asyncio.sleep(0.1)
        with pytest.raises(B24TransportError) as info:
            await e.send("crm.deal.add", "POST", "x", f"{server.url}/b", b"{}")
        hanging.cancel()
        await asyncio.gather(hanging, return_exceptions=True)
        assert (await e.send("crm.deal.get", "POST", "x", f"{server.url}/c", b"{}")).status == 200  # slot freed
        await e.aclose()
    assert isinstance(info.value.__cause__, http11.PoolTimeout)
    assert never_sent(info.value)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
                   check=True, capture_output=True)
    return folder / "cert.pem", folder / "key.pem"


async def test_tls_is_verified(certificate, monkeypatch):
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    requests = []

    async def serve(reader, writer):
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(ok(b"secure"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}/rest/1/s3cr3t/profile"
    try:
        e = edge()  # certifi's bundle: a self-signed certificate is refused before anything is sent
        with pytest.raises(B24TransportError) as info:
            await e.send("profile", "POST", "x", url, b"{}")
        await e.aclose()
        assert isinstance(info.value.__cause__, http11.ConnectError) and never_sent(info.value)
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) and not requests

        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted the way httpx trusts it
        http11._default_ssl.cache_clear()
        e = edge()
        reply = await e.send("profile", "POST", "x", url, b"{}")
        await e.aclose()
        assert reply.content == b"secure"
        assert requests[0].startswith(b"POST /rest/1/s3cr3t/profile HTTP/1.1\r\n")
    finally:
        http11._default_ssl.cache_clear()
        server.close()


async def test_a_configured_proxy_is_used_and_the_environments_is_not(monkeypatch):
    async with Server(lambda request, n: ok(b"direct")) as portal, \
            Server(lambda request, n: ok(b"via the proxy")) as proxy:
        portal_url = f"{portal.url}/rest/1/s3cr3t/profile"
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # meant for other programs: the bridge does not read it
        e = edge()
        reply = await e.send("profile", "POST", "http://portal/rest/1/***/profile", portal_url, b"{}")
        await e.aclose()
        assert reply.content == b"direct" and not proxy.requests

        e = edge(proxy=proxy.url)  # BRIDGE_B24_PROXY_URL
        reply = await e.send("profile", "POST", "http://portal/rest/1/***/profile", portal_url, b"{}")
        await e.aclose()
    assert reply.content == b"via the proxy"
    assert proxy.requests[0].startswith(f"POST {portal_url} HTTP/1.1\r\n".encode())  # absolute form
    assert len(portal.requests) == 1


async def test_a_proxy_that_refuses_the_tunnel_was_never_sent():
    refuse = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
    async with Server(lambda request, n: refuse) as proxy:
        e = edge(["s3cr3t"], proxy=proxy.url.removeprefix("http://"))  # no scheme: http://, as curl and httpx read it
        with pytest.raises(B24TransportError) as info:
            await e.send("crm.deal.add", "POST", "https://portal/rest/1/***/", "https://portal.invalid/rest/1/s3cr3t/",
                         b"{}")
        await e.aclose()
    assert proxy.requests[0].startswith(b"CONNECT portal.invalid:443 HTTP/1.1\r\n")
    assert never_sent(info.value) and "s3cr3t" not in str(info.value) + str(info.value.__cause__)


async def test_a_proxy_that_does_not_answer_is_named_in_the_error_without_its_password():
    """"All connection attempts failed" alone sends an operator to the portal; the proxy is what is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends
    e = edge(["s3cr3t"], proxy=f"http://squid:pw-0f-the-proxy@127.0.0.1:{port}")
    with pytest.raises(B24TransportError) as info:
        await e.send("crm.deal.add", "POST", "https://portal/rest/1/***/", "https://portal.invalid/rest/1/s3cr3t/", b"{}")
    await e.aclose()
    assert str(info.value).endswith(f"(through the proxy 127.0.0.1:{port})"), str(info.value)
    assert "pw-0f-the-proxy" not in str(info.value) and "squid" not in str(info.value)


def test_a_proxy_password_is_scrubbed_from_error_texts():
    e = edge(proxy="http://squid:pw-0f-the-proxy@proxy.corp:3128")
    assert e.scrub("proxy http://squid:pw-0f-the-proxy@proxy.corp:3128 said no (pw-0f-the-proxy)") == \
        "proxy *** said no (***)"


@pytest.mark.parametrize("value", ["http://squid:pw-0f-the-proxy@[::1", "ftp://proxy.corp:21", "http://:3128",
                                   "socks5://squid:pw-0f-the-proxy@proxy.corp:1080",
                                   "http://squid:pw-0f-the-proxy@proxy.corp:99999"])
def test_a_proxy_address_httpx_cannot_use_is_refused_at_start_without_showing_it(value):
    with pytest.raises(ValidationError) as info:
        Settings(b24_proxy_url=value)
    shown = _settings_problem(info.value)  # what `b24bridge …` prints and logs
    assert shown.startswith("BRIDGE_B24_PROXY_URL: ") and "must be http://" in shown, shown
    assert "pw-0f-the-proxy" not in shown and "pw-0f-the-proxy" not in str(info.value)  # nor in a traceback


async def test_httpx_on_request():
    async with Server(lambda request, n: ok(b"via httpx")) as server:
        e = edge(client="httpx")
        reply = await e.send("profile", "POST", "http://portal/a", f"{server.url}/a", b"{}")
        await e.aclose()
    assert e.builtin is None and reply.content == b"via httpx"
    assert b"python-httpx" not in server.requests[0]


async def test_the_proxy_setting_reaches_the_client():
    envelope = b'{"result":{"ID":"1","NAME":"Admin"},"time":{"start":1.0,"finish":1.01,"duration":0.01}}'
    async with Server(lambda request, n: ok(envelope)) as proxy:
        b24 = client_from_settings(Settings(b24_webhook_url="http://portal.invalid/rest/1/s3cr3t/",
                                            b24_proxy_url=proxy.url))
        async with b24:
            assert (await b24.call("profile"))["NAME"] == "Admin"
    assert proxy.requests[0].startswith(b"POST http://portal.invalid/rest/1/s3cr3t/profile")


async def test_a_request_cancelled_mid_reply_frees_its_slot_and_its_connection_is_not_reused():
    half = ok(b"x" * 100)[:60]
    async with Server(lambda request, n: [half, 30.0] if n == 1 else ok(b"next")) as server:
        http = client(max_connections=1, pool_timeout=0.5)
        first = asyncio.create_task(http.request("GET", f"{server.url}/a"))
        await asyncio.sleep(0.1)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        second = await http.request("GET", f"{server.url}/b")  # the only slot is free again
        await http.aclose()
    assert first.cancelled() and second.content == b"next"
    assert server.connections == 2  # the half-read connection was closed, not handed to the next request
