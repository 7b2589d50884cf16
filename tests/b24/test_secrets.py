"""The webhook code never shows: not in logs, exception texts, tracebacks, reprs or metric labels.

The log checks read the raw log records (before the JSON formatter's redaction), so they prove the client
never hands the code to logging at all, not that redaction catches it afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import socket
import traceback

import httpx
import pytest

from bridge import metrics
from bridge.b24 import B24Client, RateLimit, RetryPolicy, WebhookAuth, http11
from bridge.b24.limits import NO_BATCHING
from bridge.errors import B24AuthError, B24Error, B24ServerError, B24TransportError
from tests.b24.fakes import WEBHOOK_CODE


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make(url: str, transport: httpx.AsyncBaseTransport | None = None) -> B24Client:
    return B24Client(
        WebhookAuth(url),
        transport=transport,
        retry=RetryPolicy(max_retries=1, base_delay=0),
        rate=RateLimit(1000, 1000),
        batching=NO_BATCHING,
    )


def assert_clean(exc: BaseException, caplog, b24: B24Client) -> None:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(b24), repr(b24.auth)]
    cause = exc.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        request = getattr(cause, "_request", None)
        if request is not None:
            texts += [repr(request), str(request.url)]
        cause = cause.__cause__
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.__dict__)]
    assert caplog.records, "the failing call should have logged something to check"
    for text in texts:
        assert WEBHOOK_CODE not in text


@pytest.fixture(autouse=True)
def _debug_logs(caplog):
    caplog.set_level(logging.DEBUG)


async def test_a_network_error_leaks_no_secret(caplog):
    b24 = make(f"http://127.0.0.1:{closed_port()}/rest/7/{WEBHOOK_CODE}/")
    async with b24:
        with pytest.raises(B24TransportError) as info:
            await b24.call("crm.company.get", {"id": 1})
    assert isinstance(info.value.__cause__, http11.ConnectError)  # the bridge's own client: names the host only
    assert_clean(info.value, caplog, b24)


async def test_a_password_in_the_webhook_url_shows_neither_in_logs_nor_in_the_portal_shown(caplog):
    """A webhook URL may carry a user and password (a portal behind basic auth): neither goes into a log
    line, an error, the URL the commands print, nor the portal's key (they are sent: the test below)."""
    password = "PASSW0RD-of-the-proxy"
    b24 = make(f"http://someone:{password}@127.0.0.1:{closed_port()}/rest/7/{WEBHOOK_CODE}/")
    assert b24.auth.base_url.startswith("http://127.0.0.1:") and "@" not in b24.auth.portal
    async with b24:
        with pytest.raises(B24TransportError) as info:
            await b24.call("crm.company.get", {"id": 1})
    assert_clean(info.value, caplog, b24)
    texts = [str(info.value), b24.auth.base_url, *(r.getMessage() + repr(r.__dict__) for r in caplog.records)]
    assert not [t for t in texts if password in t or "someone" in t], texts


