"""Fixtures for real PostgreSQL and RabbitMQ (never mocked).

* PostgreSQL: the schema is migrated once per session into a template database; every test that asks
  for ``db_url`` gets its own database created from it (``CREATE DATABASE … TEMPLATE``), dropped after.
* RabbitMQ: every test that asks for ``amqp_url`` gets its own virtual host, deleted after, so topology
  names are the production ones and tests cannot see each other's messages.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest

from tests import services
from tests.helpers import execute_sql


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        return services.find_postgres()
    except services.ServiceMissing as exc:
        services.missing(exc)


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    """Name of a database migrated to head, used as the template of every test database."""
    from bridge import schema

    name = f"bridge_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(execute_sql(pg_server, f'CREATE DATABASE "{name}"'))
    schema.migrate(services.replace_database(pg_server, name))
    yield name
    asyncio.run(execute_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))



@pytest.fixture
def db_url(pg_server: str, pg_template: str) -> str:
    """A fresh, migrated database for this test."""
    name = f"bridge_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(execute_sql(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield services.replace_database(pg_server, name)
    asyncio.run(execute_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def empty_db_url(pg_server: str) -> str:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"bridge_e_{uuid.uuid4().hex[:12]}"
    asyncio.run(execute_sql(pg_server, f'CREATE DATABASE "{name}"'))
    yield services.replace_database(pg_server, name)
    asyncio.run(execute_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def db_pool(db_url: str):
    from bridge import db

    pool = await db.create_pool(db_url, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def rabbit() -> services.Rabbit:
    try:
        return services.find_rabbitmq()
    except services.ServiceMissing as exc:
        services.missing(exc)


_vhost_api_stuck: list[str] = []  # set once the management API failed to make a vhost: later tests fail fast


@pytest.fixture
def amqp_url(rabbit: services.Rabbit) -> str:
    """The URL of a fresh virtual host for this test."""
    if _vhost_api_stuck:
        pytest.fail(_vhost_api_stuck[0], pytrace=False)
    vhost = f"t-{uuid.uuid4().hex[:12]}"
    user = unquote(urlsplit(rabbit.amqp_url).username or "guest")
    try:
        with httpx.Client(timeout=60) as api:
            api.put(f"{rabbit.api_url}/vhosts/{quote(vhost, safe='')}").raise_for_status()
            api.put(
                f"{rabbit.api_url}/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
                json={"configure": ".*", "write": ".*", "read": ".*"},
            ).raise_for_status()
    except httpx.TimeoutException as exc:
        _vhost_api_stuck.append(
            f"RabbitMQ's management API did not make a virtual host within 60 s ({exc!r}); later tests that "
            "need one fail at once. `./dev sweep` drops what earlier runs left and restarts a stuck local node")
        pytest.fail(_vhost_api_stuck[0], pytrace=False)
    yield rabbit.with_vhost(vhost)
    with httpx.Client(timeout=30) as api:
        api.delete(f"{rabbit.api_url}/vhosts/{quote(vhost, safe='')}")


def pytest_sessionfinish(session, exitstatus):
    services.stop_containers()
