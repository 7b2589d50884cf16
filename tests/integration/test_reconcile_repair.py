"""How `reconcile --repair` re-pushes a counterparty through its own handler: a link in doubt takes its own
version again and is sent whole; a trusted link still calls the same version stale (handler level, real
PostgreSQL, the sandbox over HTTP)."""

from __future__ import annotations

import uuid

from bridge.consumer import Outcome
from bridge.sql import Q
from onec_outbox.contract import parse_event
from tests.integration import test_counterparty_repairs as repairs
from tests.integration.test_counterparty_repairs import of, version

world = repairs.world  # the same handler on a sandbox, shared with the repair tests


async def test_the_same_version_is_stale_for_a_trusted_link_and_pushed_whole_for_one_in_doubt(world, db_pool):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    first = version(cp, 1, name="Ромашка")
    await handler.handle(parse_event(first))
    company = of(sandbox, cp)[0][0]
    sandbox.call("crm.company.delete", {"id": company["ID"]})
    again = dict(first, event_id=str(uuid.uuid4()))
    assert await handler.handle(parse_event(again)) is Outcome.STALE  # nothing tells the handler to doubt

    await db_pool.execute(Q.reconcile_mark_in_doubt, "ut103-main", "counterparty", cp, "company",
                          {"main": {"TITLE": "Ромашка"}, "requisite": {}})
    assert await handler.handle(parse_event(dict(first, event_id=str(uuid.uuid4())))) is Outcome.APPLIED
    companies, _, requisites, details, addresses = of(sandbox, cp)
    assert [c["TITLE"] for c in companies] == ["Ромашка"] and companies[0]["ID"] != company["ID"]
    assert len(requisites) == 1 and len(details) == 2 and len(addresses) == 2
    assert await db_pool.fetchval("SELECT count(*) FROM entity_links WHERE onec_id = $1 AND pushing_since IS NOT NULL",
                                  cp) == 0  # trusted again


async def test_marking_a_link_already_in_doubt_keeps_what_its_failed_push_may_have_written(db_pool):
    """reconcile --repair on a link whose push died half-way: the phones and fields that push may have
    written stay in the pending state, so the re-push still deletes or clears them."""
    await db_pool.execute(
        "INSERT INTO entity_links (source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state,"
        " pushing_since, pushing_state) VALUES ('s', 'counterparty', 'c1', 'company', 1, 1, 'h', '{}', now(), $1)",
        {"main": {"TITLE": "Лютик", "COMMENTS": "old"}, "multi": {"PHONE": ["+7 1", "+7 2"]}})
    await db_pool.execute(Q.reconcile_mark_in_doubt, "s", "counterparty", "c1", "company",
                          {"main": {"TITLE": "Ромашка"}, "requisite": {"RQ_KPP": "1"}})
    state = await db_pool.fetchval("SELECT pushing_state FROM entity_links WHERE onec_id = 'c1'")
    assert state == {"main": {"TITLE": "Ромашка", "COMMENTS": "old"}, "requisite": {"RQ_KPP": "1"},
                     "multi": {"PHONE": ["+7 1", "+7 2"]}}
    await db_pool.execute(  # a trusted link: the pending state is just the new one
        "UPDATE entity_links SET pushing_since = NULL, pushing_state = NULL WHERE onec_id = 'c1'")
    await db_pool.execute(Q.reconcile_mark_in_doubt, "s", "counterparty", "c1", "company", {"main": {"TITLE": "X"}})
    assert await db_pool.fetchval("SELECT pushing_state FROM entity_links WHERE onec_id = 'c1'") == \
        {"main": {"TITLE": "X"}}
