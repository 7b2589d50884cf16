"""`b24bridge`: one command per component.  Commands parse options and call services; no logic here.

Each module of this package that defines ``command`` (a click command or group) is a subcommand, so a
new command is a new file.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="b24bridge")
def main() -> None:
    """Keep 1C:Управление торговлей 10.3 and Bitrix24 CRM in step.

    Connection settings come from BRIDGE_* environment variables (see the README's configuration
    table); portal-specific ids come from the YAML mapping file (BRIDGE_MAPPING_FILE).
    """


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        _module = importlib.import_module(f"{__name__}.{_info.name}")
        if hasattr(_module, "command"):
            main.add_command(_module.command)
