from __future__ import annotations

import click

from .. import bootstrap, runner
from ..settings import Settings

_DEFAULT_ENTITIES = Settings.model_fields["consumer_entities"].get_default(call_default_factory=True)


@click.command("consume")
@click.option("--entity", "entities", multiple=True,
              help="Consumer target to run: counterparty, product or deal (repeatable; default: those of "
                   f"BRIDGE_CONSUMER_ENTITIES, which defaults to {', '.join(_DEFAULT_ENTITIES)}).")
def command(entities: tuple[str, ...]) -> None:
    """Apply events from RabbitMQ to Bitrix24 (queues b24.<target>), idempotently.

    Serves /healthz, /readyz and /metrics on BRIDGE_CONSUMER_METRICS_PORT. Replicas may run side by side.
    """
    settings = Settings()
    runner.setup(settings)
    runner.run(lambda stop: bootstrap.run_consumers(settings, stop, entities=list(entities) or None),
               settings.event_loop)
