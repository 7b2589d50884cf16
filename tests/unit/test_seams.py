"""The seams of the composition: one routing table, one find-or-create recipe, a typed Bitrix24 client,
and a composition root that builds only what a command asks for."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pydantic import SecretStr

from bridge import bootstrap, topology
from bridge.b24 import B24, client_from_settings
from bridge.broker import connector
from bridge.errors import B24NotFound, B24ValidationError
from bridge.settings import Settings
from bridge.sync.keyed import How, find_or_create
from onec_outbox.contract import ENTITIES, EVENT_TYPES


def test_every_routed_entity_is_a_contract_entity_and_every_target_has_exactly_one_handler():
    assert set(topology.ROUTES) <= set(ENTITIES)
    handlers = bootstrap.handler_factories()
    assert len(handlers) == len(bootstrap.HANDLERS)  # no two handlers claim one target
    assert set(handlers) == set(topology.TARGETS) == set(topology.ROUTES.values())
    for name, handler in handlers.items():
        assert handler.target is topology.TARGETS[name]
        assert handler.event_types == {f"{e}.upserted" for e, t in topology.ROUTES.items() if t == name}
        assert handler.event_types <= set(EVENT_TYPES)


def test_the_queue_bindings_follow_from_the_routing_table():
    bindings = {(exchange, key): spec.name for target in topology.TARGETS.values()
                for spec in topology.queues_for(target) for exchange, key in spec.bindings
                if exchange != topology.DLX}
    assert bindings == {(f"onec.{e}", f"{e}.upserted"): f"b24.{t}" for e, t in topology.ROUTES.items()}


def test_the_real_client_is_a_b24():
    client = client_from_settings(Settings(b24_webhook_url=SecretStr("https://portal.example/rest/1/secret/")))
    assert isinstance(client, B24)


class _Steps:
    def __init__(self, *, refresh_fails: Exception | None = None, found: int | None = None) -> None:
        self.calls: list[tuple[str, int | None]] = []
        self._refresh_fails = refresh_fails
        self._found = found

    async def refresh(self, b24_id: int) -> None:
        self.calls.append(("refresh", b24_id))
        if self._refresh_fails is not None:
            raise self._refresh_fails

    async def find(self) -> int | None:
        self.calls.append(("find", None))
        return self._found

    async def update(self, b24_id: int) -> None:
        self.calls.append(("update", b24_id))

    async def create(self) -> int:
        self.calls.append(("create", None))
        return 99

    async def run(self, linked: int | None, **kw):
        return await find_or_create(b24_type="company", entity_id="e1", linked=linked, refresh=self.refresh,
                                    find=self.find, update=self.update, create=self.create, **kw)


async def test_a_linked_record_is_refreshed_and_nothing_is_looked_up():
    steps = _Steps(found=5)
    keyed = await steps.run(7)
    assert (keyed.id, keyed.how, keyed.relinked) == (7, How.LINKED, False)
    assert steps.calls == [("refresh", 7)]


async def test_without_a_link_the_key_look_up_comes_before_create():
    found = _Steps(found=5)
    assert (await found.run(None)).how is How.FOUND and found.calls == [("find", None), ("update", 5)]
    missing = _Steps(found=None)
    keyed = await missing.run(None)
    assert (keyed.id, keyed.created) == (99, True) and missing.calls == [("find", None), ("create", None)]


async def test_a_linked_record_deleted_in_bitrix24_is_found_or_made_again_and_said_so(caplog):
    steps = _Steps(refresh_fails=B24NotFound("crm.company.update", "NOT_FOUND", "Not found"), found=None)
    with caplog.at_level(logging.WARNING, logger="bridge.sync.keyed"):
        keyed = await steps.run(7)
    assert (keyed.id, keyed.how, keyed.relinked) == (99, How.CREATED, True)
    assert [r.action for r in caplog.records] == ["sync.relink"]


async def test_a_refresh_failure_that_is_not_a_deletion_is_raised_not_papered_over():
    error = B24ValidationError("crm.company.update", "ERROR_CORE", "bad field")
    steps = _Steps(refresh_fails=error, found=5)

    async def not_gone(exc, b24_id):
        return False

    with pytest.raises(B24ValidationError):
        await steps.run(7)  # the default: only "not found" means deleted
    with pytest.raises(B24ValidationError):
        await steps.run(7, gone=not_gone)
    assert ("find", None) not in steps.calls


async def test_build_makes_only_what_is_asked_and_connects_nothing_for_the_broker():
    settings = Settings(amqp_url=SecretStr("amqp://nobody:nothing@127.0.0.1:1/"),
                        database_url=SecretStr("postgresql://nobody@127.0.0.1:1/none"))
    async with bootstrap.build(settings, bootstrap.Needs(broker=True)) as root:
        assert callable(root.connect)  # a factory: port 1 is never dialled until a component calls it
        with pytest.raises(RuntimeError, match="pool_size"):
            root.pool
        with pytest.raises(RuntimeError, match="b24"):
            root.b24
    async with bootstrap.build(settings, bootstrap.Needs()) as root:
        with pytest.raises(RuntimeError, match="broker"):
            root.connect


async def test_the_broker_factory_opens_a_new_connection_on_each_call(amqp_url):
    connect = connector(amqp_url)
    first, second = await asyncio.gather(connect(), connect())
    try:
        assert first is not second and not first.is_closed and not second.is_closed
    finally:
        await first.close()
        await second.close()


async def test_the_ingest_opens_the_pool_size_BRIDGE_INGEST_POOL_SIZE_asks_for(monkeypatch):
    """The Helm chart runs two ingest replicas of 5 connections each to keep the bridge within its 30."""
    asked = []

    def build(settings, needs):
        asked.append(needs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(bootstrap, "build", build)
    for environ, size in (({}, bootstrap.INGEST_POOL_SIZE), ({"BRIDGE_INGEST_POOL_SIZE": "5"}, 5)):
        monkeypatch.setenv("BRIDGE_INGEST_TOKENS", "token")
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(RuntimeError, match="stop here"):
            await bootstrap.run_ingest(Settings(), asyncio.Event())
        assert asked.pop().pool_size == size
    assert bootstrap.INGEST_POOL_SIZE == 10
