from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import click

from .. import mapping as mapping_mod
from ..b24.urls import portal_origin
from ..bootstrap import COMMAND_POOL_SIZE, Needs, build
from ..settings import Settings
from ..trace import Ambiguous, NotFound, Trace, trace
from . import _output
from ._options import LIMIT


@click.command("trace")
@click.argument("ident")
@click.option("--source", help="1C source (installation) of a document number, when several share it.")
@click.option("--date", "on_date", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Date of a document number (YYYY-MM-DD), when several share it.")
@click.option("--limit", type=LIMIT, default=20, show_default=True, help="Events to show.")
@click.option("--json", "as_json", is_flag=True, help="The whole trace as JSON (for scripts).")
def command(ident: str, source: str | None, on_date: datetime | None, limit: int, as_json: bool) -> None:
    """Why is it (not) in Bitrix24? Received, published, each consumer's outcome with its time and Bitrix24
    calls, what waits for what, the card's address, dead letters.

    IDENT is an event_id, a 1C object's УникальныйИдентификатор (counterparty, product, order, document), a
    1C document number (ТД000004914: an order, invoice, payment or shipment) or a Bitrix24 object
    (deal:123, company:45, contact:7, product:9). Times are UTC.
    """
    settings = Settings()
    portal = portal_origin(settings.b24_webhook_url.get_secret_value(), settings.b24_oauth_portal_url)
    iblock = mapping_mod.load(settings.mapping_file).products.iblock_id

    async def run():
        async with build(settings, Needs(pool_size=COMMAND_POOL_SIZE)) as root:
            return await trace(root.pool, ident, limit, source=source,
                               on_date=on_date.date() if on_date else None, portal=portal, iblock_id=iblock)

    try:
        result = asyncio.run(run())
    except Ambiguous as exc:
        if as_json:
            click.echo(json.dumps({"query": ident, "error": str(exc), "candidates": exc.candidates},
                                  ensure_ascii=False, indent=2, default=str))
        else:
            err = _output.console(stderr=True)
            err.print(f"Error: {exc}", markup=False)
            _output.show(err, ("source", "type", "id", "number", "date"),
                         [(c.get("source"), c.get("entity"), c.get("entity_id"), c.get("number"), c.get("date"))
                          for c in exc.candidates], ids=("id",))
        raise SystemExit(2) from None
    except NotFound as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="IDENT") from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str))
        return
    console = _output.console()
    if not result.found:
        console.print(f"nothing known about {result.query}: not received by the ingest (check the 1C queue monitor)",
                      markup=False)
        raise SystemExit(1)
    for line in render(result, datetime.now(UTC)):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def render(result: Trace, now: datetime) -> list[str]:
    """The trace as lines for people: the object, where it is in Bitrix24 (or why not), each event's story."""
    lines = []
    obj = result.object or {}
    title = " ".join(filter(None, [obj.get("entity") or "1C object", obj.get("entity_id"),
                                   f"№ {obj['number']}" if obj.get("number") else None,
                                   f"of {obj['date'][:10]}" if obj.get("date") else None,
                                   f"from {obj['source']}" if obj.get("source") else None]))
    lines.append(title)
    for link in result.links:
        lines.append(f"  in Bitrix24: {link['b24_type']} {link['b24_id']}" + (f"  {link['url']}" if link.get("url") else "")
                     + f"  (for {link['onec_type']} {link['onec_id']}, updated {_time(link['updated_at'], now)})")
    if not result.links:
        lines.append("  in Bitrix24: nothing yet")
    for w in result.waiting:
        lines.append("  " + waiting_line(w, now))
    for e in result.events:
        lines.append("")
        lines.extend(_event_lines(e, now))
    if result.order_documents:
        lines.append("")
        lines.append("order facts (the order's documents as the bridge knows them):")
        for d in result.order_documents:
            state = "deleted" if d["deleted"] else "posted" if d["posted"] else "not posted"
            lines.append(f"  {d['doc_type']} {d['doc_id']} № {d['number']} of {(d['date'] or '')[:10]}: {state}"
                         + (f", {d['amount']} for this order" if d["amount"] is not None else "")
                         + document_status(d, now))
    for letter in result.dead_letters:
        lines.append(f"dead letter {letter['event_id']} in {letter['queue']}: {letter['reason']} "
                     f"({letter['state']}) — {_output.cell(letter['error'])}")
    return lines


