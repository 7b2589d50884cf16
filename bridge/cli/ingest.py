from __future__ import annotations

import click

from .. import bootstrap, runner
from ..settings import Settings
from ._options import PORT


@click.command("ingest")
@click.option("--port", type=PORT, help="Listen port (default BRIDGE_INGEST_PORT, 8080).")
def command(port: int | None) -> None:
    """Serve POST /v1/events for 1C (tokens from BRIDGE_INGEST_TOKENS), plus /healthz, /readyz,
    /metrics and the OpenAPI page /docs."""
    settings = Settings()
    if port:
        settings.ingest_port = port
    runner.setup(settings)
    runner.run(lambda stop: bootstrap.run_ingest(settings, stop), settings.event_loop)
