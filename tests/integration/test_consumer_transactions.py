"""What one event costs PostgreSQL: at most two short transactions on the happy path (the first takes the
object's lease and reads, the last writes the links, the inbox row and gives the lease back), one for an
event that changes nothing, and never a connection held while Bitrix24 is called.

Counted on the client side: each COMMIT/ROLLBACK, or statement outside a transaction block, on the
handler's pool (tests/support/pgcount.py).  Handler level, real PostgreSQL, the sandbox over HTTP."""

from __future__ import annotations

import uuid

import pytest

from bridge import db
from bridge import mapping as mapping_mod
from bridge.b24 import client_from_settings
from bridge.consumer import Outcome
from bridge.settings import Settings
from bridge.sync.counterparty import CounterpartyHandler
from bridge.sync.deal import DealHandler
from bridge.sync.product import ProductHandler
from onec_outbox.contract import parse_event
from tests.e2e.test_products import product
from tests.integration.test_counterparty_repairs import of, version
from tests.support.deals import seed_links
from tests.support.orders import Lifecycle
from tests.support.pgcount import Transactions

MAPPING = mapping_mod.load(None)


@pytest.fixture
async def counted(db_url, portal):
    """(handlers by name, the transaction counter of their pool, the sandbox)."""
    counter = Transactions()
    pool = await db.create_pool(db_url, max_size=4, observe=counter.observe)
    client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0))
    try:
        yield ({"counterparty": CounterpartyHandler(pool, client, MAPPING),
                "product": ProductHandler(pool, client, MAPPING),
                "deal": DealHandler(pool, client, MAPPING)}, counter, pool)
    finally:
        await client.aclose()
        await pool.close()


async def cost(counter: Transactions, handler, event: dict) -> tuple[Outcome, int]:
    before = counter.count
    outcome = await handler.handle(parse_event(event))
    print(outcome, counter.ended[before:])  # shown when an assertion fails: which statements ended them
    return outcome, counter.count - before


async def test_a_new_and_a_changed_counterparty_cost_two_transactions_a_duplicate_one(counted):
    handlers, counter, _ = counted
    cp = str(uuid.uuid4())
    first = version(cp, 1)  # a company with two contact persons, two bank accounts, two addresses
    assert await cost(counter, handlers["counterparty"], first) == (Outcome.APPLIED, 2)
    assert await cost(counter, handlers["counterparty"], version(cp, 2, kpp="773601002")) == (Outcome.APPLIED, 2)
    assert await cost(counter, handlers["counterparty"], first) == (Outcome.DUPLICATE, 1)
    assert await cost(counter, handlers["counterparty"], version(cp, 3, kpp="773601002")) == (Outcome.UNCHANGED, 1)


async def test_a_new_and_a_changed_product_cost_two_transactions(counted):
    handlers, counter, _ = counted
    entity = str(uuid.uuid4())
    assert await cost(counter, handlers["product"], product(1, entity)) == (Outcome.APPLIED, 2)
    assert await cost(counter, handlers["product"], product(2, entity, name="Гвоздь 120 мм")) == (Outcome.APPLIED, 2)
    assert await cost(counter, handlers["product"], product(1, entity)) == (Outcome.STALE, 1)


async def test_an_order_and_its_invoice_cost_two_transactions_each(counted, portal):
    handlers, counter, pool = counted
    cp, item, _ = await seed_links(pool, portal.sandbox)
    order = Lifecycle(cp, item)
    assert await cost(counter, handlers["deal"], order.order()) == (Outcome.APPLIED, 2)
    assert await cost(counter, handlers["deal"], order.invoice()) == (Outcome.APPLIED, 2)


# the bridge's own keys only: no look-up for what managers typed (docs/matching.md), so the contact persons ride the
# chain too; with contact matching on (the default) each is looked for by phone/e-mail and made after it
OWN_KEYS_ONLY = MAPPING.model_copy(update={"matching": mapping_mod.Matching(
    company=["key"], contact=["key"], product=["key"])})


async def test_a_new_company_with_everything_it_holds_is_made_in_one_chained_request(counted, portal):
    _, _, pool = counted
    client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0))
    handlers = {"counterparty": CounterpartyHandler(pool, client, OWN_KEYS_ONLY)}
    cp = str(uuid.uuid4())
    first = version(cp, 1)
    people = [{**p, "id": str(uuid.uuid4())} for p in first["payload"]["contact_persons"]]  # nobody made them yet
    first["payload"]["contact_persons"] = people
    before = portal.sandbox.stats()["http_requests"]
    assert await handlers["counterparty"].handle(parse_event(first)) is Outcome.APPLIED
    # 17 requests before: the company look-up, the contact persons' look-up, then company + requisite + 2 bank details +
    # 2 addresses + 2 contacts (each joined to the company, one with its city) in one batch
    assert portal.sandbox.stats()["http_requests"] - before <= 3
    companies, contacts, requisites, details, addresses = of(portal.sandbox, cp)
    assert len(companies) == 1 and len(requisites) == 1 and len(details) == 2 and len(addresses) == 2
    joined = {str(j["CONTACT_ID"]) for j in portal.sandbox.state()["contact_company"]
              if str(j["COMPANY_ID"]) == companies[0]["ID"]}
    assert len(joined) == 2
    # and the next version finds all of it linked: nothing made twice
    assert await handlers["counterparty"].handle(parse_event(
        version(cp, 2, name="Ромашка 2", contact_persons=people))) is Outcome.APPLIED
    assert [len(x) for x in of(portal.sandbox, cp)] == [1, 0, 1, 2, 2]
    await client.aclose()
