"""Find the PostgreSQL and RabbitMQ the tests run against, in the order DEVELOPERS.md sets:

1. URLs from the environment: ``BRIDGE_TEST_DATABASE_URL`` (a role that may CREATE DATABASE),
   ``BRIDGE_TEST_AMQP_URL`` and ``BRIDGE_TEST_RABBITMQ_API_URL`` (management API, for per-test vhosts);
2. the local services on their default ports;
3. testcontainers, when a Docker engine answers ``docker.from_env().ping()``;
4. otherwise a skip that says what is missing — or a failure when ``BRIDGE_TEST_REQUIRE_SERVICES=1``
   (CI sets it: CI must never skip these tests).
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

LOCAL_DATABASE_URLS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://bridge:bridge@127.0.0.1:5432/bridge",
)
LOCAL_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_RABBITMQ_API_URL = "http://guest:guest@127.0.0.1:15672/api"


class ServiceMissing(Exception):
    """No usable service was found; the message says what was tried."""


@dataclass
class Rabbit:
    amqp_url: str  # with the default vhost "/"
    api_url: str  # management API base, with credentials
    local: bool  # a node on this machine that rabbitmqctl controls

    def with_vhost(self, vhost: str) -> str:
        parts = urlsplit(self.amqp_url)
        return urlunsplit((parts.scheme, parts.netloc, "/" + vhost, parts.query, ""))


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _docker_engine() -> bool:
    try:
        import docker  # type: ignore

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no engine"
        return False


async def _pg_usable(url: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception:  # noqa: BLE001
        return False
    try:
        return bool(await conn.fetchval("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"))
    finally:
        await conn.close()


_containers: list = []


def find_postgres() -> str:
    env = os.environ.get("BRIDGE_TEST_DATABASE_URL")
    if env:
        return env
    if _port_open("127.0.0.1", 5432):
        for url in LOCAL_DATABASE_URLS:
            if asyncio.run(_pg_usable(url)):
                return url
    if _docker_engine():
        from testcontainers.postgres import PostgresContainer  # type: ignore

        container = PostgresContainer("postgres:15", driver=None).start()
        _containers.append(container)
        return container.get_connection_url()
    raise ServiceMissing(
        "PostgreSQL: BRIDGE_TEST_DATABASE_URL is unset, no local server on 127.0.0.1:5432 accepts a role "
        "that may create databases, and no Docker engine answers for testcontainers"
    )


def find_rabbitmq() -> Rabbit:
    env = os.environ.get("BRIDGE_TEST_AMQP_URL")
    if env:
        api = os.environ.get("BRIDGE_TEST_RABBITMQ_API_URL")
        if not api:
            raise ServiceMissing("RabbitMQ: BRIDGE_TEST_AMQP_URL is set but BRIDGE_TEST_RABBITMQ_API_URL is not")
        return Rabbit(env, api, local=False)
    if _port_open("127.0.0.1", 5672):
        try:
            httpx.get(LOCAL_RABBITMQ_API_URL + "/overview", timeout=3).raise_for_status()
        except httpx.HTTPError as exc:
            raise ServiceMissing(
                "RabbitMQ: the local node answers on 5672 but its management API does not "
                f"({exc}); run `rabbitmq-plugins enable rabbitmq_management`"
            ) from exc
        return Rabbit(LOCAL_AMQP_URL, LOCAL_RABBITMQ_API_URL, local=True)
    if _docker_engine():
        from testcontainers.rabbitmq import RabbitMqContainer  # type: ignore

        container = RabbitMqContainer("rabbitmq:3.13-management").start()
        _containers.append(container)
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        api_port = container.get_exposed_port(15672)
        return Rabbit(f"amqp://guest:guest@{host}:{port}/", f"http://guest:guest@{host}:{api_port}/api", False)
    raise ServiceMissing(
        "RabbitMQ: BRIDGE_TEST_AMQP_URL is unset, nothing listens on 127.0.0.1:5672, "
        "and no Docker engine answers for testcontainers"
    )


def stop_containers() -> None:
    while _containers:
        try:
            _containers.pop().stop()
        except Exception:  # noqa: BLE001
            pass


def replace_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, ""))


def required() -> bool:
    return os.environ.get("BRIDGE_TEST_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def missing(exc: ServiceMissing):
    """Skip the test for a missing service, or fail it where services are required (CI)."""
    import pytest

    if required():
        pytest.fail(f"{exc} (BRIDGE_TEST_REQUIRE_SERVICES is set, so this is a failure, not a skip)")
    pytest.skip(str(exc))
