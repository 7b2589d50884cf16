"""`b24bridge`: one command per component.  Commands parse options and call services; no logic here.

Each module of this package that defines ``command`` (a click command or group) is a subcommand, so a
new command is a new file.  A command whose module needs the optional Bitrix24 sandbox (``b24_sandbox``)
is replaced by a one-line "how to install it" where the sandbox is not installed (see ``_optional``).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import click

from .. import __version__
from . import _optional

EXIT_CONFIG = 2  # the configuration is wrong: the same exit code as click's usage errors


class _Main(click.Group):
    """Runs a command; a configuration problem (settings, mapping, tokens, port, database) ends it with one
    ``Error: …`` line on stderr, one JSON log line and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        from pydantic import ValidationError

        from ..errors import ConfigError

        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _refuse(str(exc))
        except ValidationError as exc:  # a BRIDGE_* variable pydantic-settings could not read
            _refuse(_settings_problem(exc))


def _refuse(message: str) -> None:
    from .. import logs

    message = " ".join(message.split())  # one line, whatever the error text holds
    record = logging.makeLogRecord({"name": "bridge.cli", "levelno": logging.ERROR, "levelname": "ERROR",
                                    "msg": message, "action": "config.error"})
    if logs.configured():  # the command set up logging: its handler, format and stream
        logging.getLogger("bridge.cli").handle(record)
    else:
        click.echo(logs.JsonFormatter().format(record), err=True)
    click.echo(f"Error: {logs.redact(message)}", err=True)
    sys.exit(EXIT_CONFIG)


def _settings_problem(exc) -> str:
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


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        try:
            _module = importlib.import_module(f"{__name__}.{_info.name}")
        except ModuleNotFoundError as _exc:
            if not _optional.missing(_exc):
                raise
            main.add_command(_optional.not_installed(_info.name))
            continue
        if hasattr(_module, "command"):
            main.add_command(_module.command)