def document_status(d: dict[str, Any], now: datetime) -> str:
    """``; last: deal handed_over 07:03:16; not in the deal yet: waits for its recompute since 07:03:16 (1 min)``
    — where an order's document is, without tracing each one (``trace <its number>`` tells the whole story)."""
    outcome, reason, pending = d.get("last_outcome"), d.get("last_reason"), d.get("deal_pending_since")
    text = ""
    if outcome:
        at = _time(d["last_at"], now)
        missing = ", ".join(d.get("last_missing") or []) or "a dependency"
        if outcome == "waiting" and pending is None:  # another push made the deal; its event comes back to see so
            label = f"waited for {missing} (last {at}); its facts are in the deal now"
        elif outcome == "waiting":
            label = f"waiting for {missing} {at}"
        elif outcome == "handed_over" and pending is None:
            label = f"handed over {at}, then applied by the push it was handed to"
        elif outcome == "duplicate":  # a later delivery found it applied (by a push it had been handed to)
            label = f"applied (a later delivery found it so at {at})"
        else:
            label = outcome.replace("dead_lettered", "dead-lettered") + (f" ({reason})" if reason else "") + f" {at}"
        text = f"; last: {d['last_consumer']} {label}"
    if pending is not None:
        text += f"; not in the deal yet: waits for its recompute since {_time(pending, now)} ({_ago(pending, now)})"
    return text


def waiting_line(w: dict[str, Any], now: datetime) -> str:
    """``waiting for counterparty 7b14…: not in Bitrix24 yet, since 10:42:03 (3 min); 1C has not sent it``."""
    since = w.get("since")
    text = f"waiting for {w['kind']} {w['id']}: "
    text += (f"in Bitrix24 now ({', '.join(w['in_b24'])}); the {w['consumer']} consumer goes on at its next try"
             if w.get("in_b24") else "not in Bitrix24 yet")
    if since is not None:
        text += f", since {_time(since, now)} ({_ago(since, now)})"
    if not w.get("in_b24") and "in_b24" in w:
        if w.get("dependency_event") is None:
            text += f"; 1C has not sent this {w['kind']} (send it from 1C, or check its exchange)"
        elif w.get("dependency_outcome") is None:
            text += (f"; its event {w['dependency_event']} was received {_time(w['dependency_received_at'], now)}"
                     " and is not handled yet")
        else:
            text += (f"; its event {w['dependency_event']} was received {_time(w['dependency_received_at'], now)}: "
                     f"{w['dependency_outcome']}" + (f" ({w['dependency_reason']})" if w.get("dependency_reason") else "")
                     + (f" — {w['dependency_error']}" if w.get("dependency_error") else ""))
    return text


