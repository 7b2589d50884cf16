"""``b24bridge dlq``: dead letters from the PostgreSQL table (reading never touches RabbitMQ)."""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path

import click

from .. import dlq as dlq_mod
from ..bootstrap import COMMAND_POOL_SIZE, Needs, build
from ..settings import Settings
from . import _output
from ._options import LIMIT, recorded, writable


def _queues(queue: str | None) -> tuple[str, ...]:
    known = dlq_mod.dead_letter_queues()
    if queue is None:
        return ()
    name = queue if queue in known else f"b24.{queue}.dlq"
    if name not in known:
        raise click.BadParameter(f"{queue!r} is not a dead-letter queue; known: {', '.join(known)}",
                                 param_hint="--queue")
    return (name,)


def _selector(queue, event_ids, entity_id, failure_reason, state="open") -> dlq_mod.Selector:
    return dlq_mod.Selector(_queues(queue), frozenset(event_ids), entity_id, failure_reason, state)


def _run(op):
    """Run ``op(table)`` against the database in the settings (PostgreSQL only: reading never touches RabbitMQ)."""
    async def main():
        async with build(Settings(), Needs(pool_size=COMMAND_POOL_SIZE)) as root:
            return await op(dlq_mod.DeadLetterTable(root.pool))

    return asyncio.run(main())


def default_user() -> str:
    """Who runs the command, recorded with what they decide (the OS user)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


_queue_opt = click.option("--queue", "--consumer", "queue",
                          help="A consumer (counterparty, product, deal), its DLQ name or onec.unrouted; "
                               "default: all.")
_common = [
    click.option("--event-id", "event_ids", multiple=True, help="Only this event (repeatable)."),
    click.option("--entity-id", help="Only events of this 1C object (its UUID)."),
    click.option("--limit", type=LIMIT, default=dlq_mod.DEFAULT_LIMIT, show_default=True, help="At most this many."),
]
_failure_opt = click.option("--failure-reason", help="Only this failure reason (e.g. b24_rejected, "
                                                     "dependency_missing, unrouted).")
_state_opt = click.option("--state", type=click.Choice(dlq_mod.STATES), default="open", show_default=True,
                          help="Open letters, those replayed or purged, or all.")


def reading(f):
    """Filters of the reading commands: ``--reason`` filters by failure reason here (as it always did), and
    so does ``--failure-reason``, the filter's name on replay and purge (where ``--reason`` is the operator's
    why, recorded on each row): a filter copied from those works here."""
    f = click.option("--reason", "--failure-reason", "failure_reason",
                     help="Only this failure reason (e.g. b24_rejected, dependency_missing, unrouted).")(f)
    for option in reversed([*_common, _state_opt]):
        f = option(f)
    return _queue_opt(f)


def marking(f):
    """Filters and bookkeeping of replay and purge: ``--reason`` is the operator's why, and required."""
    f = click.option("--by", default=default_user, show_default="the OS user", callback=recorded,
                     help="Who does it (recorded).")(f)
    f = click.option("--reason", "why", required=True, callback=recorded,
                     help="Why (recorded on each row), e.g. a ticket.")(f)
    f = click.option("--all", "everything", is_flag=True, help="Every open dead letter (needed when no filter "
                                                                 "is given).")(f)
    for option in reversed([*_common, _failure_opt]):
        f = option(f)
    return _queue_opt(f)


def _require_filter(selector: dlq_mod.Selector, everything: bool, verb: str) -> None:
    if not selector.narrows and not everything:
        raise click.UsageError(f"give --queue/--event-id/--entity-id/--failure-reason, or --all to {verb} "
                               "every open dead letter")


@click.group("dlq")
def command() -> None:
    """Dead letters kept in PostgreSQL: list, show, count, export, replay, purge."""


@command.command("list")
@reading
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_(queue, event_ids, entity_id, limit, state, failure_reason, as_json) -> None:
    """Dead letters with their reason, attempts and error (reading changes nothing)."""
    letters = _run(lambda t: t.select(_selector(queue, event_ids, entity_id, failure_reason, state), limit))
    if as_json:
        for letter in letters:
            click.echo(json.dumps(letter.summary(), ensure_ascii=False, default=str))
        return
    if not letters:
        click.echo("no dead letters")
        return
    rows = [(s["id"], s["queue"], s["event_id"], s["event_type"], s["entity_id"], s["reason"], s["attempts"],
             s["failed_at"], s["state"], (s["error"] or "")[:200]) for s in (letter.summary() for letter in letters)]
    _output.show(_output.console(), ("id", "queue", "event_id", "type", "1C id", "reason", "tries", "failed at",
                                     "state", "error"), rows, ids=("queue", "event_id", "1C id"))


