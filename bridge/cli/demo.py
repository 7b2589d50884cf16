"""`b24bridge demo`.  Needs the optional ``b24_sandbox`` package through ``bridge.demo`` (see ``_optional``)."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import logs
from ..demo import DemoOptions, running_demo
from ..settings import Settings
from ._options import PORT

DEFAULT_VHOST = "b24bridge-demo"


def log_path_for(vhost: str) -> Path:
    """Where a demo writes the bridge's log (emptied first): ``b24bridge-demo.log``, or with another ``--vhost``
    ``b24bridge-demo-<vhost>.log``, so two demos on one machine keep their own and no file of another program
    is overwritten."""
    name = "b24bridge-demo" if vhost == DEFAULT_VHOST else "b24bridge-demo-" + re.sub(r"[^A-Za-z0-9._-]", "_", vhost)
    return Path(tempfile.gettempdir()) / f"{name}.log"


@click.command("demo")
@click.option("--seed", type=int, default=1, show_default=True, help="The simulated 1C base (same seed, same day).")
@click.option("--counterparties", type=click.IntRange(1, 100_000), default=12, show_default=True)
@click.option("--products", type=click.IntRange(1, 100_000), default=15, show_default=True)
@click.option("--orders", type=click.IntRange(0, 100_000), default=20, show_default=True)
@click.option("--days", type=click.IntRange(1, 250), default=1, show_default=True,
              help="Working days the simulation spans.")
@click.option("--sandbox-port", type=PORT, default=8090, show_default=True, help="Port of the sandbox Bitrix24.")
@click.option("--ingest-port", type=PORT, default=8080, show_default=True, help="Port of the bridge's ingest.")
@click.option("--rate", type=click.FloatRange(0), default=2.0, show_default=True,
              help="The sandbox portal's request limit per second (a cloud portal: 2; 0 = none).")
@click.option("--burst", type=click.IntRange(0), default=50, show_default=True,
              help="The sandbox portal's burst (cloud: 50).")
@click.option("--rabbitmq-api", help="RabbitMQ management API (default http://<amqp host>:15672/api).")
@click.option("--vhost", default=DEFAULT_VHOST, show_default=True,
              help="RabbitMQ vhost the demo recreates; any other than the default also names its database "
                   "(<database>_demo_<vhost>), so two demos never share one.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds to wait for the bridge.")
@click.option("--serve", is_flag=True, help="Keep the sandbox and the bridge running after the summary (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(seed, counterparties, products, orders, days, sandbox_port, ingest_port, rate, burst, rabbitmq_api,
            vhost, timeout, serve, as_json) -> None:
    """Watch a simulated 1C business day flow into a sandbox Bitrix24, end to end.

    Uses BRIDGE_DATABASE_URL and BRIDGE_AMQP_URL (the defaults fit ./dev services) but works in a
    database and a RabbitMQ vhost of its own, recreated on every run. Starts a sandbox portal, prepares it
    with `portal setup`, runs ingest + relay + consumers, posts the 1C simulator's events through the HTTP
    ingest, waits until every event is applied, and prints what Bitrix24 shows next to what 1C says it must.
    """
    settings = Settings()
    log_path = log_path_for(vhost)
    log_file = log_path.open("w", encoding="utf-8")  # the bridge's JSON log lines, away from the progress bars
    logs.configure(settings.log_level, settings.log_format, stream=log_file)
    options = DemoOptions(seed=seed, counterparties=counterparties, products=products, orders=orders, days=days,
                          sandbox_port=sandbox_port, ingest_port=ingest_port, rate=rate, burst=burst,
                          rabbitmq_api=rabbitmq_api, vhost=vhost, timeout=timeout)

    async def main() -> int:
        console = Console(stderr=as_json)
        with Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=as_json) as bar:
            tasks: dict[str, int] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total)
                bar.update(tasks[phase], completed=done, total=total)

            async with running_demo(settings, options, progress) as (result, _sandbox):
                bar.stop()
                if as_json:
                    click.echo(json.dumps(_report(result, serve), ensure_ascii=False, indent=2))
                else:
                    _print_summary(console, result, serve)
                    console.print(f"Bridge logs (JSON lines): {log_path}")
                if serve:
                    console.print("serving: Ctrl-C stops")
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        pass
                return 1 if result.problems else 0

    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        code = 0
    raise SystemExit(code)


def _report(result, serving: bool) -> dict:
    """``--json``: the summary, and with ``--serve`` what using the running stack needs (as the table prints)."""
    report = {"summary": result.summary, "expected": result.expected, "problems": result.problems,
              "board": result.board_url, "events": result.events, "seconds": round(result.seconds, 1)}
    if serving:
        report.update(ingest=result.ingest_url, ingest_token=result.ingest_token, webhook=result.webhook_url,
                      database=result.database)
    return report


def _print_summary(console, result, serving: bool) -> None:
    table = Table("", "Bitrix24 shows", "1C says", title=f"{result.events} events from 1C, {result.seconds:.0f} s")
    for key in ("companies", "contacts", "products", "deals"):
        mark = "" if result.summary[key] == result.expected[key] else " ✗"
        table.add_row(key, str(result.summary[key]) + mark, str(result.expected[key]))
    notified, paid = result.summary["notifications"], result.expected["notifications"]
    table.add_row("'client paid' notifications", str(notified) + ("" if notified >= paid else " ✗"),
                  f"≥ {paid} (one per paid deal)")
    for stage in sorted(set(result.summary["deals_by_stage"]) | set(result.expected["deals_by_stage"])):
        table.add_row(f"  deals: {stage}", str(result.summary["deals_by_stage"].get(stage, 0)),
                      str(result.expected["deals_by_stage"].get(stage, 0)))
    dead = result.summary["dead_letters"]
    table.add_row("dead letters", str(sum(dead.values())) + (f" {dead}" if dead else ""), "0")
    console.print(table)
    console.print(f"Deals as a sales manager sees them: [bold]{result.board_url}[/bold]")
    if serving:  # the demo's own throwaway token: what posting events by hand (or /docs' Authorize) needs
        console.print(f"Ingest: {result.ingest_url}/docs · Authorization: Bearer {result.ingest_token} · "
                      f"webhook: {result.webhook_url}", soft_wrap=True)  # never break the token or a URL
        # the operator tools read BRIDGE_DATABASE_URL and the webhook, not the demo's: without this they look
        # at the configured database (which the demo never touches) and link cards on the default port
        console.print(f"Operator tools (trace, dlq, review, reconcile) on this demo: BRIDGE_DATABASE_URL naming "
                      f"the database {result.database} and BRIDGE_B24_WEBHOOK_URL={result.webhook_url}", soft_wrap=True)
    else:
        console.print("(the sandbox and the bridge stop now: `./dev demo --serve` keeps them running, to open "
                      "the board or post events of your own)")
    for problem in result.problems[:30]:
        console.print(f"[red]mismatch[/red] {problem}")
    if len(result.problems) > 30:
        console.print(f"[red]… and {len(result.problems) - 30} more mismatches[/red]")
    if not result.problems:
        console.print("[green]Every company, contact, product and deal matches what 1C says, field by field.[/green]")
