from __future__ import annotations

import click

from .. import bootstrap, runner
from ..settings import Settings


@click.command("relay")
@click.option("--batch-size", type=click.IntRange(1, 10_000), help="Rows per claim (default BRIDGE_RELAY_BATCH_SIZE, 500).")
def command(batch_size: int | None) -> None:
    """Publish outbox rows to RabbitMQ (exchange onec.<entity>) with publisher confirms.

    Serves /healthz, /readyz and /metrics on BRIDGE_RELAY_METRICS_PORT. Several relays may run at once.
    """
    settings = Settings()
    if batch_size:
        settings.relay_batch_size = batch_size
    runner.setup(settings)
    runner.run(lambda stop: bootstrap.run_relay(settings, stop), settings.event_loop)
