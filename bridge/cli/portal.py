from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from .. import mapping as mapping_mod
from ..b24 import auth_from_settings
from ..bootstrap import Needs, build
from ..errors import B24Error, ConfigError
from ..portal import service
from ..portal.scopes import WEBHOOK_SCOPES, scopes_text
from ..settings import Settings
from ._options import writable

T = TypeVar("T")

EXIT_OK, EXIT_PROBLEMS, EXIT_CANNOT_RUN = 0, 1, 2


class CannotRun(click.ClickException):
    """The mapping could not be read or the portal could not be asked: exit 2, nothing was checked."""

    exit_code = EXIT_CANNOT_RUN


_mapping_opt = click.option(
    "--mapping", "mapping_file", type=click.Path(dir_okay=False, path_type=Path),
    help="Mapping file (default: BRIDGE_MAPPING_FILE, else the embedded default that fits the sandbox).")
_json_opt = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout instead of text.")


@click.group("portal", help=f"""Create on the Bitrix24 portal what the mapping file needs (setup), and verify it
    (check).

    The portal is the one BRIDGE_B24_WEBHOOK_URL points at; the webhook needs the scopes {scopes_text()}.
    """)
def command() -> None:
    """Create on the Bitrix24 portal what the mapping file needs (setup), and verify it (check)."""


@command.command("check")
@_mapping_opt
@_json_opt
def check(mapping_file: Path | None, as_json: bool) -> None:
    """Verify the mapping against the portal and say exactly what is wrong (exit 1 if anything is)."""
    settings = Settings()
    mapping, _, origin = _load(mapping_file or settings.mapping_file)
    try:
        result = _run(settings, lambda b24: service.check(b24, mapping))
    except CannotRun as exc:  # --json: a script still gets its one document, saying nothing was checked
        if as_json:
            _echo_json({"ok": False, "mapping": origin, "checked": False, "error": exc.message})
        raise
    if as_json:
        _echo_json({"ok": result.ok, "mapping": origin, "scopes": list(WEBHOOK_SCOPES),
                    "problems": [p.as_dict() for p in result.problems]})
    else:
        out = _console()
        out.print(_header(origin, settings))
        for problem in result.problems:
            _print_problem(out, problem)
        out.print(_summary(result))
    sys.exit(EXIT_OK if result.ok else EXIT_PROBLEMS)


@command.command("setup")
@_mapping_opt
@click.option("--dry-run", is_flag=True, help="Only show what would be created and filled in; write nothing.")
@click.option("--write", "write_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the resulting mapping to this file instead of printing it. An existing FILE is also "
                   "the mapping read (unless --mapping names another); it is rewritten only when something "
                   "changes, its old text kept as FILE.bak.")
@click.option("--force", is_flag=True, help="Let --write replace a FILE that is not the mapping read.")
@_json_opt
def setup(mapping_file: Path | None, dry_run: bool, write_to: Path | None, force: bool, as_json: bool) -> None:
    """Create the missing stages and deal user fields, fill in what can be discovered, print the mapping.

    The resulting mapping (YAML) goes to stdout, the report to stderr.  Exit 0 when the portal now matches
    the mapping, 1 when problems remain that need a human.  Running it again changes nothing.
    """
    settings = Settings()
    source = mapping_file or (write_to if write_to is not None and write_to.exists() else None) \
        or settings.mapping_file
    if write_to is not None and not force:
        _refuse_to_replace(write_to, source)
    if write_to is not None and not dry_run:
        _can_write(write_to)  # before the portal is changed: else stages made, the mapping naming them lost
    mapping, text, origin = _load(source)
    report = _run(settings, lambda b24: service.setup(b24, mapping, text, origin, dry_run=dry_run))
    written = None
    if write_to is not None and not dry_run:
        written = _write(write_to, report.text)
    if as_json:
        _echo_json({
            "ok": report.ok, "dry_run": dry_run, "mapping_file": origin,
            "actions": [_action_json(report, a) for a in report.before.actions],
            "changes": [c.as_dict() for c in report.changes],
            "problems": [p.as_dict() for p in report.after.problems],
            "mapping": None if dry_run else report.text, "written": written,
        })
    else:
        _print_setup(report, origin, settings, written)
        if not dry_run and written is None:
            click.echo(report.text, nl=not report.text.endswith("\n"))
    sys.exit(EXIT_OK if report.ok else EXIT_PROBLEMS)


# ------------------------------------------------------------------------------------------ plumbing

def _same_file(a: Path, b: Path | None) -> bool:
    return b is not None and Path(a).resolve() == Path(b).resolve()


