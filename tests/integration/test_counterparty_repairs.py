"""What managers and 1C do that the happy path does not: objects deleted by hand in Bitrix24, a change of
legal form, late older snapshots after it, an address 1C no longer has (handler level, real PostgreSQL,
the sandbox over HTTP)."""

from __future__ import annotations

import uuid

import pytest

from bridge import mapping as mapping_mod
from bridge.b24 import client_from_settings
from bridge.consumer import Outcome
from b24_sandbox import SandboxConfig, serve_in_thread
from bridge.settings import Settings
from bridge.sync.counterparty import CounterpartyHandler
from onec_outbox.contract import parse_event
from tests.e2e.test_counterparty import full_company

MAPPING = mapping_mod.load(None)


@pytest.fixture
async def world(db_pool, request):
    """The handler (with the requesting module's MAPPING) on a fresh sandbox."""
    mapping = getattr(request.module, "MAPPING", MAPPING)
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        client = client_from_settings(Settings(b24_webhook_url=srv.webhook_url, b24_batch_linger=0))
        try:
            yield CounterpartyHandler(db_pool, client, mapping), srv.sandbox
        finally:
            await client.aclose()


def version(entity_id: str, v: int, **payload) -> dict:
    e = full_company(version=v, **payload)
    e["entity_id"] = entity_id
    return e


def person(entity_id: str, v: int, first: str) -> dict:
    return version(entity_id, v, name=f"Петров {first}", legal_form="person", inn=None, kpp=None, ogrn=None,
                   last_name="Петров", first_name=first, middle_name=None, contact_persons=[], bank_accounts=[])


def of(sandbox, entity_id: str):
    state = sandbox.state()
    companies = [c for c in state["companies"] if c["ORIGIN_ID"] == entity_id]
    contacts = [c for c in state["contacts"] if c["ORIGIN_ID"] == entity_id]
    owners = {("4", c["ID"]) for c in companies} | {("3", c["ID"]) for c in contacts}
    requisites = [r for r in state["requisites"] if (r["ENTITY_TYPE_ID"], r["ENTITY_ID"]) in owners]
    ids = {r["ID"] for r in requisites}
    details = [d for d in state["bank_details"] if d["ENTITY_ID"] in ids]
    addresses = [a for a in state["addresses"] if a["ENTITY_ID"] in ids]
    return companies, contacts, requisites, details, addresses


async def test_a_requisite_deleted_by_hand_is_made_again_on_the_next_change(world):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    await handler.handle(parse_event(version(cp, 1)))
    requisite = of(sandbox, cp)[2][0]
    sandbox.call("crm.requisite.delete", {"id": requisite["ID"]})  # takes its bank details and addresses
    assert await handler.handle(parse_event(version(cp, 2, kpp="773601002"))) is Outcome.APPLIED
    companies, _, requisites, details, addresses = of(sandbox, cp)
    assert [r["RQ_KPP"] for r in requisites] == ["773601002"]
    assert len(details) == 2 and len(addresses) == 2


async def test_a_company_deleted_by_hand_comes_back_with_requisite_accounts_addresses_and_contacts(world):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    await handler.handle(parse_event(version(cp, 1)))
    company = of(sandbox, cp)[0][0]
    sandbox.call("crm.company.delete", {"id": company["ID"]})
    await handler.handle(parse_event(version(cp, 2, name="Ромашка (снова)")))
    companies, _, requisites, details, addresses = of(sandbox, cp)
    assert [c["TITLE"] for c in companies] == ["Ромашка (снова)"]
    assert len(requisites) == 1 and len(details) == 2 and len(addresses) == 2
    linked = {str(link["CONTACT_ID"]) for link in sandbox.state()["contact_company"]
              if str(link["COMPANY_ID"]) == companies[0]["ID"]}
    assert len(linked) == 2


async def test_a_contact_person_deleted_by_hand_comes_back_tied_to_its_company_with_its_city(world):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    await handler.handle(parse_event(version(cp, 1)))
    person = version(cp, 1)["payload"]["contact_persons"][0]
    gone = next(c for c in sandbox.state()["contacts"] if c["ORIGIN_ID"] == person["id"])
    sandbox.call("crm.contact.delete", {"id": gone["ID"]})  # takes its requisite and address with it
    changed = {**person, "phones": ["+7 (916) 777-77-77"]}  # the next change of the person finds it gone
    assert await handler.handle(parse_event(version(cp, 2, contact_persons=[changed]))) is Outcome.APPLIED
    again = [c for c in sandbox.state()["contacts"] if c["ORIGIN_ID"] == person["id"]]
    company = of(sandbox, cp)[0][0]
    assert len(again) == 1 and again[0]["ID"] != gone["ID"]
    assert (again[0]["ID"], company["ID"]) in {(str(j["CONTACT_ID"]), str(j["COMPANY_ID"]))
                                               for j in sandbox.state()["contact_company"]}
    requisites = [r["ID"] for r in sandbox.state()["requisites"] if (r["ENTITY_TYPE_ID"], r["ENTITY_ID"]) == ("3", again[0]["ID"])]
    assert [a["CITY"] for a in sandbox.state()["addresses"] if a["ENTITY_ID"] in requisites] == [person["city"]]


async def test_a_person_who_becomes_an_entrepreneur_gets_a_company_with_the_ip_requisite(world):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    await handler.handle(parse_event(person(cp, 1, "Пётр")))
    await handler.handle(parse_event(version(cp, 2, name="ИП Петров Пётр", legal_form="individual_entrepreneur",
                                             inn="500100732259", kpp=None, ogrn="304500116000157",
                                             contact_persons=[])))
    companies, contacts, requisites, details, _ = of(sandbox, cp)
    company_requisites = [r for r in requisites if r["ENTITY_TYPE_ID"] == "4"]
    assert [c["TITLE"] for c in companies] == ["ИП Петров Пётр"]
    assert [(r["PRESET_ID"], r["RQ_INN"]) for r in company_requisites] == [("2", "500100732259")]
    assert {d["ENTITY_ID"] for d in details} == {company_requisites[0]["ID"]}  # the accounts are on the company


async def test_a_late_older_snapshot_after_a_change_of_legal_form_changes_nothing(world):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    await handler.handle(parse_event(version(cp, 1)))
    await handler.handle(parse_event(person(cp, 3, "Борис")))
    assert await handler.handle(parse_event(person(cp, 2, "Антон"))) is Outcome.STALE
    assert [c["NAME"] for c in of(sandbox, cp)[1]] == ["Борис"]


async def test_an_address_1c_no_longer_has_is_removed_from_the_requisite(world):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    await handler.handle(parse_event(version(cp, 1)))
    assert {a["TYPE_ID"] for a in of(sandbox, cp)[4]} == {"1", "6"}
    await handler.handle(parse_event(version(cp, 2, actual_address=None)))
    assert {a["TYPE_ID"] for a in of(sandbox, cp)[4]} == {"6"}
