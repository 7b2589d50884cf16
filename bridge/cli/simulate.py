from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from onec_outbox.simulator import ScenarioConfig, Sizes, expected_state, generate
from onec_outbox.simulator.sender import IngestRefused, SendOptions, send

from .. import logs
from ..settings import Settings
from ._options import http_url

DEFAULT_URL = "http://127.0.0.1:8080"


def _start(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO datetime like 2026-03-02T09:00:00+03:00") from None
    if start.tzinfo is None:
        raise click.BadParameter("give a UTC offset, e.g. 2026-03-02T09:00:00+03:00")
    return start


@click.command("simulate")
@click.option("--url", default=DEFAULT_URL, show_default=True, callback=http_url, help="Base URL of the ingest.")
@click.option("--token", help="Bearer token for the ingest (default: the first of BRIDGE_INGEST_TOKENS).")
@click.option("--seed", type=int, default=1, show_default=True, help="The same seed gives the same run.")
@click.option("--counterparties", type=click.IntRange(1, 100_000), default=30, show_default=True)
@click.option("--products", type=click.IntRange(1, 100_000), default=40, show_default=True)
@click.option("--orders", type=click.IntRange(0, 100_000), default=60, show_default=True)
@click.option("--days", type=click.IntRange(1, 250), default=3, show_default=True,
              help="Working days the run spans (documents get dates across them).")
@click.option("--start", callback=_start, help="First working day's start [default: 2026-03-02T09:00:00+03:00].")
@click.option("--source", default="ut103-main", show_default=True, help="Infobase id in every event.")
@click.option("--rate", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Events per second; 0 = as fast as the ingest answers.")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--duplicates", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True,
              help="Chance that an answered batch is partly sent again (must come back duplicate).")
@click.option("--paid-rule", type=click.Choice(["full", "any"]), default="full", show_default=True,
              help="When a deal counts as paid in the expected state.")
@click.option("--expected", "expected_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the expected final Bitrix24 state of the run (JSON) to this file.")
@click.option("--dry-run", is_flag=True, help="Print the events as JSON lines instead of posting them.")
def command(url: str, token: str | None, seed: int, counterparties: int, products: int, orders: int, days: int,
            start: datetime | None, source: str, rate: float, batch_size: int, duplicates: float,
            paid_rule: str, expected_file: Path | None, dry_run: bool) -> None:
    """Simulate 1C:УТ 10.3 business days and post them through the ingest like the 1C sender job.

    Counterparties, products and customer orders with invoices, payments and shipments, in time order,
    with growing versions, retries until the bridge answers and occasional duplicate sends.  Exits
    non-zero when the ingest rejects an event (a simulator bug) or a re-sent event is not a duplicate.
    """
    config = ScenarioConfig(seed=seed, sizes=Sizes(counterparties, products, orders), source=source,
                            days=days, **({"start": start} if start else {}))
    run = generate(config)
    if expected_file is not None:
        state = expected_state(run.events, paid_rule=paid_rule)
        expected_file.write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        click.echo(f"expected state of {len(state['deals'])} deals written to {expected_file}", err=True)
    if dry_run:
        for event in run.events:
            sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        click.echo(f"{len(run.events)} events (dry run, nothing posted)", err=True)
        return
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    token = token or next((t.decode() for t in settings.token_values()), None)
    if not token:
        raise click.UsageError("give --token or set BRIDGE_INGEST_TOKENS")
    logs.register_secret(token)
    report = _post(run.events, url, token, rate, batch_size, duplicates, seed)
    click.echo(f"events: {report.events}, sent: {report.sent} in {report.requests} requests "
               f"({report.seconds:.1f} s), accepted: {report.accepted}, duplicates: {report.duplicates} "
               f"(deliberately re-sent: {report.resent}), retries: {report.retries}, "
               f"rejected: {len(report.rejected)}, lost: {len(report.lost)}")
    if report.problems:
        for problem in report.problems[:50]:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(report.problems)} delivery problems (see above)")


def _post(events, url: str, token: str, rate: float, batch_size: int, duplicates: float, seed: int):
    options = SendOptions(batch_size=batch_size, rate=rate, duplicates=duplicates, seed=seed)
    columns = (TextColumn("posting"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task("events", total=len(events), note="")

        def show(report) -> None:
            progress.update(task, completed=report.delivered,
                            note=f"dup {report.duplicates} · retries {report.retries}")

        try:
            return asyncio.run(send(events, url=url, token=token, options=options, progress=show))
        except IngestRefused as exc:
            raise click.ClickException(str(exc)) from None