def _refuse_to_replace(target: Path, source: Path | None) -> None:
    """An existing --write FILE that is not the mapping being read holds someone's edits: keep it."""
    if target.exists() and not _same_file(target, source):
        shown = source if source is not None else "the embedded default mapping"
        raise ConfigError(f"{target} exists and is not the mapping read ({shown}): setup would replace it; "
                          f"drop --mapping to update {target} itself, or add --force to replace it")


def _can_write(target: Path) -> None:
    """Refuse a --write FILE that cannot be written before anything else."""
    problem = writable(target)
    if problem is not None:
        raise CannotRun(f"cannot write the mapping to {target}: {problem}; nothing was changed")


def _write(target: Path, text: str) -> str:
    """Write the mapping only when it changes, keeping the previous text as ``<file>.bak``; returns what
    was done, for the report."""
    try:
        old = target.read_text(encoding="utf-8") if target.exists() else None
        if old == text:
            return f"{target} (unchanged)"
        if old is not None:
            target.with_name(target.name + ".bak").write_text(old, encoding="utf-8")
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CannotRun(f"cannot write the mapping to {target}: {exc.strerror}") from exc
    return f"{target} (previous text in {target.name}.bak)" if old is not None else str(target)


def _load(path: Path | None) -> tuple[mapping_mod.Mapping, str, str]:
    """The mapping, its text and where it came from; a bad one is a ConfigError (exit 2)."""
    if path is None:
        text, origin = mapping_mod.default_text(), "the embedded default mapping"
    else:
        text, origin = mapping_mod.read_file(path), str(path)
    return mapping_mod.parse(text, origin), text, origin


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        async with build(settings, Needs(b24=True)) as root:  # OAuth mode: with a small pool for the tokens
            with _console(stderr=True).status("reading the portal…"):
                return await work(root.b24)

    try:
        return asyncio.run(go())
    except B24Error as exc:
        raise CannotRun(f"cannot ask the portal: {exc}") from exc


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _text(*parts: tuple[str, str] | str) -> Text:
    return Text.assemble(*parts)


def _header(origin: str, settings: Settings) -> Text:
    try:
        portal = auth_from_settings(settings).base_url
    except ConfigError:
        portal = "(OAuth app)"
    return _text(("mapping: ", "dim"), origin, ("  portal: ", "dim"), portal,
                 ("  webhook scopes needed: ", "dim"), scopes_text())


def _print_problem(out, problem) -> None:
    mark, style = ("⚠", "yellow") if problem.severity == "warning" else ("✗", "red")
    out.print(_text((f"{mark} ", style), (problem.key, "bold"), f": {problem.message}"))
    out.print(_text(("    → ", "dim"), problem.fix))


def _summary(result, would: bool = False):
    errors, warnings = result.errors, result.warnings
    tail = f", {_count(len(warnings), 'warning')}" if warnings else ""
    if not errors:
        verb = "after setup the portal would match" if would else "the portal matches"
        return _text((f"✓ {verb} the mapping", "green"), tail)
    by_setup = sum(1 for p in errors if p.by == "setup")
    human = len(errors) - by_setup
    parts = [f"{human} need{'s' if human == 1 else ''} a human"] if human else []
    if by_setup:
        parts.append(f"{by_setup} fixed by `b24bridge portal setup`")
    return _text((f"✗ {_count(len(errors), 'problem')}", "red"), f" ({', '.join(parts)}){tail}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _print_setup(report, origin: str, settings: Settings, written: str | None) -> None:
    out = _console(stderr=True)
    out.print(_header(origin, settings))
    verb = "would " if report.dry_run else ""
    outcomes = {id(o.action): o for o in report.outcomes}
    for action in report.before.actions:
        outcome = outcomes.get(id(action))
        if outcome is not None and not outcome.done:
            out.print(_text(("✗ failed to ", "red"), action.describe(), f": {outcome.error}"))
        else:
            out.print(_text(("+ ", "green"), f"{verb}{action.describe()}"))
    for change in report.changes:
        out.print(_text(("~ ", "cyan"), f"{'would set' if report.dry_run else 'mapping'}: {change.describe()}"))
    if not report.before.actions:
        out.print(_text(("= ", "dim"), "nothing to create: the portal has every stage and field the mapping needs"))
    for problem in report.after.problems:
        _print_problem(out, problem)
    out.print(_summary(report.after, would=report.dry_run))
    if written:
        out.print(_text(("mapping written to ", "dim"), written))


def _action_json(report, action) -> dict[str, Any]:
    out = action.as_dict()
    outcome = next((o for o in report.outcomes if o.action is action), None)
    out["done"] = outcome.done if outcome is not None else False
    out["error"] = outcome.error if outcome is not None else None
    return out


def _echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
