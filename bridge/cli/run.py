from __future__ import annotations

import click

from .. import bootstrap, runner
from ..settings import Settings
from ._options import PORT


@click.command("run")
@click.option("--port", type=PORT, help="Ingest port (default BRIDGE_INGEST_PORT, 8080).")
def command(port: int | None) -> None:
    """Run ingest, relay and consumers in one process (small installs, demos, tests).

    One HTTP port serves /v1/events, /healthz, /readyz, /metrics and /docs; the operator console runs
    too, on BRIDGE_CONSOLE_PORT, when BRIDGE_CONSOLE_USERS or BRIDGE_CONSOLE_TOKENS is set.
    """
    settings = Settings()
    if port:
        settings.ingest_port = port
    runner.setup(settings)
    runner.run(lambda stop: bootstrap.run_all(settings, stop), settings.event_loop)
