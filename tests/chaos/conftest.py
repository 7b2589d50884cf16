"""Private PostgreSQL and RabbitMQ for the chaos suite (see ``services.py``); a missing tool is a skip,
or a failure when BRIDGE_TEST_REQUIRE_SERVICES is set (CI)."""

from __future__ import annotations

import pytest

from tests import services as shared
from tests.chaos import services


@pytest.fixture
def chaos_postgres():
    try:
        with services.private_postgres() as pg:
            yield pg
    except shared.ServiceMissing as exc:
        shared.missing(exc)


@pytest.fixture
def chaos_rabbit():
    try:
        with services.private_rabbitmq() as rabbit:
            yield rabbit
    except shared.ServiceMissing as exc:
        shared.missing(exc)
