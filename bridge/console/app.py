"""The console's routes: pipeline health, dead letters (replay and purge), trace search, login.

Pages are rendered on the server (Jinja2, autoescaped); the little JavaScript there is only makes them
nicer (select all, auto-refresh) and everything works without it.  Every page needs a login (see
:mod:`bridge.console.auth`); ``/login``, ``/static/*`` and the probes ``/healthz``, ``/readyz``,
``/metrics`` do not.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode

import asyncpg
import jinja2
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import dlq, heartbeat, metrics, ops_http, review, trace
from . import auth, health

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 64 * 1024
PAGE_LIMIT = 200  # dead letters on one page
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class ConsoleConfig:
    credentials: auth.Credentials
    signer: auth.Signer
    grafana_url: str | None = None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("bridge.console", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["age"] = _age
    env.filters["when"] = _when
    env.tests["mapping"] = lambda v: isinstance(v, dict)
    env.tests["table"] = lambda v: isinstance(v, list) and bool(v) and all(isinstance(i, dict) for i in v)
    env.tests["sequence_value"] = lambda v: isinstance(v, (list, tuple))
    env.tests["link"] = lambda v: isinstance(v, str) and v.startswith(("https://", "http://"))
    return env


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _when(value: Any) -> str:
    if value is None:
        return "—"
    if hasattr(value, "strftime"):
        if getattr(value, "tzinfo", None) is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S")  # every page says its times are UTC
    return str(value)


def sections(result: Any) -> list[tuple[str, Any]]:
    """A trace result as (title, value) sections, whatever its shape: a dataclass's fields in order (or
    a mapping's keys); the page renders lists of rows as tables and mappings as key/value tables, so
    richer results show up without a change here."""
    if hasattr(result, "to_json"):
        result = result.to_json()
    if dataclasses.is_dataclass(result):
        data = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    elif isinstance(result, dict):
        data = result
    else:
        data = {"result": result}
    plain = {name.replace("_", " "): _plain(value) for name, value in data.items()}
    scalars = {k: v for k, v in plain.items() if not isinstance(v, (dict, list))}
    return ([("summary", scalars)] if scalars else []) + [(k, v) for k, v in plain.items() if k not in scalars]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def create_app(config: ConsoleConfig, pool: asyncpg.Pool, registry: CollectorRegistry,
               checks: dict[str, ops_http.Check] | None = None) -> Starlette:
    env = _environment()
    letters = dlq.DeadLetterTable(pool)
    parked = review.ReviewStore(pool)

    def who(request: Request) -> auth.Principal | None:
        header = request.headers.get("authorization")
        if header:
            token = auth.bearer(header)
            if token is not None:
                name = config.credentials.token(token)
                return auth.Principal(name, "bearer", None) if name else None
            pair = auth.basic(header)
            user = config.credentials.user(*pair) if pair else None
            return auth.Principal(user, "basic", f"basic:{user}") if user else None
        cookie = request.cookies.get(auth.SESSION_COOKIE)
        session = config.signer.read_session(cookie, time.time()) if cookie else None
        if session and config.credentials.known(session[0]):
            return auth.Principal(session[0], "session", f"session:{session[1]}")
        return None

    def page(request: Request, template: str, principal: auth.Principal | None, status: int = 200,
             **context: Any) -> HTMLResponse:
        csrf = config.signer.csrf(principal.csrf_subject) if principal and principal.csrf_subject else ""
        body = env.get_template(template).render(
            principal=principal, csrf=csrf, grafana_url=config.grafana_url, path=request.url.path,
            has_users=config.credentials.has_users, **context)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    def refuse(request: Request) -> Response:
        """No or wrong credentials: a browser goes to the login page, anything else gets 401."""
        if "authorization" not in request.headers and "text/html" in request.headers.get("accept", "") \
                and config.credentials.has_users:
            return RedirectResponse("/login?" + urlencode({"next": request.url.path + (
                "?" + request.url.query if request.url.query else "")}), status_code=303)
        return PlainTextResponse("authentication required", status_code=401, headers={
            "WWW-Authenticate": 'Basic realm="b24bridge console", charset="UTF-8"', **SECURITY_HEADERS})

    async def form(request: Request) -> dict[str, list[str]]:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return {}
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)

    def forged(request: Request, principal: auth.Principal | None, fields: dict[str, list[str]]) -> bool:
        """A browser-credential POST without this console's form token, or from another origin."""
        if not auth.same_origin(request.headers.get("host"), request.headers.get("origin"),
                                request.headers.get("referer")):
            return True
        if principal is None or principal.csrf_subject is None:
            return False
        return not config.signer.csrf_ok(principal.csrf_subject, _one(fields, "csrf"))

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            principal = who(request)
            if principal is None:
                return refuse(request)
            if request.method == "POST":
                fields = await form(request)
                if forged(request, principal, fields):
                    log.warning("console POST refused: no valid form token or another origin", extra={
                        "action": "console.csrf_refused", "user": principal.name, "path": request.url.path})
                    return PlainTextResponse("refused: this form did not come from the console (reload the page "
                                             "and try again)", status_code=403, headers=SECURITY_HEADERS)
                return await handler(request, principal, fields)
            return await handler(request, principal)
        return endpoint

    # --- login ------------------------------------------------------------------------------------------

    async def login_page(request: Request) -> Response:
        return page(request, "login.html", None, next=_safe_next(request.query_params.get("next")), error=None)

    async def login(request: Request) -> Response:
        fields = await form(request)
        if not auth.same_origin(request.headers.get("host"), request.headers.get("origin"),
                                request.headers.get("referer")):
            return PlainTextResponse("refused: login from another origin", status_code=403)
        name, password = _one(fields, "user").strip(), _one(fields, "password")
        target = _safe_next(_one(fields, "next"))
        user = config.credentials.user(name, password)
        if user is None:
            metrics.CONSOLE_LOGINS.labels("refused").inc()
            log.warning("console login refused", extra={"action": "console.login_refused", "user": name[:64]})
            return page(request, "login.html", None, status=401, next=target,
                        error="Wrong user name or password.")
        metrics.CONSOLE_LOGINS.labels("ok").inc()
        log.info("console login", extra={"action": "console.login", "user": user})
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(auth.SESSION_COOKIE, config.signer.session(user, time.time()),
                            max_age=config.signer.ttl, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    async def logout(request: Request, principal: auth.Principal, fields) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(auth.SESSION_COOKIE)
        return response

    # --- pages ------------------------------------------------------------------------------------------

    async def overview(request: Request, principal: auth.Principal) -> Response:
        window = request.query_params.get("window", health.DEFAULT_WINDOW)
        if window not in health.WINDOWS:
            window = health.DEFAULT_WINDOW
        rows = await health.pipeline(pool, health.WINDOWS[window])
        counts = await letters.counts()
        open_letters = [(queue, reason, n) for queue, reasons in sorted(counts.items())
                        for reason, n in sorted(reasons.items())]
        now = datetime.now(UTC)
        sources = [(beat, (now - beat.received_at).total_seconds() > heartbeat.SILENT_AFTER.total_seconds())
                   for beat in await heartbeat.latest(pool)]
        return page(request, "pipeline.html", principal, rows=rows, window=window, windows=list(health.WINDOWS),
                    open_letters=open_letters, sources=sources, silent_after=heartbeat.SILENT_AFTER,
                    now=time.strftime("%H:%M:%S", time.gmtime()))

    async def dead_letters(request: Request, principal: auth.Principal) -> Response:
        q = request.query_params
        queue, reason, state = q.get("queue") or None, q.get("reason") or None, q.get("state") or "open"
        problem = None
        if state not in dlq.STATES:
            problem, state = f"unknown state {state!r}", "open"
        if queue and queue not in dlq.dead_letter_queues():
            problem, queue = f"unknown queue {queue!r}", None
        found = await letters.select(dlq.Selector(queues=(queue,) if queue else (), reason=reason, state=state),
                                     PAGE_LIMIT + 1)
        return page(request, "dead_letters.html", principal, letters=found[:PAGE_LIMIT],
                    any_open=any(letter.state == "open" for letter in found[:PAGE_LIMIT]),
                    more=len(found) > PAGE_LIMIT, queue=queue, reason=reason, state=state,
                    queues=dlq.dead_letter_queues(), states=dlq.STATES, problem=problem,
                    done=_result_note(q))

    async def dead_letter(request: Request, principal: auth.Principal) -> Response:
        try:
            ident = int(request.path_params["id"])
        except ValueError:
            return PlainTextResponse("not found", status_code=404)
        found = await letters.select(dlq.Selector(ids=frozenset({ident}), state="all"), 1)
        if not found:
            return page(request, "missing.html", principal, status=404, what=f"dead letter {ident}")
        return page(request, "dead_letter.html", principal, letter=found[0], export=found[0].export())

    async def mark(request: Request, principal: auth.Principal, fields, verb: str) -> Response:
        ids = frozenset(int(v) for v in fields.get("id", []) if v.isdigit())
        why = " ".join(_one(fields, "reason").split())
        back = _safe_next(_one(fields, "back") or "/dead-letters")
        if not ids or not why:
            missing = "pick at least one dead letter" if not ids else "give a reason (it is recorded)"
            return PlainTextResponse(f"nothing done: {missing}", status_code=400, headers=SECURITY_HEADERS)
        selector = dlq.Selector(ids=ids)
        operation = letters.replay if verb == "replay" else letters.purge
        result = await operation(selector, by=principal.name, why=why, limit=len(ids))
        metrics.CONSOLE_ACTIONS.labels(verb).inc(len(result.done))
        log.info(f"console {verb}", extra={
            "action": f"console.{verb}", "user": principal.name, "reason": why,
            "event_ids": [letter.event_id for letter in result.done],
            "refused": [letter.event_id for letter, _ in result.refused]})
        note = {"done": verb, "n": len(result.done), "refused": len(result.refused)}
        return RedirectResponse(_with_query(back, note), status_code=303)

    async def replay(request, principal, fields):
        return await mark(request, principal, fields, "replay")

    async def purge(request, principal, fields):
        return await mark(request, principal, fields, "purge")

    async def review_list(request: Request, principal: auth.Principal) -> Response:
        state = request.query_params.get("state") or "open"
        problem = None
        if state not in review.STATES:
            problem, state = f"unknown state {state!r}", "open"
        items = await parked.select(state, limit=PAGE_LIMIT)
        done = request.query_params.get("done")
        return page(request, "review.html", principal, items=items, state=state, states=review.STATES,
                    problem=problem, done=f"Review item {done} resolved; its event is on its way again."
                    if done and done.isdigit() else None)

    async def review_item(request: Request, principal: auth.Principal) -> Response:
        try:
            ident = int(request.path_params["id"])
        except ValueError:
            return PlainTextResponse("not found", status_code=404)
        found = await parked.select("all", [ident], limit=1)
        if not found:
            return page(request, "missing.html", principal, status=404, what=f"review item {ident}")
        return page(request, "review_item.html", principal, item=found[0], export=found[0].export())

    async def review_resolve(request: Request, principal: auth.Principal, fields) -> Response:
        try:
            ident = int(request.path_params["id"])
        except ValueError:
            return PlainTextResponse("not found", status_code=404)
        decision, target = _one(fields, "decision"), _one(fields, "target").strip()
        if decision not in (review.ADOPT, review.CREATE) or (decision == review.ADOPT and not target.isdigit()):
            return PlainTextResponse("nothing done: Adopt needs the Bitrix24 id of the record", status_code=400,
                                     headers=SECURITY_HEADERS)
        try:
            item = await parked.resolve(ident, decision=decision, target_id=int(target) if target else None,
                                        by=principal.name, note=" ".join(_one(fields, "note").split()) or None,
                                        any_record=_one(fields, "any_record") == "yes")
        except review.NotACandidate as exc:
            return PlainTextResponse(f"nothing done: {exc}", status_code=400, headers=SECURITY_HEADERS)
        if item is None:
            return PlainTextResponse("nothing done: the item is not open (resolved meanwhile?)", status_code=409,
                                     headers=SECURITY_HEADERS)
        log.info("console review resolve", extra={"action": "console.review_resolve", "user": principal.name,
                                                   "item": ident, "decision": decision, "target_id": target})
        return RedirectResponse(f"/review?done={ident}", status_code=303)

    async def trace_page(request: Request, principal: auth.Principal) -> Response:
        ident = (request.query_params.get("q") or "").strip()
        result, problem = None, None
        if ident:
            try:
                result = await trace.trace(pool, ident, 20)
            except (ValueError, LookupError) as exc:
                problem = str(exc)
        return page(request, "trace.html", principal, q=ident, problem=problem,
                    found=bool(getattr(result, "found", result)) if result is not None else None,
                    sections=sections(result) if result is not None else [])

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        text = resources.files("bridge.console").joinpath("static", name).read_bytes()
        return Response(text, media_type=STATIC[name], headers={"Cache-Control": "max-age=300",
                                                                "X-Content-Type-Options": "nosniff"})

    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", guarded(logout), methods=["POST"]),
        Route("/", guarded(overview)),
        Route("/dead-letters", guarded(dead_letters)),
        Route("/dead-letters/replay", guarded(replay), methods=["POST"]),
        Route("/dead-letters/purge", guarded(purge), methods=["POST"]),
        Route("/dead-letters/{id}", guarded(dead_letter)),
        Route("/review", guarded(review_list)),
        Route("/review/{id}", guarded(review_item)),
        Route("/review/{id}/resolve", guarded(review_resolve), methods=["POST"]),
        Route("/trace", guarded(trace_page)),
        Route("/static/{name}", static),
        *ops_http.routes(checks or {}, registry),
    ]
    return Starlette(routes=routes)


def _one(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0]


def _safe_next(target: str | None) -> str:
    """Only a path of this console (never another site) to go to after login or an action."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _with_query(path: str, extra: dict[str, Any]) -> str:
    base, _, query = path.partition("?")
    kept = [(k, v) for k, vs in parse_qs(query).items() for v in vs if k not in extra]
    return base + "?" + urlencode([*kept, *extra.items()])


def _result_note(q) -> str | None:
    verb, n, refused = q.get("done"), q.get("n", "0"), q.get("refused", "0")
    if verb not in ("replay", "purge") or not n.isdigit() or not refused.isdigit():
        return None
    done = "replayed (back in the outbox)" if verb == "replay" else "purged"
    note = f"{n} dead letter(s) {done}."
    if int(refused):
        note += f" {refused} could not be replayed (the body is not a valid event): purge those."
    return note