@pytest.mark.parametrize("client", ["builtin", "httpx"])
async def test_a_user_and_password_in_the_webhook_url_go_as_basic_authentication(client):
    """What the portal (or the web server in front of it) receives: an ``Authorization: Basic`` header with
    the URL's user and password (percent-decoded), and a request line without them, through either client."""
    seen: list[bytes] = []

    async def portal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        await reader.readexactly(length)
        seen.append(head)
        body = json.dumps({"result": {"ID": "1"}, "time": {"start": 0, "finish": 0, "duration": 0}}).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(portal, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    b24 = B24Client(WebhookAuth(f"http://some%20one:p%40ss-w0rd@127.0.0.1:{port}/rest/7/{WEBHOOK_CODE}/"),
                    http_client=client, retry=RetryPolicy(max_retries=0, base_delay=0), rate=RateLimit(1000, 1000),
                    batching=NO_BATCHING)
    try:
        async with b24:
            assert await b24.call("crm.company.get", {"id": 1}) == {"ID": "1"}
    finally:
        server.close()
        await server.wait_closed()
    (head,) = seen
    expected = base64.b64encode(b"some one:p@ss-w0rd").decode()
    assert re.search(rf"(?im)^authorization: basic {re.escape(expected)}\r$", head.decode()), head
    assert head.startswith(f"POST /rest/7/{WEBHOOK_CODE}/crm.company.get HTTP/1.1".encode()), head


async def test_a_network_error_through_httpx_leaks_no_secret(caplog):
    b24 = B24Client(WebhookAuth(f"http://127.0.0.1:{closed_port()}/rest/7/{WEBHOOK_CODE}/"), http_client="httpx",
                    retry=RetryPolicy(max_retries=1, base_delay=0), rate=RateLimit(1000, 1000), batching=NO_BATCHING)
    async with b24:
        with pytest.raises(B24TransportError) as info:
            await b24.call("crm.company.get", {"id": 1})
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.__cause__.request.url.path == "/rest/7/***/crm.company.get"
    assert_clean(info.value, caplog, b24)


async def test_a_401_leaks_no_secret(caplog):
    def handler(request):
        return httpx.Response(
            401, json={"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}
        )

    b24 = make(f"https://portal.example.com/rest/7/{WEBHOOK_CODE}/", httpx.MockTransport(handler))
    async with b24:
        with pytest.raises(B24AuthError) as info:
            await b24.call("crm.company.get", {"id": 1})
        logging.getLogger("bridge.test").error(
            "call failed", exc_info=info.value, extra={"error": str(info.value)}
        )
    assert_clean(info.value, caplog, b24)


async def test_a_500_html_page_that_echoes_the_url_leaks_no_secret(caplog):
    def handler(request):
        page = f"<html><head><title>500 Internal Server Error at {request.url}</title></head></html>"
        return httpx.Response(500, text=page, headers={"content-type": "text/html"})

    b24 = make(f"https://portal.example.com/rest/7/{WEBHOOK_CODE}/", httpx.MockTransport(handler))
    async with b24:
        with pytest.raises(B24ServerError) as info:
            await b24.call("crm.company.list")
    assert "500 Internal Server Error" in info.value.description
    assert_clean(info.value, caplog, b24)


async def test_no_metric_label_holds_the_secret():
    def handler(request):
        return httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED"})

    async with make(
        f"https://portal.example.com/rest/7/{WEBHOOK_CODE}/", httpx.MockTransport(handler)
    ) as b24:
        with pytest.raises(B24Error):
            await b24.call("crm.company.list")
    labels = [
        value
        for metric in metrics.registry("consumer").collect()
        for sample in metric.samples
        for value in sample.labels.values()
    ]
    assert "crm.company.list" in labels
    assert not [value for value in labels if WEBHOOK_CODE in value or "/rest/" in value]


def test_a_malformed_webhook_url_error_does_not_echo_the_code():
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        WebhookAuth(f"https://portal.example.com/rest/{WEBHOOK_CODE}/")
    assert WEBHOOK_CODE not in str(info.value)


async def test_a_retry_says_host_attempt_and_delay_but_not_the_webhook_path(caplog):
    def handler(request):
        return httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED"})

    async with make(f"https://portal.example.com/rest/7/{WEBHOOK_CODE}/", httpx.MockTransport(handler)) as b24:
        with pytest.raises(B24Error):
            await b24.call("crm.company.list")
    [retry] = [r for r in caplog.records if getattr(r, "action", None) == "b24.retry"]
    message = retry.getMessage()
    assert "portal.example.com" in message and "retry 1 of 1" in message and re.search(r"in \d+\.\d s", message)
    assert "/rest/" not in message and WEBHOOK_CODE not in repr(retry.__dict__)
    assert retry.host == "portal.example.com" and retry.attempt == 1
