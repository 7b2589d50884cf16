from __future__ import annotations

import click

from ..sandbox import config as sandbox_config


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8090, show_default=True, type=int, help="TCP port.")
@click.option("--webhook-user", default=sandbox_config.DEFAULT_WEBHOOK_USER, show_default=True, type=int,
              help="User id in the webhook URL.")
@click.option("--webhook-code", default=sandbox_config.DEFAULT_WEBHOOK_CODE, show_default=True,
              help="Secret code in the webhook URL.")
@click.option("--rate", default=sandbox_config.DEFAULT_RATE, show_default=True, type=float,
              help="Leaky-bucket drain, requests per second (0 = no limit).")
@click.option("--burst", default=sandbox_config.DEFAULT_BURST, show_default=True, type=int,
              help="Leaky-bucket size (0 = no limit).")
@click.option("--domain", default=sandbox_config.DEFAULT_DOMAIN, show_default=True, help="Portal domain it poses as.")
@click.option("--log-level", default="INFO", show_default=True)
def command(host: str, port: int, webhook_user: int, webhook_code: str, rate: float, burst: int, domain: str,
            log_level: str) -> None:
    """Run the Bitrix24 sandbox: an in-memory portal with the real webhook URL shape."""
    import uvicorn

    from .. import logs
    from ..sandbox import Sandbox, SandboxConfig

    logs.register_secret(webhook_code)
    logs.configure(log_level)
    config = SandboxConfig(webhook_user=webhook_user, webhook_code=webhook_code, rate=rate, burst=burst,
                           domain=domain)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    click.echo(f"Webhook URL: http://{shown_host}:{port}{config.webhook_path()}")
    click.echo(f"Board:       http://{shown_host}:{port}/_sandbox/")
    uvicorn.run(Sandbox(config), host=host, port=port, log_config=None, access_log=False, lifespan="off")
