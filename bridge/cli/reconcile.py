from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import metrics, ops_http, runner
from ..bootstrap import RECONCILE_POOL_SIZE, Needs, build
from ..domain.reconcile import ENTITIES, KINDS, Report
from ..errors import B24Error
from ..reconcile import Reconciler, export
from ..settings import Settings
from . import _output
from .portal import CannotRun

log = logging.getLogger("bridge.reconcile")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    match = _DURATION.match(value)
    if not match or float(match.group(1)) <= 0:
        raise click.BadParameter(f"{value!r}: a duration such as 6h, 30m or 900s")
    return float(match.group(1)) * _UNIT[match.group(2)]


@click.command("reconcile")
@click.option("--entity", "entities", multiple=True, type=click.Choice(ENTITIES),
              help="Only this entity (repeatable); default: all.")
@click.option("--repair", is_flag=True,
              help="Push again what is missing or drifted (through the consumers' code), then check again. "
                   "Never deletes or merges: duplicates are only reported.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (for scripts).")
@click.option("--every", callback=_duration, metavar="DURATION",
              help="Run until stopped, once per DURATION (6h, 30m), exporting bridge_reconcile_drift on "
                   "BRIDGE_RECONCILE_METRICS_PORT.")
def command(entities: tuple[str, ...], repair: bool, as_json: bool, every: float | None) -> None:
    """Compare Bitrix24 with what the bridge pushed: records deleted by hand, duplicates, owned fields
    edited by hand, deal amounts and stages 1C's documents do not call for.

    Reads each list with start=-1 over ID windows, 50 pages per batch request. Exit code 0 when Bitrix24
    matches, 1 when something is left to look at (after --repair: what it could not fix), 2 when the portal
    failed (nothing was compared, or with --repair part of the repairs may be made).
    """
    settings = Settings()
    wanted = list(entities) or list(ENTITIES)
    if every is not None:
        runner.setup(settings)
        runner.run(lambda stop: scheduled(settings, wanted, repair, every, stop), settings.event_loop)
        return
    try:
        with _progress(quiet=as_json) as progress:
            before, after = asyncio.run(once(settings, wanted, repair, progress))
    except B24Error as exc:  # exit 1 says "something found": a portal that failed us is not that
        raise CannotRun(f"the portal failed{' (repairs made so far stay: run it again)' if repair else ''}: "
                        f"{exc}") from exc
    if as_json:
        out: dict[str, Any] = before.as_dict()
        if after is not None:
            out["after_repair"] = after.as_dict()
        click.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
    else:
        render(_output.console(), before, after)
    remaining = after if after is not None else before
    raise SystemExit(0 if remaining.clean else 1)


async def once(settings: Settings, entities: list[str], repair: bool,
               progress: Any = None) -> tuple[Report, Report | None]:
    """One run: the report, and with ``repair`` the report of the check after the repairs."""
    async with build(settings, Needs(pool_size=RECONCILE_POOL_SIZE, b24=True, mapping=True)) as root:
        reconciler = Reconciler(root.pool, root.b24, root.mapping, progress=progress)
        before = await reconciler.run(entities)
        if not repair or not any(f.repairable for f in before.findings):
            export(before)
            return before, None
        await reconciler.repair(before)
        after = await reconciler.run(entities)
        export(after)
        return before, after


async def scheduled(settings: Settings, entities: list[str], repair: bool, every: float,
                    stop: asyncio.Event) -> None:
    """Run every ``every`` seconds until ``stop``; /metrics shows the last run's findings.  The last-run time
    starts at the process's start, so "no run for a day" counts from there, not from 1970."""
    app = ops_http.ops_app({}, metrics.registry("reconcile"))
    metrics.RECONCILE_LAST_RUN.set_to_current_time()
    server = asyncio.create_task(ops_http.serve(app, settings.ingest_host, settings.reconcile_metrics_port, stop))
    try:
        while not stop.is_set():
            try:
                before, after = await once(settings, entities, repair)
                last = after or before
                log.info("reconcile run finished", extra={
                    "action": "reconcile.run", "findings": len(before.findings), "remaining": len(last.findings),
                    "repaired": sum(1 for r in before.repairs if r["outcome"] == "re-pushed"),
                    "counts": {f"{e}/{k}": n for (e, k), n in last.counts().items() if n}})
            except Exception as exc:  # noqa: BLE001 - a failed run is logged; the next one comes on time
                log.error("reconcile run failed", extra={"action": "reconcile.failed", "error": str(exc)})
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass
    finally:
        stop.set()
        await server


class _progress:
    """A progress bar per list on stderr (nothing with --json or off a terminal)."""

    def __init__(self, quiet: bool) -> None:
        err = Console(stderr=True)
        self.bar = None if quiet or not err.is_terminal else Progress(
            TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=False)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _progress | None:
        if self.bar is None:
            return None
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, what: str, done: int, total: int) -> None:
        assert self.bar is not None
        if what not in self.tasks:
            self.tasks[what] = self.bar.add_task(what, total=total)
        self.bar.update(self.tasks[what], completed=done, total=total)


def render(out: Console, before: Report, after: Report | None) -> None:
    """The report for people: findings, what --repair did, and the counts per entity."""
    if before.findings:
        _output.show(out, ("entity", "kind", "bitrix24 id", "1C", "detail"),
                     [(f.entity, f.kind, f.b24_id, f"{f.source or ''} {f.onec_id or ''}".strip(), f.detail)
                      for f in before.findings], ids=("bitrix24 id", "1C"), title="Findings")
    if before.repairs:
        _output.show(out, ("entity", "kind", "bitrix24 id", "1C", "repair"),
                     [(r["entity"], r["kind"], r["b24_id"], f"{r['source']} {r['onec']}", r["outcome"])
                      for r in before.repairs], ids=("bitrix24 id", "1C"), title="Repairs")
    _summary(out, before, "Bitrix24 compared with the bridge's links")
    if after is not None:
        _summary(out, after, "After repair")
        for f in after.findings:
            out.print(f"left for an operator: {f.entity} {f.b24_id} {f.kind}: {f.detail}", markup=False,
                      soft_wrap=True)
    elif not before.findings:
        out.print("Bitrix24 matches what the bridge pushed.", markup=False)


def _summary(out: Console, report: Report, title: str) -> None:
    rows = [(entity, report.scanned.get(entity, 0), checked, *counts)
            for entity, checked, *counts in report.summary() if entity in report.scanned]
    _output.show(out, ("entity", "in bitrix24", "linked", *KINDS), rows, title=title)
