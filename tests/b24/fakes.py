"""Test doubles for unit tests through ``httpx.MockTransport``: a PHP ``parse_str`` model and a fake portal
that answers direct calls and ``batch`` the way the reference describes (HTTP 200 for batches, per-command
buckets, ``[]`` for empty buckets)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import httpx

WEBHOOK_CODE = "s3cr3tw3bh00kc0de"
WEBHOOK_URL = f"https://portal.example.com/rest/7/{WEBHOOK_CODE}/"


def php_parse_str(query: str) -> dict[str, Any]:
    """What PHP's parse_str makes of a query: decode name and value, then split the name on brackets."""
    out: dict[str, Any] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name, value = unquote_plus(name), unquote_plus(value)
        match = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", name)
        assert match, f"PHP could not read the variable name {name!r}"
        keys = [match.group(1), *re.findall(r"\[([^\]]*)\]", match.group(2))]
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return out


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def ok(result: Any, *, total: int | None = None, next: int | None = None, time_: dict | None = None) -> Reply:
    body: dict[str, Any] = {"result": result}
    if total is not None:
        body["total"] = total
    if next is not None:
        body["next"] = next
    body["time"] = time_ or {"start": time.time(), "finish": time.time(), "duration": 0.01, "operating": 0}
    return Reply(200, body)


def err(status: int, code: Any, description: str = "") -> Reply:
    return Reply(status, {"error": code, "error_description": description})


def html(
    status: int, text: str = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
):
    return Reply(status, raw=text.encode(), content_type="text/html")


Handler = Callable[[dict[str, Any]], Reply]


@dataclass
class Seen:
    path: str
    method: str
    params: dict[str, Any]
    http_method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)


class FakePortal:
    """Answers ``<base><method>``: a handler per method (params → Reply), ``batch`` built on them."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.requests: list[Seen] = []  # HTTP requests
        self.commands: list[Seen] = []  # method executions (a batch adds one per command)
        self.fallback: Handler | None = None

    def on(self, method: str, handler: Handler | Reply | Any) -> None:
        if isinstance(handler, Reply):
            self.handlers[method] = lambda params, r=handler: r
        elif callable(handler):
            self.handlers[method] = handler
        else:
            self.handlers[method] = lambda params, v=handler: ok(v)

    def _run(self, method: str, params: dict[str, Any], path: str) -> Reply:
        self.commands.append(Seen(path, method, params))
        handler = self.handlers.get(method) or self.fallback
        if handler is None:
            return err(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        return handler(params)

    @property
    def batches(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "batch"]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        method = path.rsplit("/", 1)[-1]
        params = json.loads(request.content) if request.content else {}
        self.requests.append(Seen(path, method, params, request.method, dict(request.headers)))
        if method == "batch":
            reply = self._batch(params, path)
        else:
            reply = self._run(method, params, path)
        return _response(reply)

    def _batch(self, params: dict[str, Any], path: str) -> Reply:
        buckets: dict[str, dict[str, Any]] = {
            b: {} for b in ("result", "result_error", "result_total", "result_next", "result_time")
        }
        for key, command in params["cmd"].items():
            method, _, query = command.partition("?")
            reply = self._run(method, php_parse_str(query), path)
            body = reply.body
            if reply.status >= 400:
                buckets["result_error"][key] = body
                if params.get("halt"):
                    break
                continue
            buckets["result"][key] = body["result"]
            for name, bucket in (("total", "result_total"), ("next", "result_next"), ("time", "result_time")):
                if name in body:
                    buckets[bucket][key] = body[name]
        envelope = {name: (bucket or []) for name, bucket in buckets.items()}
        return Reply(200, {"result": envelope, "time": {"start": time.time(), "operating": 0}})


def _response(reply: Reply) -> httpx.Response:
    headers = {"content-type": reply.content_type, **reply.headers}
    content = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
    return httpx.Response(reply.status, headers=headers, content=content)
