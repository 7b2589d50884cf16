"""What one event costs PostgreSQL: at most two short transactions on the happy path (the first takes the
object's lease and reads, the last writes the links, the inbox row and gives the lease back), one for an
event that changes nothing, and never a connection held while Bitrix24 is called.  And what a new object costs
Bitrix24: a company with everything it holds, a contact person, a deal with its rows and notes — each one
request after its look-ups.

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
from tests.support.deals import deal_of, deal_of_id, seed_links
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


def requests_of(portal) -> int:
    return portal.sandbox.stats()["http_requests"]


async def test_a_new_deal_comes_with_its_rows_and_notes_in_the_request_that_makes_it(counted, portal):
    handlers, _, pool = counted
    cp, item, _ = await seed_links(pool, portal.sandbox)
    order = Lifecycle(cp, item)
    invoice = order.invoice(number="СЧ-7")
    await handlers["deal"].handle(parse_event(invoice))  # the invoice came first: the deal waits for its order
    before = requests_of(portal)
    assert await handlers["deal"].handle(parse_event(order.order())) is Outcome.APPLIED
    # the 1C user's look-up (user.get), the deal's by the order's key, then the deal, its rows and both notes
    # in one batch: 6 requests before
    assert requests_of(portal) - before == 3
    deal = deal_of(portal.sandbox, order.order_id)
    assert [(float(price), float(quantity)) for _, price, quantity in deal["rows"]] == [(120.0, 10.0)]
    notes = [c["COMMENT"] for c in portal.sandbox.state()["timeline_comments"]
             if str(c["ENTITY_ID"]) == str(deal_of_id(portal.sandbox, order.order_id))]
    assert [n.split(" №")[0] for n in notes] == ["1С: Заказ покупателя", "1С: Счёт на оплату"]  # 1C's order
    # a new payment on a deal that exists: its note and the paid stage, the notes not sent twice
    assert await handlers["deal"].handle(parse_event(order.payment())) is Outcome.APPLIED
    notes = [c["COMMENT"] for c in portal.sandbox.state()["timeline_comments"]
             if str(c["ENTITY_ID"]) == str(deal_of_id(portal.sandbox, order.order_id))]
    assert [n.split(" ")[1] for n in notes] == ["Заказ", "Счёт", "Оплата"]


async def test_rows_too_many_for_one_batch_command_still_reach_a_new_deal(counted, portal):
    handlers, _, pool = counted
    cp, item, _ = await seed_links(pool, portal.sandbox)
    order = Lifecycle(cp, item)
    rows = [dict(order.items()[0], quantity="1.000", price="1.0000", amount="1.00", vat="0.17")
            for _ in range(200)]  # about 2,000 query variables: more than PHP's max_input_vars in a batch
    event = order.order(amount="200.00")
    event["payload"]["items"] = rows
    assert await handlers["deal"].handle(parse_event(event)) is Outcome.APPLIED
    assert len(deal_of(portal.sandbox, order.order_id)["rows"]) == 200


async def test_a_new_contact_person_of_a_company_that_exists_is_made_in_one_request_after_its_look_ups(counted, portal):
    handlers, _, pool = counted
    cp = str(uuid.uuid4())
    first = version(cp, 1)
    await handlers["counterparty"].handle(parse_event(first))
    newcomer = {**first["payload"]["contact_persons"][0], "id": str(uuid.uuid4()), "first_name": "Олег",
                "last_name": "Новиков", "name": "Новиков Олег", "phones": ["+7 (916) 555-55-55"],
                "emails": ["oleg@romashka.example"], "city": "Тула"}
    writes: list[tuple[str, bool]] = []  # (method, inside a batch) of every write the push makes
    stop = portal.sandbox.on_call(lambda call: writes.append((call.method, call.nested))
                                  if call.method.endswith(".add") else None)
    second = version(cp, 2, contact_persons=[*first["payload"]["contact_persons"], newcomer])
    try:
        assert await handlers["counterparty"].handle(parse_event(second)) is Outcome.APPLIED
    finally:
        stop()
    # the contact, its tie to the company, its address-only requisite and its address: one batch, not four requests
    assert writes == [("crm.contact.add", True), ("crm.contact.company.add", True), ("crm.requisite.add", True),
                      ("crm.address.add", True)]
    contact = next(c for c in portal.sandbox.state()["contacts"] if c["ORIGIN_ID"] == newcomer["id"])
    company = of(portal.sandbox, cp)[0][0]
    assert {(str(j["CONTACT_ID"]), str(j["COMPANY_ID"])) for j in portal.sandbox.state()["contact_company"]} >= {
        (contact["ID"], company["ID"])}
    requisite = next(r for r in portal.sandbox.state()["requisites"]
                     if (r["ENTITY_TYPE_ID"], r["ENTITY_ID"]) == ("3", contact["ID"]))
    assert [a["CITY"] for a in portal.sandbox.state()["addresses"] if a["ENTITY_ID"] == requisite["ID"]] == ["Тула"]
    # linked as made: the next version looks nothing up and makes nothing twice
    async with pool.acquire() as conn:
        linked = {r["b24_type"]: str(r["b24_id"]) for r in await conn.fetch(
            "SELECT b24_type, b24_id FROM entity_links WHERE onec_type = 'contact_person' AND onec_id = $1",
            newcomer["id"])}
    assert linked == {"contact": contact["ID"], "requisite": requisite["ID"]}
    tried: list[str] = []
    stop = portal.sandbox.on_call(lambda call: tried.append(call.method))
    try:
        assert await handlers["counterparty"].handle(parse_event(version(cp, 3, name="Ромашка 3", contact_persons=[
            *first["payload"]["contact_persons"], newcomer]))) is Outcome.APPLIED
    finally:
        stop()
    assert not {"crm.contact.add", "crm.contact.list", "crm.requisite.add", "crm.address.add"} & set(tried), tried