def _event_lines(e: dict[str, Any], now: datetime) -> list[str]:
    head = " ".join(filter(None, [f"event {e['event_id']}", e.get("event_type"),
                                  f"v{e['version']}" if e.get("version") is not None else None,
                                  f"(1C time {_time(e['occurred_at'], now)})" if e.get("occurred_at") else None]))
    lines = [head]
    published = e.get("published_at")
    if e.get("received_at"):
        lines.append(f"  {_time(e['received_at'], now)}  received and stored")
        if not published:
            lines.append("  —  not published yet: waiting for the relay"
                         + (f" ({_replay(e)})" if e.get("replays") else ""))
    else:
        lines.append("  (the outbox row is purged: received and published times are gone)")
        published = None
    for group in _collapse(e["outcomes"]):
        row, count, last = group
        if published and row["at"] >= published:  # in time order: a replay publishes after the first outcomes
            lines.append(_published_line(e, now))
            published = None
        repeat = f" ×{count}, last {_time(last, now)}" if count > 1 else ""
        lines.append(f"  {_time(row['at'], now)}  {row['consumer']}: {outcome_text(row)}{repeat}")
        for call in row["calls"] or []:
            lines.append(f"      {call_text(call)}")
    if published:
        lines.append(_published_line(e, now))
        if not e["outcomes"]:
            lines.append("  —  no consumer has handled it yet")
    return [line for line in lines if line]


def _published_line(e: dict[str, Any], now: datetime) -> str:
    """The outbox keeps the latest publish only: after a dead-letter replay, that of the replay."""
    if e.get("replays"):
        return f"  {_time(e['published_at'], now)}  published again ({_replay(e)})"
    return f"  {_time(e['published_at'], now)}  published"


def _replay(e: dict[str, Any]) -> str:
    """What put the event back into the outbox: ``review resolve`` requeues a parked event the way a dead-letter
    replay does (one counter), so an event that was parked says so rather than send the operator to the DLQ."""
    if any(o["outcome"] == "review" for o in e["outcomes"]):
        return f"replay {e['replays']}: a review decision or a dead-letter replay"
    return f"dead-letter replay {e['replays']}"


def outcome_text(row: dict[str, Any]) -> str:
    outcome = row["outcome"]
    if outcome == "waiting":
        return f"waiting for {', '.join(row['missing'] or []) or 'a dependency'}"
    if outcome == "retry":
        return f"retry tier {row['retry_tier']} ({row['reason']}): {row['error']}"
    if outcome == "dead_lettered":
        return f"dead-lettered ({row['reason']}): {row['error']}"
    if outcome in ("paused", "held"):
        return f"{outcome}, kept in hand ({row['reason']}): {row['error']}"
    if outcome == "parked":
        return "held too long; handed back to the broker's wait queue"
    if outcome == "review":
        detail = f" ({row['reason']}): {row['error']}" if row.get("reason") else ""
        return f"parked for review{detail}; decide with b24bridge review list / show / resolve"
    return outcome


def call_text(call: dict[str, Any]) -> str:
    if "dropped" in call:
        return f"… {call['dropped']} more calls not kept"
    ids = ", ".join(f"{k}={v}" for k, v in (call.get("ids") or {}).items() if k != "result")
    text = f"{call['method']}({ids})"
    if "result" in (call.get("ids") or {}):
        text += f" → {call['ids']['result']}"
    if "rows" in call:
        text += f" → {call['rows']} row(s)"
    if call.get("code"):
        text += f" ✗ {call['code']}" + (f" (HTTP {call['status']})" if call.get("status") else "")
    if "ms" in call:
        text += f"  {call['ms']} ms"
    return text


def _collapse(rows: list[dict]) -> list[tuple[dict, int, Any]]:
    """Consecutive repeats of one consumer's outcome (a message waiting an hour tries sixty times) as one."""
    groups: list[tuple[dict, int, Any]] = []
    for row in rows:
        if groups and not row["calls"] and _same(groups[-1][0], row):
            first, count, _ = groups[-1]
            groups[-1] = (first, count + 1, row["at"])
        else:
            groups.append((row, 1, row["at"]))
    return groups


def _same(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("consumer", "outcome", "reason", "missing", "retry_tier"))


def _time(value: Any, now: datetime) -> str:
    if not isinstance(value, datetime):
        return _output.cell(value)
    value = value.astimezone(UTC)
    return value.strftime("%H:%M:%S") if value.date() == now.date() else value.strftime("%Y-%m-%d %H:%M:%S")


def _ago(value: datetime, now: datetime) -> str:
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
