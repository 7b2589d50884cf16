from __future__ import annotations

import asyncio
import json
import sys

import click

from .. import dlq as dlq_mod
from ..bootstrap import Needs, build
from . import _output
from ..settings import Settings


def _queues(queue: str | None) -> list[str]:
    known = dlq_mod.dead_letter_queues()
    if queue is None:
        return known
    name = queue if queue in known else f"b24.{queue}.dlq"
    if name not in known:
        raise click.BadParameter(f"{queue!r} is not a dead-letter queue; known: {', '.join(known)}", param_hint="--queue")
    return [name]


def _selector(event_ids, entity_id, reason) -> dlq_mod.Selector:
    return dlq_mod.Selector(frozenset(event_ids), entity_id, reason)


def _chosen(selector: dlq_mod.Selector, everything: bool, verb: str) -> None:
    """Replay and purge touch every dead letter only when asked to in so many words."""
    if selector == dlq_mod.Selector() and not everything:
        raise click.UsageError(f"give --event-id/--entity-id/--reason, or --all to {verb} every dead letter")


def _run(coro):
    return asyncio.run(coro)


async def _with(op):
    async with build(Settings(), Needs(broker=True)) as root, dlq_mod.DeadLetters(root.connect) as letters:
        return await op(letters)


_queue_opt = click.option("--queue", help="A target (counterparty) or a DLQ name; default: all DLQs and onec.unrouted.")
_filters = [
    click.option("--event-id", "event_ids", multiple=True, help="Only this event (repeatable)."),
    click.option("--entity-id", help="Only events of this 1C object (its UUID)."),
    click.option("--reason", help="Only this reason (e.g. b24_rejected, dependency_missing, invalid_event)."),
    click.option("--limit", type=int, default=dlq_mod.DEFAULT_LIMIT, show_default=True, help="At most this many per queue."),
]


def filters(f):
    for option in reversed(_filters):
        f = option(f)
    return _queue_opt(f)


@click.group("dlq")
def command() -> None:
    """Dead letters: events that could not be applied (list, show, replay, export, purge)."""


@command.command("list")
@filters
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_(queue, event_ids, entity_id, reason, limit, as_json) -> None:
    """Show dead letters with their reason and error (nothing is removed)."""
    letters = _run(_with(lambda d: d.list(_queues(queue), _selector(event_ids, entity_id, reason), limit)))
    if as_json:
        for letter in letters:
            click.echo(json.dumps(letter.summary(), ensure_ascii=False, default=str))
        return
    if not letters:
        click.echo("no dead letters")
        return
    rows = [(s["queue"], s["event_id"], s["event_type"], s["entity_id"], s["reason"], s["failed_at"],
             (s["error"] or "")[:200]) for s in (letter.summary() for letter in letters)]
    _output.show(_output.console(), ("queue", "event_id", "type", "1C id", "reason", "failed at", "error"), rows,
                 ids=("queue", "event_id", "1C id"))


@command.command("show")
@click.argument("event_id")
@_queue_opt
def show(event_id, queue) -> None:
    """Print one dead letter in full: headers, reason, error and the event body."""
    letters = _run(_with(lambda d: d.list(_queues(queue), _selector([event_id], None, None), 1)))
    if not letters:
        raise click.ClickException(f"no dead letter with event_id {event_id}")
    click.echo(json.dumps(letters[0].export(), ensure_ascii=False, indent=2, default=str))


@command.command("replay")
@filters
@click.option("--all", "everything", is_flag=True, help="Replay every dead letter (needed when no filter is given).")
@click.option("--dry-run", is_flag=True, help="Only say what would be replayed.")
def replay(queue, event_ids, entity_id, reason, limit, everything, dry_run) -> None:
    """Put dead letters back into the queue they failed in (after fixing the cause)."""
    selector = _selector(event_ids, entity_id, reason)
    _chosen(selector, everything, "replay")
    op = (lambda d: d.list(_queues(queue), selector, limit)) if dry_run else \
        (lambda d: d.replay(_queues(queue), selector, limit))
    letters = _run(_with(op))
    verb = "would replay" if dry_run else "replayed"
    for letter in letters:
        click.echo(f"{verb} {_output.cell(letter.event_id)} from {letter.queue} ({letter.reason})")
    click.echo(f"{verb} {len(letters)} dead letter(s)")


@command.command("export")
@filters
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="File (default stdout).")
def export(queue, event_ids, entity_id, reason, limit, output) -> None:
    """Write dead letters as JSON lines (headers and body), leaving them in place."""
    letters = _run(_with(lambda d: d.list(_queues(queue), _selector(event_ids, entity_id, reason), limit)))
    for letter in letters:
        output.write(json.dumps(letter.export(), ensure_ascii=False, default=str) + "\n")
    click.echo(f"exported {len(letters)} dead letter(s)", err=True)


@command.command("purge")
@filters
@click.option("--all", "everything", is_flag=True, help="Purge every dead letter (needed when no filter is given).")
@click.option("--yes", is_flag=True, help="Do it (without --yes nothing is removed).")
def purge(queue, event_ids, entity_id, reason, limit, everything, yes) -> None:
    """Remove dead letters for good (export them first if in doubt)."""
    selector = _selector(event_ids, entity_id, reason)
    _chosen(selector, everything, "purge")
    if not yes:
        raise click.UsageError("purge removes messages for good: add --yes")
    letters = _run(_with(lambda d: d.purge(_queues(queue), selector, limit)))
    click.echo(f"purged {len(letters)} dead letter(s)")


@command.command("count")
def count() -> None:
    """How many messages each dead-letter queue holds."""
    counts = _run(_with(lambda d: d.counts()))
    for name, n in counts.items():
        click.echo(f"{name}\t{n}")
    sys.exit(0)
