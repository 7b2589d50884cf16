"""`b24bridge`: one command per component.  Commands parse options and call services; no logic here.

Each module of this package that defines ``command`` (a click command or group) is a subcommand, so a
new command is a new file.  A command whose module needs the optional Bitrix24 sandbox (``b24_sandbox``)
is replaced by a one-line "how to install it" where the sandbox is not installed (see ``_optional``).
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from .. import __version__
from . import _optional


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
