from __future__ import annotations

import click

from .. import bootstrap, runner
from ..settings import Settings
from ._options import PORT


@click.command("console")
@click.option("--port", type=PORT, help="Console port (default BRIDGE_CONSOLE_PORT, 9103).")
def command(port: int | None) -> None:
    """Serve the operator web console: pipeline health, dead letters (replay, purge), trace search.

    Needs BRIDGE_CONSOLE_USERS (user:password,…) or BRIDGE_CONSOLE_TOKENS and PostgreSQL; also serves
    /healthz, /readyz and /metrics.
    """
    settings = Settings()
    if port:
        settings.console_port = port
    runner.setup(settings)
    bootstrap.console_config(settings)  # no credentials: one line and exit 2, before anything connects
    runner.run(lambda stop: bootstrap.run_console(settings, stop), settings.event_loop)
