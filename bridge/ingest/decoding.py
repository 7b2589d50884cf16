"""From body bytes to events, within the request limits, without changing a number.

Two passes, both bounded.  First the raw bytes: strings are blanked by one regular expression and the
remaining commas and brackets counted (C speed, no Python object per value), so a 16 MB body of a million
tiny values is refused with ``413`` before it becomes a million objects; only then, to name the array that
is too long, a token scan that stops at the first offending array.  Then ``json.loads`` with hooks that
never fail or round: a number a double cannot hold (``1e400``), ``NaN``/``Infinity`` and an integer longer
than the limit become :class:`~onec_outbox.contract.events.UnreadableNumber` markers, which the contract
rejects at their field path, for that event alone.  Non-integer numbers remember the text they were sent
as (:class:`JsonFloat`) so unknown fields are stored with exactly the digits 1C wrote
(:func:`dumps_exact`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from onec_outbox.contract.events import UnreadableNumber

from .config import IngestConfig
from .request import RequestRejected

BOM = b"\xef\xbb\xbf"
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_TOKEN = re.compile(rb'"([^"\\]*(?:\\.[^"\\]*)*)"(\s*:)?|[\[\]{},]')


class JsonFloat(float):
    """A JSON number with a fraction or an exponent, with the exact text it was written as."""

    text: str


NUMERIC_MAX_SCALE = 16383  # digits after the point PostgreSQL's numeric (and so jsonb) holds
NUMERIC_MAX_EXPONENT = 2**30 - 1  # numeric's input refuses an exponent this large either way (INT_MAX / 2)


def _numeric_refusal(text: str) -> str | None:
    """Why PostgreSQL's numeric would refuse this JSON number with an exponent, None if it takes it: worked
    out on the text with integers (``Decimal`` raises on a 19-digit exponent, and the body must not 500)."""
    mantissa, _, exponent = text.lower().partition("e")
    power = int(exponent)
    if abs(power) >= NUMERIC_MAX_EXPONENT:
        return f"показатель степени {exponent} вне диапазона PostgreSQL"
    if len(mantissa.partition(".")[2]) - power > NUMERIC_MAX_SCALE:
        return f"больше {NUMERIC_MAX_SCALE} знаков после запятой (предел PostgreSQL)"
    return None


def _float(limit: int):
    def parse(text: str) -> Any:
        if len(text) > limit:
            return UnreadableNumber(text, f"длиннее {limit} символов")
        value = float(text)
        if not math.isfinite(value):
            return UnreadableNumber(text, "выходит за диапазон чисел двойной точности (±1.8e308)")
        if "e" in text or "E" in text:  # stored as sent, jsonb reads it as numeric: 1e-16384 is 0.0, no numeric
            why = _numeric_refusal(text)
            if why:
                return UnreadableNumber(text, why)
        number = JsonFloat(value)
        number.text = text
        return number
    return parse


def _int(limit: int):
    def parse(text: str) -> Any:
        if len(text) > limit:
            return UnreadableNumber(text, f"целое из {len(text.lstrip('-'))} цифр; допускается до {limit} знаков")
        if text == "-0":  # JSON's -0 is not the integer 0: keep its text
            number = JsonFloat(-0.0)
            number.text = text
            return number
        return int(text)
    return parse


def _constant(name: str) -> UnreadableNumber:
    return UnreadableNumber(name, "не число JSON (NaN и Infinity JSON не допускает)")


def count_values(body: bytes) -> int:
    """JSON values in ``body`` (array elements and object members, ± one per container), strings blanked."""
    skeleton = _STRING.sub(b"", body)
    return skeleton.count(b",") + skeleton.count(b"[") + skeleton.count(b"{")


def widest_array(body: bytes, max_items: int, budget: int) -> tuple[str, int]:
    """The path of the first array with more than ``max_items`` elements (or, after ``budget`` tokens,
    the widest so far) and its element count so far: only to name the field in a refusal."""
    stack: list[list[Any]] = []  # [path, is_array, items, pending key]
    widest = ("(тело запроса)", 0)
    for n, match in enumerate(_TOKEN.finditer(body)):
        token = match.group(0)
        top = stack[-1] if stack else None
        if match.group(1) is not None:
            if match.group(2) and top is not None:
                try:
                    top[3] = json.loads(b'"' + match.group(1) + b'"')
                except ValueError:
                    top[3] = "?"
            continue
        if token in (b"[", b"{"):
            if top is None:
                path = ""
            elif top[1]:
                path = f"{top[0]}[{top[2]}]"
            else:
                path = f"{top[0]}.{top[3]}" if top[0] else str(top[3])
            stack.append([path, token == b"[", 0, None])
        elif token in (b"]", b"}"):
            if stack:
                stack.pop()
        elif top is not None:  # a comma
            top[2] += 1
            if top[1] and top[2] + 1 > widest[1]:
                widest = (top[0] or "(тело запроса)", top[2] + 1)
                if widest[1] > max_items:
                    return widest
        if n > budget:
            break
    return widest


def refuse_bom(body: bytes) -> None:
    """A body written with a byte order mark (1C's default for a file, not for HTTP) is refused saying how
    to stop it (events and the heartbeat alike)."""
    if body.startswith(BOM):
        raise RequestRejected(400, "invalid_json", "the body starts with a byte order mark (BOM); send UTF-8 "
                              "without it (1С: ИспользованиеByteOrderMark.НеИспользовать)")


def decode(body: bytes, config: IngestConfig, max_items: int) -> tuple[list[Any], bool]:
    """The events of a body (one object becomes a list of one) and whether any carries a non-integer
    number; anything else is refused with a :class:`RequestRejected` that names the problem."""
    items, _, floats = decode_events(body, config, max_items)
    return items, floats


def decode_events(body: bytes, config: IngestConfig, max_items: int) -> tuple[list[Any], list[str] | None, bool]:
    """Like :func:`decode`, plus each event's JSON text exactly as sent (``None`` if the body could not be
    cut into events, which only a body the fast path does not expect can cause): what the outbox stores,
    so an event is never encoded again."""
    refuse_bom(body)
    if not body.strip():
        raise RequestRejected(400, "invalid_json", "the body is empty: send one event object or a JSON array "
                              "of events")
    # Every counted value is a comma or bracket, so the raw count bounds the exact one: only a body that
    # might be over the limit pays for blanking its strings.
    if body.count(b",") + body.count(b"[") + body.count(b"{") > config.max_values:
        values = count_values(body)
        if values > config.max_values:
            path, items = widest_array(body, max_items, config.max_values)
            raise RequestRejected(413, "too_many_values",
                                  f"the body holds about {values} JSON values; the limit is {config.max_values} "
                                  f"per request (the array at {path} alone has {items}"
                                  f"{'+' if items > max_items else ''} elements; at most {max_items} per array)")
    floats = False
    parse_float = _float(config.max_number_chars)

    def remember(text: str) -> Any:
        nonlocal floats
        floats = True
        return parse_float(text)

    decoder = json.JSONDecoder(parse_float=remember, parse_int=_int(config.max_number_chars),
                               parse_constant=_constant)
    spans: list[str] | None = None
    try:
        text = body.decode("utf-8")
        try:
            data, spans = _split_array(decoder, text)
        except ValueError:  # not an array of objects as expected: the whole decode says why (or reads it)
            data, spans = None, None
        if spans is None:
            data = decoder.decode(text)
    except RecursionError:
        raise RequestRejected(400, "invalid_json", "the body nests too deeply to be an event") from None
    except UnicodeDecodeError as exc:
        raise RequestRejected(400, "invalid_json", f"the body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RequestRejected(400, "invalid_json",
                              f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # a hook's own refusal: never a 500
        raise RequestRejected(400, "invalid_json", f"the body is not JSON the bridge can read: {exc}") from None
    if isinstance(data, dict):
        return [data], spans, floats
    if isinstance(data, list):
        if len(data) > config.max_batch:
            raise RequestRejected(413, "batch_too_large",
                                  f"the batch has {len(data)} events; send at most {config.max_batch} per request")
        return data, spans, floats
    raise RequestRejected(400, "invalid_body", "the body must be one event object or a JSON array of events")


_SPACE = re.compile(r"[ \t\n\r]*")


def _split_array(decoder: json.JSONDecoder, text: str) -> tuple[Any, list[str] | None]:
    """Decode a body that is one object or an array, remembering each element's text.  Raises
    ``ValueError`` for anything else (the caller then decodes it whole, for the standard error message)."""
    skip = _SPACE.match
    at = skip(text, 0).end()
    if text.startswith("{", at):
        data, end = decoder.raw_decode(text, at)
        if skip(text, end).end() != len(text):
            raise ValueError("extra data")
        return data, [text[at:end]]
    if not text.startswith("[", at):
        raise ValueError("not an array")
    items: list[Any] = []
    spans: list[str] = []
    at = skip(text, at + 1).end()
    if text.startswith("]", at):
        at += 1
    else:
        while True:
            item, end = decoder.raw_decode(text, at)
            items.append(item)
            spans.append(text[at:end])
            at = skip(text, end).end()
            if text.startswith(",", at):
                at = skip(text, at + 1).end()
            elif text.startswith("]", at):
                at += 1
                break
            else:
                raise ValueError("expected , or ]")
    if skip(text, at).end() != len(text):
        raise ValueError("extra data")
    return items, spans


def dumps_exact(dumped: Any, sent: Any) -> str:
    """JSON text of ``dumped`` (the validated event as JSON data) in which every number that was sent as
    a :class:`JsonFloat` (only unknown fields can hold one: known numbers are integers or strings) is
    written with the exact text 1C sent, not Python's rounding of it."""
    raw: list[str] = []

    def swap(out: Any, given: Any) -> Any:
        if isinstance(given, JsonFloat) and isinstance(out, float):
            raw.append(given.text)
            return f"\x00{len(raw) - 1}\x00"
        if isinstance(out, dict) and isinstance(given, dict):
            return {k: swap(v, given.get(k)) for k, v in out.items()}
        if isinstance(out, list) and isinstance(given, list) and len(out) == len(given):
            return [swap(v, g) for v, g in zip(out, given)]
        return out

    text = json.dumps(swap(dumped, sent), ensure_ascii=False, separators=(",", ":"))
    if not raw:
        return text
    # NUL never survives validation in a string, so only our placeholders hold it
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: raw[int(m.group(1))], text)
