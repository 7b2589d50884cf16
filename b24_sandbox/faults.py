"""Fault injection: the ways a real portal (and the nginx in front of it) fails, on demand.

A :class:`Faults` object holds the active faults and decides, request by request, what goes wrong:

- **latency** per method or for all (fixed ``seconds`` or a ``min``..``max`` range);
- **errors** per method with a ``rate`` (0..1) and an optional ``count``: a JSON error of the portal
  (``INTERNAL_SERVER_ERROR`` 500, ``QUERY_LIMIT_EXCEEDED`` 503, ``OVERLOAD_LIMIT`` 503, …) or an nginx HTML
  page (``HTML_500``, ``HTML_502``, ``HTML_503``, ``HTML_504``); ``nested`` rules also hit commands inside
  a ``batch`` (their error lands in ``result_error``);
- an **outage**: every REST request fails at the connection level (``drop``) or with a 502/504 HTML page,
  for ``seconds`` or until cleared;
- a **storm**: every REST request answers 503 ``QUERY_LIMIT_EXCEEDED`` for ``seconds`` and/or ``requests``;
- **moved**: every REST call answers 302 with ``Location`` on a new domain, as after a domain change
  (requests that already use the new domain are served).

Random choices come from one seeded generator, so a run with the same seed fails the same way.  Time
windows follow the sandbox clock.  ``/_sandbox/*`` is never faulted.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock

JSON_ERRORS: dict[str, tuple[int, str]] = {
    "INTERNAL_SERVER_ERROR": (500, "Internal server error"),
    "ERROR_UNEXPECTED_ANSWER": (500, "Server returned an unexpected response"),
    "QUERY_LIMIT_EXCEEDED": (503, "Too many requests"),
    "OVERLOAD_LIMIT": (503, "REST API is blocked due to overload"),
    "OPERATION_TIME_LIMIT": (429, "Method is blocked due to operation time limit."),
    "ACCESS_DENIED": (403, "REST is available only on commercial plans."),  # reference §1.1, word for word
    "NO_AUTH_FOUND": (401, "Wrong authorization data"),
    "expired_token": (401, "The access token provided has expired"),
}
HTML_ERRORS: dict[str, int] = {"HTML_500": 500, "HTML_502": 502, "HTML_503": 503, "HTML_504": 504}
REASONS = {302: "Found", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
           504: "Gateway Time-out"}
OUTAGE_MODES = ("drop", "502", "504")


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message names the field and the reason."""


def nginx_page(status: int) -> str:
    """The page nginx sends for an error status (what a client gets instead of JSON)."""
    title = f"{status} {REASONS.get(status, 'Error')}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
            f"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@dataclass
class Injection:
    """What to answer instead of running the request.

    ``kind``: ``json`` (a portal error body), ``html`` (an nginx page), ``redirect`` (302 with ``Location``)
    or ``drop`` (close the connection without an answer).  ``label`` names the fault in the statistics.
    """

    kind: str
    status: int
    label: str
    error: str | None = None
    description: str | None = None
    location: str | None = None

    def json_body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class Latency:
    method: str = "*"
    seconds: float | None = None
    min: float | None = None
    max: float | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        if self.seconds is not None:
            out["seconds"] = self.seconds
        else:
            out.update({"min": self.min, "max": self.max})
        return out


@dataclass
class ErrorRule:
    method: str = "*"
    error: str = "INTERNAL_SERVER_ERROR"
    rate: float = 1.0
    count: int | None = None
    nested: bool = False
    status: int | None = None
    description: str | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "error": self.error, "rate": self.rate, "count": self.count,
                               "nested": self.nested}
        if self.status is not None:
            out["status"] = self.status
        if self.description is not None:
            out["description"] = self.description
        return out

    def injection(self) -> Injection:
        if self.error in HTML_ERRORS:
            return Injection("html", HTML_ERRORS[self.error], self.error)
        status, text = JSON_ERRORS.get(self.error, (500, "Internal server error"))
        return Injection("json", self.status or status, self.error, self.error, self.description or text)


