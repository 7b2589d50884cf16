"""`b24bridge sandbox`: serve the Bitrix24 sandbox (needs the optional ``b24_sandbox``, see ``_optional``)."""

from __future__ import annotations

import click
import uvicorn

from b24_sandbox import Sandbox, SandboxConfig
from b24_sandbox import config as sandbox_config
from b24_sandbox.persistence import StateFileError

from .. import logs, ops_http
from ._options import PORT, not_blank


def _webhook(value: str) -> tuple[int, str]:
    user, _, code = value.strip("/").partition("/")
    if not user.isdigit() or not code or "/" in code:
        raise click.BadParameter(f"expected USER_ID/CODE (for example 7/s3cret), got {value!r}")
    return int(user), code


def _method_cost(value: str) -> tuple[str, float]:
    method, _, seconds = value.partition("=")
    try:
        cost = float(seconds)
    except ValueError:
        cost = -1.0
    if not method.strip() or cost < 0:
        raise click.BadParameter(f"expected METHOD=SECONDS (for example crm.deal.list=2.5), got {value!r}")
    return method.strip().lower(), cost


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8090, show_default=True, type=PORT, help="TCP port.")
@click.option("--webhook-user", default=sandbox_config.DEFAULT_WEBHOOK_USER, show_default=True, type=int,
              help="User id in the webhook URL.")
@click.option("--webhook-code", default=sandbox_config.DEFAULT_WEBHOOK_CODE, show_default=True, callback=not_blank,
              help="Secret code in the webhook URL.")
@click.option("--extra-webhook", "extra_webhooks", multiple=True, metavar="USER/CODE",
              help="Another webhook the portal accepts (repeatable); it has its own operating-time budget.")
@click.option("--webhook-scope", default=sandbox_config.DEFAULT_WEBHOOK_SCOPE, show_default=True,
              help="Scopes every webhook was given, comma-separated; other methods answer 401 insufficient_scope.")
@click.option("--rate", default=sandbox_config.DEFAULT_RATE, show_default=True, type=click.FloatRange(0),
              help="Leaky-bucket drain, requests per second (0 = no limit).")
@click.option("--burst", default=sandbox_config.DEFAULT_BURST, show_default=True, type=click.IntRange(0),
              help="Leaky-bucket size (0 = no limit).")
@click.option("--operating-limit", default=sandbox_config.DEFAULT_OPERATING_LIMIT, show_default=True, type=float,
              help="OPERATION_TIME_LIMIT budget: seconds per method per webhook/app per 10 minutes (0 = off).")
@click.option("--operating-cost", default=None, type=float,
              help="Emulated cost of every call in seconds (default: the real, tiny, execution time).")
@click.option("--method-cost", "method_costs", multiple=True, metavar="METHOD=SECONDS",
              help="Emulated cost of one method (repeatable), e.g. crm.deal.list=2.5.")
@click.option("--oauth-client-id", default=sandbox_config.DEFAULT_OAUTH_CLIENT_ID, show_default=True,
              help="client_id of the installed OAuth app.")
@click.option("--oauth-client-secret", default=sandbox_config.DEFAULT_OAUTH_CLIENT_SECRET, show_default=True,
              help="client_secret of the installed OAuth app.")
@click.option("--access-token-ttl", default=sandbox_config.DEFAULT_ACCESS_TOKEN_TTL, show_default=True, type=int,
              help="Seconds an OAuth access token lives.")
@click.option("--state-file", default=None, type=click.Path(dir_okay=False),
              help="Keep the portal in this JSON file: loaded at start, saved after changes and at shutdown.")
@click.option("--fault-seed", default=None, type=int, help="Seed for random fault injection (repeatable runs).")
@click.option("--ssl-certfile", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Serve HTTPS with this certificate (PEM).")
@click.option("--ssl-keyfile", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Private key for --ssl-certfile (PEM).")
@click.option("--domain", default=sandbox_config.DEFAULT_DOMAIN, show_default=True, help="Portal domain it poses as.")
@click.option("--log-level", default="INFO", show_default=True)
def command(host: str, port: int, webhook_user: int, webhook_code: str, extra_webhooks: tuple[str, ...],
            webhook_scope: str, rate: float, burst: int, operating_limit: float, operating_cost: float | None,
            method_costs: tuple[str, ...], oauth_client_id: str, oauth_client_secret: str, access_token_ttl: int,
            state_file: str | None, fault_seed: int | None, ssl_certfile: str | None, ssl_keyfile: str | None,
            domain: str, log_level: str) -> None:
    """Run the Bitrix24 sandbox: an in-memory portal with the real webhook URL shape, OAuth and limits."""
    webhooks = tuple(_webhook(value) for value in extra_webhooks)
    costs = dict(_method_cost(value) for value in method_costs)
    for secret in (webhook_code, oauth_client_secret, *(code for _, code in webhooks)):
        logs.register_secret(secret)
    logs.configure(log_level)
    config = SandboxConfig(webhook_user=webhook_user, webhook_code=webhook_code, rate=rate, burst=burst,
                           domain=domain, extra_webhooks=webhooks, webhook_scope=webhook_scope,
                           operating_limit=operating_limit,
                           operating_cost=operating_cost, operating_costs=costs, oauth_client_id=oauth_client_id,
                           oauth_client_secret=oauth_client_secret, access_token_ttl=access_token_ttl,
                           state_file=state_file, fault_seed=fault_seed)
    try:
        sandbox = Sandbox(config)
    except StateFileError as exc:
        raise click.ClickException(str(exc)) from exc
    sock = ops_http.listen(host, port)  # a busy port is one Error: line, before anything says it started
    scheme = "https" if ssl_certfile else "http"
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"{scheme}://{shown_host}:{port}"
    click.echo(f"Webhook URL: {base}{config.webhook_path()}")
    click.echo(f"Board:       {base}/_sandbox/")
    click.echo(f"OAuth app:   client_id {oauth_client_id}, token URL {base}/oauth/token/, app calls {base}/rest/")
    if state_file:
        click.echo(f"State file:  {state_file}")
    try:
        uvicorn.Server(uvicorn.Config(
            sandbox, log_config=None, access_log=False, lifespan="on", ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile, proxy_headers=False,  # the rate limit is per TCP peer: a header must not pick the bucket
        )).run(sockets=[sock])
    finally:
        sock.close()
        sandbox.close()
