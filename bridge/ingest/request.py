"""The transport rules of contract v1, checked before any event is read.

``401`` for a missing or unknown token, ``415`` for a content type other than JSON in UTF-8, ``413`` for a
body or batch too large, ``400`` for a body that is not JSON or not an event/array of events.  Each
refusal is a :class:`RequestRejected` whose message names the problem.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import Request

BOM = b"\xef\xbb\xbf"


class RequestRejected(Exception):
    """The whole request is refused with this status and error (the body names the problem)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def check_token(request: Request, tokens: list[bytes]) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RequestRejected(401, "unauthorized", "send Authorization: Bearer <token>")
    given = token.strip().encode()
    match = False
    for known in tokens:  # compare with every token, always: no early exit to time
        match |= hmac.compare_digest(given, known)
    if not match:
        raise RequestRejected(401, "unauthorized", "the bearer token is not one of BRIDGE_INGEST_TOKENS")


def check_content_type(request: Request) -> None:
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


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestRejected(413, "body_too_large", f"the body has {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejected(413, "body_too_large", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode(body: bytes, max_batch: int) -> list[Any]:
    """The events of a body: one object becomes a list of one; anything else is refused with a reason."""
    if body.startswith(BOM):
        raise RequestRejected(400, "invalid_json", "the body starts with a byte order mark (BOM); send UTF-8 "
                              "without it (1С: ИспользованиеByteOrderMark.НеИспользовать)")
    try:
        data = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise RequestRejected(400, "invalid_json", "the body nests too deeply to be an event") from None
    except UnicodeDecodeError as exc:
        raise RequestRejected(400, "invalid_json", f"the body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RequestRejected(400, "invalid_json",
                              f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if len(data) > max_batch:
            raise RequestRejected(413, "batch_too_large",
                                  f"the batch has {len(data)} events; send at most {max_batch} per request")
        return data
    raise RequestRejected(400, "invalid_body", "the body must be one event object or a JSON array of events")
