"""An operator's pick that is gone from Bitrix24 by the time its event applies (a manager deleted or merged the
duplicate meanwhile) is matched again, not adopted: adopting it failed with "Not found" on that event and on
every later version of the counterparty, and the resolved review item could not be decided again.

Handler level, real PostgreSQL, the sandbox over HTTP; the review item is parked and resolved as the consumer
and ``b24bridge review resolve`` do."""

from __future__ import annotations

import json
import random

import pytest

from bridge.b24 import client_from_settings
from bridge.consumer import Outcome
from bridge.errors import NeedsReview
from bridge.review import ReviewStore
from bridge.settings import Settings
from bridge.sync.counterparty import CounterpartyHandler
from onec_outbox.contract import parse_event
from tests.e2e.test_matching import Portal, counterparty, inn10

from .conftest import MAPPING

KPP = "773601001"


@pytest.fixture
async def handler(db_pool, portal):
    client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0))
    yield CounterpartyHandler(db_pool, client, MAPPING)
    await client.aclose()


async def park(store: ReviewStore, handler, event: dict) -> tuple[int, list[int]]:
    """Handle ``event`` expecting it parked; store it as the consumer does: (item id, candidate ids)."""
    with pytest.raises(NeedsReview) as parked:
        await handler.handle(parse_event(event))
    why = parked.value
    item = await store.park(consumer="counterparty", onec_type=why.onec_type, onec_id=why.onec_id, reason=why.reason,
                            summary=why.summary, error=str(why), candidates=why.candidates, event=event,
                            body=json.dumps(event).encode())
    return item, sorted(int(c["id"]) for c in why.candidates)


async def company_link(db_pool, entity_id: str) -> int | None:
    return await db_pool.fetchval("SELECT b24_id FROM entity_links WHERE onec_type = 'counterparty' "
                                  "AND onec_id = $1 AND b24_type = 'company'", entity_id)


async def test_a_picked_company_deleted_meanwhile_gives_way_to_the_one_left(db_pool, portal, handler):
    hands, store, n = Portal(portal.sandbox), ReviewStore(db_pool), random.randrange(10**6)
    inn = inn10(n)
    picked, other = hands.company("Ромашка ООО", inn, KPP), hands.company("Ромашка ООО (дубль)", inn, KPP)
    event = counterparty(n, inn=inn, kpp=KPP)
    item, candidates = await park(store, handler, event)
    assert candidates == [picked, other]
    await store.resolve(item, decision="adopt", target_id=picked, by="test")
    hands.call("crm.company.delete", {"id": picked})  # a manager merges the two before the event comes back

    assert await handler.handle(parse_event(event)) is Outcome.APPLIED
    assert await company_link(db_pool, event["entity_id"]) == other  # the one strong candidate left, adopted
    adopted = hands.call("crm.company.get", {"id": other})
    assert (adopted["ORIGINATOR_ID"], adopted["ORIGIN_ID"]) == (event["source"], event["entity_id"])
    assert len(hands.call("crm.company.list", {"filter": {"ORIGIN_ID": event["entity_id"]}, "select": ["ID"]})) == 1


async def test_a_picked_company_gone_while_the_rest_is_still_ambiguous_is_parked_again(db_pool, portal, handler):
    hands, store, n = Portal(portal.sandbox), ReviewStore(db_pool), random.randrange(10**6)
    inn = inn10(n)
    ids = [hands.company(f"Василёк ООО {i}", inn, KPP) for i in range(3)]
    event = counterparty(n, inn=inn, kpp=KPP)
    item, _ = await park(store, handler, event)
    await store.resolve(item, decision="adopt", target_id=ids[0], by="test")
    hands.call("crm.company.delete", {"id": ids[0]})

    again, candidates = await park(store, handler, event)
    assert again != item and candidates == ids[1:]  # a new item, with the candidates there are now
    assert (await store.select("open", [again]))[0].id == again
    assert await company_link(db_pool, event["entity_id"]) is None  # nothing adopted, nothing created
    assert hands.call("crm.company.list", {"filter": {"ORIGIN_ID": event["entity_id"]}, "select": ["ID"]}) == []
    await store.resolve(again, decision="adopt", target_id=ids[2], by="test")
    assert await handler.handle(parse_event(event)) is Outcome.APPLIED
    assert await company_link(db_pool, event["entity_id"]) == ids[2]


async def test_a_parked_company_names_its_candidates_as_bitrix24_shows_them(db_pool, portal, handler):
    """Found by requisite, the candidates' titles are read at park time, so the item says which one is the
    duplicate; when the portal will not list them, the titles are left out and the park goes on."""
    hands, store, n = Portal(portal.sandbox), ReviewStore(db_pool), random.randrange(10**6)
    inn = inn10(n)
    first, second = hands.company("Ромашка ООО", inn, KPP), hands.company("Ромашка ООО (дубль)", inn, KPP)
    item, _ = await park(store, handler, counterparty(n, inn=inn, kpp=KPP))
    parked = (await store.select("open", [item]))[0]
    assert {c["id"]: c["title"] for c in parked.candidates()} == {first: "Ромашка ООО", second: "Ромашка ООО (дубль)"}
    assert f"#{second} «Ромашка ООО (дубль)»" in parked.row["summary"]

    # the portal will not list them (here: refuses the list): parked all the same, with the ids alone
    portal.sandbox.faults.add_error("ERROR_ARGUMENT", method="crm.company.list", status=400, description="no")
    try:
        assert await handler._matcher._company_titles([first, second], {}) == {}
        assert await handler._matcher._company_titles([first], {first: "Ромашка"}) == {first: "Ромашка"}  # known
    finally:
        portal.sandbox.faults.clear()
