"""Connection settings, read from ``BRIDGE_*`` environment variables (and nothing else reads the environment).

Every default works on a developer machine with local PostgreSQL and RabbitMQ, so ``b24bridge`` runs
with no configuration at all against ``./dev services``.  Portal-specific choices (funnel, presets,
users) are not here: they live in the YAML mapping file (see :mod:`bridge.mapping`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .errors import ConfigError
from .working_hours import DEFAULT_WORKING_HOURS, WorkingHours

DEFAULT_DATABASE_URL = "postgresql://bridge:bridge@127.0.0.1:5432/bridge"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_SANDBOX_WEBHOOK_URL = "http://127.0.0.1:8090/rest/1/sandbox0webhook0code/"
ENV_PREFIX = "BRIDGE_"
# BRIDGE_* names that the project's tooling reads, not the bridge: ./dev (BRIDGE_VENV) and the test suite.
TOOLING_VARIABLES = ("BRIDGE_VENV", "BRIDGE_TEST_")


def proxy_address(value: str) -> str:
    """A proxy address as httpx takes it: ``host:3128`` means ``http://host:3128``, as curl reads it."""
    return value if "://" in value else f"http://{value}"


class Settings(BaseSettings):
    """What the bridge needs to reach its neighbours, and how hard to push them."""

    # an error never echoes the value given: many settings are secrets (URLs with passwords, tokens)
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_file=None, hide_input_in_errors=True)

    database_url: SecretStr = Field(
        SecretStr(DEFAULT_DATABASE_URL), description="PostgreSQL DSN (asyncpg form, postgresql://…)"
    )
    amqp_url: SecretStr = Field(SecretStr(DEFAULT_AMQP_URL), description="RabbitMQ URL (amqp://…)")
    b24_webhook_url: SecretStr = Field(
        SecretStr(DEFAULT_SANDBOX_WEBHOOK_URL),
        description="Bitrix24 inbound webhook, https://PORTAL/rest/<user>/<code>/ (the code is a secret)",
    )
    ingest_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated bearer tokens accepted by POST /v1/events; ingest refuses to start without one. "
                    "An entry token@sourceA|sourceB binds the token to those 1C bases (envelope field source): "
                    "an event of another base is refused with 403 forbidden_source; a token without @ may send "
                    "any source; a token listed again with other bases is refused at start",
    )
    mapping_file: Path | None = Field(
        None, description="YAML mapping file with portal-specific ids; the embedded default fits the sandbox"
    )

    ingest_host: str = "0.0.0.0"
    ingest_port: int = Field(8080, ge=1, le=65535)
    ingest_max_body_bytes: int = Field(16 * 1024 * 1024, ge=1, description="larger request bodies get 413")
    ingest_max_batch: int = Field(1000, ge=1, description="more events in one request get 413")
    ingest_body_timeout: float = Field(60.0, gt=0, description="seconds to receive a request body, else 408")
    ingest_pool_size: int = Field(
        10, ge=1, le=100,
        description="PostgreSQL connections of one ingest process (requests stored at once; more wait for one). "
                    "The Helm chart sets 5 per replica, so its two ingest replicas take the 10 one ingest would")

    relay_batch_size: int = Field(500, ge=1, le=10_000)
    relay_poll_interval: float = Field(1.0, gt=0, description="seconds between polls when NOTIFY is silent")
    relay_metrics_port: int = Field(9101, ge=0, le=65535, description="the relay's /metrics and probes port "
                                    "(0: a free one the system picks, as the tests run it)")
    working_hours: str = Field(
        DEFAULT_WORKING_HOURS,
        description="when 1C must post heartbeats: 'mon-fri 09:00-18:00 Europe/Moscow' or 'always' (silence alert and notice)",
    )

    consumer_prefetch: int = Field(64, ge=1, le=1000, description="messages handled concurrently per consumer")
    consumer_wait_in_hand: float = Field(
        3.0, ge=0, le=30,
        description="seconds a message whose dependency is missing looks again in hand before the wait queue (0: never)")
    consumer_metrics_port: int = Field(9102, ge=0, le=65535, description="the consumers' /metrics and probes "
                                       "port (0: a free one the system picks)")
    startup_check: bool = Field(
        True, description="check the mapping against the portal before consuming (off: skip, for emergencies)"
    )
    consumer_entities: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["counterparty", "product", "deal"],
        description="which targets `b24bridge consume` serves",
    )

    reconcile_metrics_port: int = Field(9104, ge=0, le=65535, description="`b24bridge reconcile --every`: /metrics "
                                        "and probes port (0: a free one the system picks)")

    console_host: str | None = Field(None, description="console listen address (default: BRIDGE_INGEST_HOST)")
    console_port: int = Field(9103, ge=1, le=65535, description="the operator console's port (own port: expose it to operators only)")
    console_users: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="comma-separated user:password pairs for the console (form login or HTTP basic auth)",
    )
    console_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="comma-separated bearer tokens for the console (scripts)"
    )
    console_session_key: SecretStr | None = Field(
        None, description="key that signs console sessions; set the same on every replica (default: random per process)"
    )
    console_grafana_url: str | None = Field(None, description="the Grafana dashboard the console links to")

    b24_timeout: float = Field(30.0, gt=0, description="seconds per Bitrix24 HTTP request")
    b24_max_retries: int = Field(8, ge=0, description="in-process retries of a retryable Bitrix24 error")
    b24_rate_per_second: float = Field(
        2.0, gt=0, description="the portal's leaky bucket drain rate (2; 5 on Enterprise), shared by all replicas"
    )
    b24_rate_burst: int = Field(50, ge=1, description="the portal's leaky bucket size (50; 250 on Enterprise)")
    b24_preread_max_rows: int = Field(
        50_000, ge=0, description="bulk loads: read the portal's product/company/contact keys once instead of "
        "looking each up, when its highest record id is at most this (0: never; memory ≈ 300 bytes a row)")
    b24_preread_ttl: float = Field(600.0, gt=0, description="seconds a pre-read of the portal's keys is trusted")
    b24_batch_linger: float = Field(
        0.02, ge=0, description="seconds a call waits to share a batch request with others; 0 turns batching off"
    )
    b24_http_client: Literal["builtin", "httpx"] = Field(
        "builtin", description="HTTP client for the portal: the bridge's own HTTP/1.1 client (less CPU per "
        "request) or httpx (always with b24_proxy_url)"
    )
    b24_proxy_url: SecretStr | None = Field(
        None, description="an HTTP proxy for every request to the portal and the OAuth server "
        "(http://[user:password@]host:port; an https:// portal is tunnelled with CONNECT); HTTPS_PROXY is not read"
    )
    b24_oauth_client_id: str | None = Field(
        None, description="OAuth app mode instead of the webhook: the app's client_id (needs the three below)"
    )
    b24_oauth_client_secret: SecretStr | None = Field(None, description="OAuth app client_secret")
    b24_oauth_refresh_token: SecretStr | None = Field(
        None, description="initial OAuth refresh token; refreshed ones are kept in PostgreSQL (b24_oauth_tokens)"
    )
    b24_oauth_portal_url: str | None = Field(None, description="OAuth mode: https://PORTAL/ of the Bitrix24 portal")
    b24_oauth_server_url: str = Field(
        "https://oauth.bitrix.info/oauth/token/", description="OAuth server that refreshes tokens"
    )

    trace_retention_days: float = Field(
        7.0, gt=0, description="days the consumers' outcomes and Bitrix24 calls are kept for `b24bridge trace`"
    )

    migrations_dir: Path | None = Field(
        None, description="where the Alembic scripts are (default: bridge/migrations inside the package)"
    )

    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="uvloop (the default when installed: less CPU per event) or the standard library's asyncio"
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "text"] = Field("json", description="json (default) or text")

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        if info.field_name == "log_format":
            return value.strip().lower()
        level = value.strip().upper()
        return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level)  # what logging.setLevel also takes

    @field_validator("database_url", "amqp_url")
    @classmethod
    def _check_service_url(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        """A URL of the right kind, checked at start; the message never shows it (it holds a password)."""
        schemes, shape = ((("postgresql", "postgres"), "a postgresql:// URL of user, host, port and database")
                          if info.field_name == "database_url" else (("amqp", "amqps"), "an amqp:// URL of user, host, port and vhost"))
        try:  # the scheme only: no host is a Unix socket (?host=/var/run/postgresql), h1:5432,h2:5432 several
            usable = urlsplit(value.get_secret_value().strip()).scheme in schemes
        except ValueError:
            usable = False
        if not usable:
            raise ValueError(f"must be {shape}; the value given is not shown: it may hold a password")
        return value

    @field_validator("ingest_tokens", "console_users", "console_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("mapping_file", "migrations_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``BRIDGE_MAPPING_FILE=`` (a Helm value left empty) means the default, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("console_grafana_url")
    @classmethod
    def _check_link(cls, value: str | None) -> str | None:
        """The console puts it in a link: only an http(s) address (a ``javascript:`` one would run in the page)."""
        if value is None or not value.strip():
            return None
        if urlsplit(value.strip()).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// address")
        return value.strip()

    @field_validator("working_hours")
    @classmethod
    def _check_working_hours(cls, value: str) -> str:
        WorkingHours.parse(value)  # a ValueError names the problem
        return value

    @field_validator("b24_proxy_url")
    @classmethod
    def _check_proxy(cls, value: SecretStr | None) -> SecretStr | None:
        """A proxy address httpx can use, checked at start (not at the first call); the message never shows
        the address, which may hold a password."""
        if value is None or not value.get_secret_value():
            return None
        try:
            parts = urlsplit(proxy_address(value.get_secret_value()))
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)  # SOCKS would need socksio
            parts.port  # noqa: B018 - raises ValueError for a port that is not one
        except ValueError:
            usable = False
        if not usable:
            raise ValueError("must be http://[user:password@]host:port (or https://); "
                             "the value given is not shown: it may hold a password")
        return value

    @field_validator("consumer_entities", mode="before")
    @classmethod
    def _split_entities(cls, value: object) -> object:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    def token_values(self) -> list[bytes]:
        """The bearer tokens, without their source bindings."""
        return [token for token, _ in self.token_bindings()]

    def token_bindings(self) -> list[tuple[bytes, frozenset[str] | None]]:
        """Each token with the 1C bases it may send for (``token@a|b``), or None: any base.  A token listed
        again with the same bases counts once; with other bases (``t@a,t@b`` or ``t,t@a``) it is refused,
        since one entry would silently override the other (:class:`ConfigError`, for every command that reads
        them: the ingest, ``simulate``)."""
        bound: dict[bytes, tuple[int, frozenset[str] | None]] = {}
        for number, entry in enumerate(self.ingest_tokens, 1):
            token, at, sources = entry.get_secret_value().partition("@")
            names = frozenset(s.strip() for s in sources.split("|") if s.strip())
            if at and (not token.strip() or not names):
                raise ConfigError("an entry of BRIDGE_INGEST_TOKENS is token@source or token@sourceA|sourceB: "
                                 "a token and at least one source")
            key, binding = token.strip().encode(), names if at else None
            if key in bound and bound[key][1] != binding:
                raise ConfigError(f"entries {bound[key][0]} and {number} of BRIDGE_INGEST_TOKENS are the same token "
                                 "with different bases (the value is not shown): list it once, with all its "
                                 "bases (token@sourceA|sourceB), or without @ for any base")
            bound.setdefault(key, (number, binding))
        return [(key, binding) for key, (_, binding) in bound.items()]


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """``BRIDGE_*`` names in the environment that no setting reads, each with the closest setting's name
    (or None). Settings ignore unknown names, so a misspelt one would otherwise silently keep the default."""
    environ = os.environ if environ is None else environ
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    suffixes = {name[len(ENV_PREFIX):]: name for name in known}
    unknown = []
    for name in sorted(environ):
        upper = name.upper()  # pydantic-settings matches names case-insensitively
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(TOOLING_VARIABLES):
            continue
        close = difflib.get_close_matches(upper[len(ENV_PREFIX):], suffixes, n=1, cutoff=0.75)
        unknown.append((name, suffixes[close[0]] if close else None))
    return unknown
