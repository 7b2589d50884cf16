from __future__ import annotations

import click

from .. import bootstrap, runner
from ..settings import Settings


@click.command("consume")
@click.option("--entity", "entities", multiple=True,
              help="Consumer target to run (repeatable; default BRIDGE_CONSUMER_ENTITIES: counterparty).")
def command(entities: tuple[str, ...]) -> None:
    """Apply events from RabbitMQ to Bitrix24 (queues b24.<target>), idempotently.

    Serves /healthz, /readyz and /metrics on BRIDGE_CONSUMER_METRICS_PORT. Replicas may run side by side.
    """
    settings = Settings()
    runner.setup(settings)
    runner.run(lambda stop: bootstrap.run_consumers(settings, stop, entities=list(entities) or None),
               settings.event_loop)