@dataclass
class Window:
    """An outage or a storm: active until ``until`` (clock time) and/or for ``requests`` more requests."""

    until: float | None = None
    requests: int | None = None
    mode: str = "drop"

    def active(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.requests is None or self.requests > 0

    def consume(self) -> None:
        if self.requests is not None:
            self.requests -= 1


@dataclass
class Moved:
    domain: str
    scheme: str | None = None


@dataclass
class _State:
    latency: list[Latency] = field(default_factory=list)
    errors: list[ErrorRule] = field(default_factory=list)
    outage: Window | None = None
    storm: Window | None = None
    moved: Moved | None = None


class Faults:
    def __init__(self, clock: Clock, seed: int | None = None) -> None:
        self._clock = clock
        self._seed = seed
        self._rng = random.Random(seed)
        self._state = _State()
        self._lock = threading.Lock()

    # ---- Python API --------------------------------------------------------------------------------

    def seed(self, seed: int | None) -> None:
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)

    def add_latency(self, seconds: float | None = None, *, min: float | None = None, max: float | None = None,
                    method: str = "*") -> None:
        """Delay requests to ``method`` (or all) by ``seconds``, or by a seeded random value in [min, max]."""
        self.configure({"latency": [{"method": method, "seconds": seconds, "min": min, "max": max}]})

    def add_error(self, error: str = "INTERNAL_SERVER_ERROR", *, method: str = "*", rate: float = 1.0,
                  count: int | None = None, nested: bool = False, status: int | None = None,
                  description: str | None = None) -> None:
        """Answer ``error`` to requests to ``method`` with probability ``rate`` (at most ``count`` times)."""
        self.configure({"errors": [{"method": method, "error": error, "rate": rate, "count": count,
                                    "nested": nested, "status": status, "description": description}]})

    def outage(self, seconds: float | None = None, *, requests: int | None = None, mode: str = "drop") -> None:
        """Fail every REST request for ``seconds`` and/or ``requests`` (neither = until cleared).

        ``mode``: ``drop`` (close the connection unanswered), ``502`` or ``504`` (nginx pages).
        """
        self.configure({"outage": {"seconds": seconds, "requests": requests, "mode": mode}})

    def storm(self, seconds: float | None = None, *, requests: int | None = None) -> None:
        """Answer 503 QUERY_LIMIT_EXCEEDED to every REST request for ``seconds`` and/or ``requests``."""
        self.configure({"storm": {"seconds": seconds, "requests": requests}})

    def moved(self, domain: str, *, scheme: str | None = None) -> None:
        """Answer 302 to ``scheme://domain/same/path`` unless the request already uses that domain."""
        self.configure({"moved": {"domain": domain, "scheme": scheme}})

    def clear(self) -> None:
        with self._lock:
            self._state = _State()

    def configure(self, spec: dict[str, Any], *, replace: bool = False) -> None:
        """Apply a fault description (the JSON of ``/_sandbox/faults``); lists append unless ``replace``."""
        parsed = _parse(spec, self._clock())
        with self._lock:
            if replace:
                self._state = _State()
            if "seed" in spec:
                self._seed = spec["seed"]
                self._rng = random.Random(self._seed)
            self._state.latency.extend(parsed.latency)
            self._state.errors.extend(parsed.errors)
            for name in ("outage", "storm", "moved"):
                if name in spec:
                    setattr(self._state, name, getattr(parsed, name))

    def describe(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            state = self._state

            def window(w: Window | None, with_mode: bool) -> dict[str, Any] | None:
                if w is None or not w.active(now):
                    return None
                out: dict[str, Any] = {"seconds_left": None if w.until is None else round(w.until - now, 3),
                                       "requests_left": w.requests}
                if with_mode:
                    out["mode"] = w.mode
                return out

            return {
                "seed": self._seed,
                "latency": [rule.describe() for rule in state.latency],
                "errors": [rule.describe() for rule in state.errors],
                "outage": window(state.outage, True),
                "storm": window(state.storm, False),
                "moved": None if state.moved is None else {"domain": state.moved.domain,
                                                           "scheme": state.moved.scheme},
            }

    # ---- decisions (called by the app) ---------------------------------------------------------------

    def front(self, host: str, path: str, query: str, scheme: str) -> Injection | None:
        """Faults of the front server, before the portal sees the request: outage, moved."""
        now = self._clock()
        with self._lock:
            outage = self._state.outage
            if outage is not None and outage.active(now):
                outage.consume()
                if outage.mode == "drop":
                    return Injection("drop", 0, "outage")
                return Injection("html", int(outage.mode), "outage")
            moved = self._state.moved
            if moved is not None and host.lower() != moved.domain.lower():
                target = f"{moved.scheme or scheme}://{moved.domain}{path}" + (f"?{query}" if query else "")
                return Injection("redirect", 302, "moved", location=target)
        return None

    def delay(self, method: str) -> float:
        with self._lock:
            for rule in self._state.latency:
                if _matches(rule.method, method):
                    if rule.seconds is not None:
                        return rule.seconds
                    return self._rng.uniform(rule.min or 0.0, rule.max or 0.0)
        return 0.0

    def request_error(self, method: str) -> Injection | None:
        """Faults of the portal for one HTTP request (after authentication): storm, error rules."""
        now = self._clock()
        with self._lock:
            storm = self._state.storm
            if storm is not None and storm.active(now):
                storm.consume()
                status, text = JSON_ERRORS["QUERY_LIMIT_EXCEEDED"]
                return Injection("json", status, "storm", "QUERY_LIMIT_EXCEEDED", text)
            return self._pick(method, nested=False)

    def command_error(self, method: str) -> Injection | None:
        """A rule marked ``nested`` hitting one command inside a batch (JSON errors only)."""
        with self._lock:
            return self._pick(method, nested=True)

    def _pick(self, method: str, *, nested: bool) -> Injection | None:
        for rule in list(self._state.errors):
            if nested and (not rule.nested or rule.error in HTML_ERRORS):
                continue
            if not _matches(rule.method, method):
                continue
            if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self._state.errors.remove(rule)
            return rule.injection()
        return None


def _matches(pattern: str, method: str) -> bool:
    return pattern == "*" or pattern.lower() == method.lower()


# ---- parsing the JSON description ------------------------------------------------------------------------


def _number(where: str, value: Any, *, low: float = 0.0, high: float | None = None, allow_none: bool = True
            ) -> float | None:
    if value is None:
        if allow_none:
            return None
        raise FaultSpecError(f"{where} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultSpecError(f"{where} must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise FaultSpecError(f"{where} must be {bounds}, got {value!r}")
    return float(value)


def _count(where: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FaultSpecError(f"{where} must be a positive integer, got {value!r}")
    return value


def _method(where: str, value: Any) -> str:
    if value is None:
        return "*"
    if not isinstance(value, str) or not value.strip():
        raise FaultSpecError(f"{where} must be a method name or \"*\", got {value!r}")
    return value.strip().lower() if value.strip() != "*" else "*"


def _object(where: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FaultSpecError(f"{where} must be an object, got {value!r}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise FaultSpecError(f"{where} has unknown keys: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    return value


def _parse(spec: Any, now: float) -> _State:
    spec = _object("the fault description", spec, {"seed", "latency", "errors", "outage", "storm", "moved"})
    state = _State()
    if "seed" in spec and spec["seed"] is not None and (isinstance(spec["seed"], bool)
                                                        or not isinstance(spec["seed"], int)):
        raise FaultSpecError(f"seed must be an integer or null, got {spec['seed']!r}")
    for i, raw in enumerate(_as_list("latency", spec.get("latency"))):
        where = f"latency[{i}]"
        raw = _object(where, raw, {"method", "seconds", "min", "max"})
        seconds = _number(f"{where}.seconds", raw.get("seconds"))
        low, high = _number(f"{where}.min", raw.get("min")), _number(f"{where}.max", raw.get("max"))
        if seconds is None and (low is None or high is None):
            raise FaultSpecError(f"{where} needs seconds, or both min and max")
        if seconds is None and low is not None and high is not None and low > high:
            raise FaultSpecError(f"{where}.min must not exceed {where}.max")
        state.latency.append(Latency(_method(f"{where}.method", raw.get("method")), seconds, low, high))
    for i, raw in enumerate(_as_list("errors", spec.get("errors"))):
        where = f"errors[{i}]"
        raw = _object(where, raw, {"method", "error", "rate", "count", "nested", "status", "description"})
        error = raw.get("error") or "INTERNAL_SERVER_ERROR"
        status = _count(f"{where}.status", raw.get("status"))
        if not isinstance(error, str):
            raise FaultSpecError(f"{where}.error must be a string, got {error!r}")
        if error not in JSON_ERRORS and error not in HTML_ERRORS and status is None:
            known = ", ".join([*JSON_ERRORS, *HTML_ERRORS])
            raise FaultSpecError(f"{where}.error {error!r} is not known ({known}); give status to use your own code")
        if status is not None and not 100 <= status <= 599:
            raise FaultSpecError(f"{where}.status must be an HTTP status, got {status!r}")
        rate = _number(f"{where}.rate", raw.get("rate", 1.0), high=1.0, allow_none=False)
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            raise FaultSpecError(f"{where}.description must be a string, got {description!r}")
        state.errors.append(ErrorRule(_method(f"{where}.method", raw.get("method")), error, rate or 0.0,
                                      _count(f"{where}.count", raw.get("count")), bool(raw.get("nested", False)),
                                      status, description))
    if spec.get("outage") is not None:
        raw = _object("outage", spec["outage"], {"seconds", "requests", "mode"})
        mode = str(raw.get("mode") or "drop")
        if mode not in OUTAGE_MODES:
            raise FaultSpecError(f"outage.mode must be one of {', '.join(OUTAGE_MODES)}, got {raw.get('mode')!r}")
        state.outage = _window("outage", raw, now, mode)
    if spec.get("storm") is not None:
        raw = _object("storm", spec["storm"], {"seconds", "requests"})
        state.storm = _window("storm", raw, now, "")
    if spec.get("moved") is not None:
        raw = _object("moved", spec["moved"], {"domain", "scheme"})
        domain = raw.get("domain")
        if not isinstance(domain, str) or not domain.strip() or "/" in domain:
            raise FaultSpecError(f"moved.domain must be a host name (with an optional :port), got {domain!r}")
        scheme = raw.get("scheme")
        if scheme is not None and scheme not in ("http", "https"):
            raise FaultSpecError(f"moved.scheme must be http or https, got {scheme!r}")
        state.moved = Moved(domain.strip(), scheme)
    return state


def _as_list(where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise FaultSpecError(f"{where} must be a list of objects, got {value!r}")
    return value


def _window(where: str, raw: dict[str, Any], now: float, mode: str) -> Window:
    seconds = _number(f"{where}.seconds", raw.get("seconds"))
    requests = _count(f"{where}.requests", raw.get("requests"))
    return Window(None if seconds is None else now + seconds, requests, mode)
