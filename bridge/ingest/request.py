"""The transport rules of contract v1, checked before any event is read.

``401`` for a missing or unknown token, ``415`` for a content type other than JSON in UTF-8, ``413`` for a
body too large, ``408`` for a body that does not arrive in time (``decoding`` refuses the rest: not JSON,
too many values or events).  Each refusal is a :class:`RequestRejected` whose message names the problem.
"""

from __future__ import annotations

import asyncio
import hmac

from fastapi import Request
from starlette.requests import ClientDisconnect


class RequestRejected(Exception):
    """The whole request is refused with this status and error (the body names the problem)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


DRAIN_BYTES = 64 * 1024 * 1024  # the most of a refused request's body read and dropped (see drain)
_REALM = 'Bearer realm="onec-b24-bridge ingest"'  # a 401 says which scheme to use (RFC 9110 §11.6.1, RFC 6750)


def check_token(request: Request, tokens: list[bytes]) -> bytes:
    """The known token the request carries (RequestRejected 401 if none)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RequestRejected(401, "unauthorized", "send Authorization: Bearer <token>", {"WWW-Authenticate": _REALM})
    given = token.strip().encode()
    matched: bytes | None = None
    for known in tokens:  # compare with every token, always: no early exit to time
        if hmac.compare_digest(given, known):
            matched = known
    if matched is None:
        raise RequestRejected(401, "unauthorized", "the bearer token is not one of BRIDGE_INGEST_TOKENS",
                              {"WWW-Authenticate": f'{_REALM}, error="invalid_token"'})
    return matched


def check_sources(items: list, allowed: frozenset[str] | None) -> None:
    """Refuse the request (403 forbidden_source) when an event's ``source`` is not one its token is bound
    to; ``allowed`` None: the token may send any source.  An item without a string ``source`` (or not an
    object) names no base: validation rejects it on its own, with the field's error."""
    if allowed is None:
        return
    for index, item in enumerate(items):
        source = item.get("source") if isinstance(item, dict) else None
        if isinstance(source, str) and source not in allowed:
            where = f"events[{index}].source" if len(items) > 1 else "source"
            raise RequestRejected(403, "forbidden_source",
                                  f"{where}: {source!r} is not a 1C base this token may send for "
                                  f"(bound to: {', '.join(sorted(allowed))}); nothing was stored")


def check_content_type(request: Request) -> None:
    """``415`` for anything but JSON in UTF-8, and for a compressed body: the ingest decodes no content
    coding (RFC 9110 §15.5.16: say so, with ``Accept-Encoding``), so gzip would otherwise read as bad UTF-8."""
    coding = request.headers.get("content-encoding", "").strip().lower()
    if coding not in ("", "identity"):
        raise RequestRejected(415, "unsupported_media_type",
                              f"Content-Encoding {coding!r} is not supported: send the body uncompressed",
                              {"Accept-Encoding": "identity"})
    value = request.headers.get("content-type", "")
    media, _, params = value.partition(";")
    if media.strip().lower() != "application/json":
        raise RequestRejected(415, "unsupported_media_type",
                              f"Content-Type must be application/json; charset=utf-8 (got {value or 'none'!r})")
    for param in params.split(";"):
        key, _, charset = param.partition("=")
        if key.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestRejected(415, "unsupported_media_type",
                                  f"the body must be UTF-8 (got charset {charset.strip()!r})")


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, at most ``limit`` bytes, received within ``timeout`` seconds: a sender that declares more
    than it sends gets ``408`` and its connection closed instead of holding it forever."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestRejected(413, "body_too_large", f"the body has {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestRejected(413, "body_too_large", f"the body exceeds {limit} bytes")
                chunks.append(chunk)
    except ClientDisconnect:
        raise RequestRejected(400, "invalid_body", f"the client went away after {size} bytes of the body") from None
    except TimeoutError:
        raise RequestRejected(408, "body_timeout", f"the body did not arrive within {timeout:g} s "
                              f"({size} of {declared or 'unknown'} bytes received); "
                              "BRIDGE_INGEST_BODY_TIMEOUT sets the limit") from None
    return b"".join(chunks)


async def drain(request: Request, timeout: float) -> None:
    """Read and drop what is left of a refused request's body (at most :data:`DRAIN_BYTES`, within
    ``timeout`` seconds) before the refusal is sent.  A client that sends its whole body before it reads
    the answer — Python's urllib; the 1C sender, which splits a batch on 413 — otherwise meets a connection
    reset ("the bridge is unreachable": the same batch again after a pause, for ever) instead of the 413,
    or the 401 that says its token is wrong."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > DRAIN_BYTES:
        return  # too much to read for an answer: the connection is closed on it
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > DRAIN_BYTES:
                    return
    except (RuntimeError, ClientDisconnect, TimeoutError):  # read already, gone, or too slow: nothing to do
        return
