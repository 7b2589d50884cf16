from __future__ import annotations

import asyncio
import json

import click

from ..bootstrap import COMMAND_POOL_SIZE, Needs, build
from . import _output
from ..settings import Settings
from ..trace import trace


@click.command("trace")
@click.argument("ident")
@click.option("--limit", type=int, default=20, show_default=True, help="Events to show.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of tables.")
def command(ident: str, limit: int, as_json: bool) -> None:
    """Follow a 1C object or event: received, published, applied, what it made in Bitrix24, dead letters.

    IDENT is an event_id or the 1C object's УникальныйИдентификатор (counterparty, product, order or a
    document of an order).
    """
    settings = Settings()

    async def run():
        async with build(settings, Needs(pool_size=COMMAND_POOL_SIZE, broker=True)) as root:
            return await trace(root.pool, root.connect, ident, limit)

    try:
        result = asyncio.run(run())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="IDENT") from None
    if as_json:
        click.echo(json.dumps(result.__dict__, ensure_ascii=False, indent=2, default=str))
        return
    console = _output.console()
    if not result.found:
        console.print(f"nothing known about {result.query}: not received by the ingest (check the 1C queue monitor)")
        raise SystemExit(1)
    if result.events:
        rows = [(e["event_id"], e["event_type"], e["version"], e["occurred_at"], e["received_at"],
                 e["published_at"] or "— waiting for the relay", ", ".join(e["applied_by"]) or "—")
                for e in result.events]
        _output.show(console, ("event_id", "type", "version", "1C time", "received", "published", "applied by"),
                     rows, ids=("event_id",), title="events")
    if result.links:
        rows = [(f"{link['onec_type']} {link['onec_id']}", link["b24_type"], link["b24_id"], link["version"],
                 link["updated_at"]) for link in result.links]
        _output.show(console, ("1C", "Bitrix24", "id", "version", "updated"), rows, ids=("1C", "id"),
                     title="in Bitrix24")
    if result.order_documents:
        rows = [(f"{d['doc_type']} {d['doc_id']}", d["number"], d["date"], d["posted"], d["deleted"], d["amount"])
                for d in result.order_documents]
        _output.show(console, ("document", "number", "date", "posted", "deleted", "amount for the order"), rows,
                     ids=("document",), title="order facts")
    for letter in result.dead_letters:
        console.print(f"[red]dead letter[/red] {letter['event_id']} in {letter['queue']}: "
                      f"{letter['reason']} — {_output.cell(letter['error'])}")
