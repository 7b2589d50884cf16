from __future__ import annotations

import asyncio
import json

import click

from .. import db
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
        pool = await db.create_pool(settings.database_url.get_secret_value(), max_size=2)
        try:
            return await trace(pool, ident, limit)
        finally:
            await pool.close()

    try:
        result = asyncio.run(run())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="IDENT") from None
    if as_json:
        click.echo(json.dumps(result.__dict__, ensure_ascii=False, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not result.found:
        console.print(f"nothing known about {result.query}: not received by the ingest (check the 1C queue monitor)")
        raise SystemExit(1)
    if result.events:
        table = Table("event_id", "type", "version", "1C time", "received", "published", "applied by",
                      title="events")
        for e in result.events:
            table.add_row(e["event_id"], e["event_type"], str(e["version"]), str(e["occurred_at"]),
                          str(e["received_at"]), str(e["published_at"] or "— waiting for the relay"),
                          ", ".join(e["applied_by"]) or "—")
        console.print(table)
    if result.links:
        table = Table("1C", "Bitrix24", "id", "version", "updated", title="in Bitrix24")
        for link in result.links:
            table.add_row(f"{link['onec_type']} {link['onec_id']}", link["b24_type"], str(link["b24_id"]),
                          str(link["version"]), str(link["updated_at"]))
        console.print(table)
    if result.order_documents:
        table = Table("document", "number", "date", "posted", "deleted", "amount for the order", title="order facts")
        for d in result.order_documents:
            table.add_row(f"{d['doc_type']} {d['doc_id']}", str(d["number"]), str(d["date"]), str(d["posted"]),
                          str(d["deleted"]), str(d["amount"] or ""))
        console.print(table)
    for letter in result.dead_letters:
        console.print(f"[red]dead letter[/red] {letter['event_id']} in {letter['queue']}: "
                      f"{letter['reason']} ({letter['state']}) — {letter['error']}")