@command.command("show")
@click.argument("event_id")
@_queue_opt
def show(event_id, queue) -> None:
    """Print the dead letters of one event in full (headers, reason, error, body, replay/purge record)."""
    letters = _run(lambda t: t.select(_selector(queue, [event_id], None, None, "all")))
    if not letters:
        raise click.ClickException(f"no dead letter with event_id {event_id}")
    for letter in letters:
        click.echo(json.dumps(letter.export(), ensure_ascii=False, indent=2, default=str))


@command.command("count")
def count() -> None:
    """Open dead letters per queue (and per reason)."""
    counts = _run(lambda t: t.counts())
    for name in dlq_mod.dead_letter_queues():
        reasons = counts.get(name, {})
        detail = ", ".join(f"{r}={n}" for r, n in sorted(reasons.items()))
        click.echo(f"{name}\t{sum(reasons.values())}" + (f"\t{detail}" if detail else ""))


@command.command("export")
@reading
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-",
              help="File (default stdout); made even when no letter matches, and checked before anything is read.")
def export(queue, event_ids, entity_id, limit, state, failure_reason, output) -> None:
    """Write dead letters as JSON lines (headers and body)."""
    if output.name != "-" and (problem := writable(Path(output.name))) is not None:
        raise click.BadParameter(f"cannot write {output.name}: {problem}", param_hint="--output")
    # read first: an earlier export in the file is replaced only once there is something to replace it with
    letters = _run(lambda t: t.select(_selector(queue, event_ids, entity_id, failure_reason, state), limit))
    output.write("")  # (the file is made even when no letter matches)
    for letter in letters:
        output.write(json.dumps(letter.export(), ensure_ascii=False, default=str) + "\n")
    click.echo(f"exported {len(letters)} dead letter(s)", err=True)


@command.command("replay")
@marking
@click.option("--dry-run", is_flag=True, help="Only say what would be replayed.")
def replay(queue, event_ids, entity_id, limit, failure_reason, everything, why, by, dry_run) -> None:
    """Send open dead letters through the outbox again (after fixing the cause); a replayed row is not
    replayed a second time."""
    selector = _selector(queue, event_ids, entity_id, failure_reason)
    _require_filter(selector, everything, "replay")
    if dry_run:  # what the replay would say of each, refusals included
        for letter in _run(lambda t: t.select(selector, limit)):
            problem = dlq_mod.unreplayable(letter)
            if problem is None:
                click.echo(f"would replay {letter.event_id} from {letter.queue} ({letter.reason})")
            else:
                click.echo(f"cannot replay {letter.event_id} from {letter.queue}: {problem}", err=True)
        return
    result = _run(lambda t: t.replay(selector, by=by, why=why, limit=limit))
    for letter in result.done:
        click.echo(f"replayed {letter.event_id} from {letter.queue} ({letter.reason})")
    for letter, problem in result.refused:
        click.echo(f"cannot replay {letter.event_id} from {letter.queue}: {problem}", err=True)
    click.echo(f"replayed {len(result.done)} dead letter(s)")
    if result.refused:
        raise SystemExit(1)


@command.command("purge")
@marking
@click.option("--yes", is_flag=True, help="Do it (without --yes nothing is marked).")
def purge(queue, event_ids, entity_id, limit, failure_reason, everything, why, by, yes) -> None:
    """Mark open dead letters as settled without replaying them (the rows stay, with who, when, why)."""
    selector = _selector(queue, event_ids, entity_id, failure_reason)
    _require_filter(selector, everything, "purge")
    if not yes:
        raise click.UsageError("purge settles dead letters for good (they can no longer be replayed): add --yes")
    result = _run(lambda t: t.purge(selector, by=by, why=why, limit=limit))
    click.echo(f"purged {len(result.done)} dead letter(s)")
