"""`b24bridge`: one command per component.  Commands parse options and call services; no logic here.

Each module of this package that defines ``command`` (a click command or group, named as the module) is
a subcommand, so a new command is a new file.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
from pathlib import Path

import click

from .. import __version__


class _Subcommands(click.Group):
    """The subcommands, found by module name and imported only when one is run.

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
        return importlib.import_module(f"{__name__}.{name}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = [(name, click.Command(name, help=summary).get_short_help_str(limit))
                for name, summary in _summaries().items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


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


@click.group(cls=_Subcommands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="b24bridge")
def main() -> None:
    """Keep 1C:Управление торговлей 10.3 and Bitrix24 CRM in step.

    Connection settings come from BRIDGE_* environment variables (see the README's configuration
    table); portal-specific ids come from the YAML mapping file (BRIDGE_MAPPING_FILE).
    """
