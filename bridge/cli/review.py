"""``b24bridge review``: events parked because Bitrix24 already holds records that may be their 1C object."""

from __future__ import annotations

import asyncio
import json

import click

from .. import review as review_mod
from ..bootstrap import COMMAND_POOL_SIZE, Needs, build
from ..settings import Settings
from . import _output
from ._options import LIMIT, RECORD_ID, recorded
from .dlq import default_user


def _run(op):
    async def main():
        async with build(Settings(), Needs(pool_size=COMMAND_POOL_SIZE)) as root:
            return await op(review_mod.ReviewStore(root.pool))

    return asyncio.run(main())


@click.group("review")
def command() -> None:
    """Parked events (several existing Bitrix24 records may be one 1C object): list, show, resolve."""


@command.command("list")
@click.option("--state", type=click.Choice(review_mod.STATES), default="open", show_default=True)
@click.option("--consumer", help="Only this consumer's items (counterparty, product).")
@click.option("--limit", type=LIMIT, default=review_mod.DEFAULT_LIMIT, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def list_(state, consumer, limit, as_json) -> None:
    """Parked items with their reason and the candidate Bitrix24 ids (reading changes nothing)."""
    items = _run(lambda s: s.select(state, consumer=consumer, limit=limit))
    if as_json:
        for item in items:
            click.echo(json.dumps(item.summary(), ensure_ascii=False, default=str))
        return
    if not items:
        click.echo("no review items")
        return
    rows = [(s["id"], s["consumer"], s["source"], s["onec_type"], s["onec_id"], s["reason"],
             " ".join(str(c) for c in s["candidates"]), s["parked_at"], s["state"], (s["summary"] or "")[:160])
            for s in (item.summary() for item in items)]
    _output.show(_output.console(), ("id", "consumer", "source", "1C type", "1C id", "reason", "candidates",
                                     "parked at", "state", "summary"), rows, ids=("1C id",))


@command.command("show")
@click.argument("item_id", type=RECORD_ID)
def show(item_id) -> None:
    """One item in full: candidates with why each matched, the decision, the stored event."""
    items = _run(lambda s: s.select("all", [item_id]))
    if not items:
        raise click.ClickException(f"no review item {item_id}")
    click.echo(json.dumps(items[0].export(), ensure_ascii=False, indent=2, default=str))


@command.command("resolve")
@click.argument("item_id", type=RECORD_ID)
@click.option("--adopt", "target", type=RECORD_ID, help="The Bitrix24 id of the record this 1C object is: one of the item's candidates.")
@click.option("--any-record", is_flag=True,
              help="With --adopt: the record is not one of the candidates (matching did not find it, e.g. its ИНН "
                   "is mistyped in Bitrix24); without it a non-candidate id is refused as a typo.")
@click.option("--create", "create_new", is_flag=True, help="None of them: create a new record.")
@click.option("--by", default=default_user, show_default="the OS user", callback=recorded,
              help="Who decides (recorded).")
@click.option("--note", help="Why (recorded), e.g. a ticket.")
def resolve(item_id, target, any_record, create_new, by, note) -> None:
    """Decide a parked item; its event goes back through the outbox and completes by itself."""
    if (target is None) == (not create_new):
        raise click.UsageError("give exactly one of --adopt <Bitrix24 id> or --create")
    if any_record and target is None:
        raise click.UsageError("--any-record goes with --adopt <Bitrix24 id>")
    decision = review_mod.CREATE if create_new else review_mod.ADOPT
    try:
        item = _run(lambda s: s.resolve(item_id, decision=decision, target_id=target, by=by, note=note,
                                        any_record=any_record))
    except review_mod.NotACandidate as exc:
        raise click.BadParameter(f"{exc} (--any-record)", param_hint="--adopt") from None
    if item is None:
        raise click.ClickException(f"review item {item_id} is not open (resolved already, or no such item)")
    what = f"adopt Bitrix24 #{target}" if target is not None else "create a new record"
    click.echo(f"review item {item_id} resolved: {what}; event {item.row['event_id']} requeued")
