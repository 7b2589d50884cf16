"""`b24bridge`: one command per component.  Commands parse options and call services; no logic here.

Each module of this package that defines ``command`` (a click command or group, named as the module) is
a subcommand, so a new command is a new file.  A command whose module needs the optional Bitrix24 sandbox
(``b24_sandbox``) is replaced by a one-line "how to install it" where the sandbox is not installed (see
``_optional``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import logging
import pkgutil
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from .. import __version__, logs
from ..errors import ConfigError
from . import _optional

EXIT_CONFIG = 2  # the configuration is wrong: the same exit code as click's usage errors


class _Main(click.Group):
    """The subcommands, found by module name and imported only when one is run; a configuration problem
    (settings, mapping, tokens, port, database) ends a command with one ``Error: …`` line on stderr, one
    JSON log line and exit code 2, never a traceback.

    The one place where the bridge imports a module lazily: each command module imports what its command
    needs at its top (FastAPI, the Bitrix24 client, the simulator…), and importing all of them would make
    every command, ``--help`` included, wait for all of it.  ``--help`` reads each command's summary from
    its module's source instead.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_summaries())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _summaries():
            return None
        try:
            return importlib.import_module(f"{__name__}.{name}").command
        except ModuleNotFoundError as exc:
            if not _optional.missing(exc):
                raise
            return _optional.not_installed(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = [(name, click.Command(name, help=summary).get_short_help_str(limit))
                for name, summary in _summaries().items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _refuse(str(exc))
        except ValidationError as exc:  # a BRIDGE_* variable pydantic-settings could not read
            _refuse(_settings_problem(exc))


@functools.cache
def _summaries() -> dict[str, str]:
    """Command name → the docstring of its module's ``command`` function, read without importing it."""
    found: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        tree = ast.parse(Path(__path__[0], f"{info.name}.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "command":
                found[info.name] = ast.get_docstring(node) or ""
    return found


def _refuse(message: str) -> None:
    message = " ".join(message.split())  # one line, whatever the error text holds
    record = logging.makeLogRecord({"name": "bridge.cli", "levelno": logging.ERROR, "levelname": "ERROR",
                                    "msg": message, "action": "config.error"})
    if logs.configured():  # the command set up logging: its handler, format and stream
        logging.getLogger("bridge.cli").handle(record)
    else:
        click.echo(logs.JsonFormatter().format(record), err=True)
    click.echo(f"Error: {logs.redact(message)}", err=True)
    sys.exit(EXIT_CONFIG)


def _settings_problem(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = "BRIDGE_" + "_".join(str(p) for p in error["loc"][:1]).upper()
        parts.append(f"{name}: {error['msg']}")
    return "; ".join(parts) or str(exc).splitlines()[0]


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="b24bridge")
def main() -> None:
    """Keep 1C:Управление торговлей 10.3 and Bitrix24 CRM in step.

    Connection settings come from BRIDGE_* environment variables (see the README's configuration
    table); portal-specific ids come from the YAML mapping file (BRIDGE_MAPPING_FILE).
    """
