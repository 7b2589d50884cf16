"""Field ownership and a funnel per 1C organisation, against real PostgreSQL and the sandbox over HTTP:
a manager's edit of a create-only field survives the next 1C change, an edit of a field 1C owns is put
back and logged, and each organisation's deals land and move in its own funnel, whose stages
`b24bridge portal setup` made (docs/ownership.md, docs/deals.md "Funnels")."""

from __future__ import annotations

import logging
import uuid

import pytest

from bridge import mapping as mapping_mod
from bridge import metrics
from bridge.b24 import client_from_settings
from bridge.portal.service import check
from bridge.settings import Settings
from bridge.sync.counterparty import CounterpartyHandler
from bridge.sync.deal import DealHandler
from b24_sandbox import SandboxConfig, serve_in_thread
from onec_outbox.contract import parse_event
from tests.e2e.test_counterparty import full_company
from tests.support.deals import seed_links
from tests.support.orders import Lifecycle
from tests.support.portal import prepare_deals_async

ROMASHKA = {"id": str(uuid.uuid4()), "name": "ООО «Ромашка»", "inn": "7702070139"}
LYUTIK = {"id": str(uuid.uuid4()), "name": "ООО «Лютик»", "inn": "7736207543"}
OTHER = {"id": str(uuid.uuid4()), "name": "ИП Прочий", "inn": None}
PRESETS = "requisite_presets: {company: 1, individual_entrepreneur: 2, person: 3}\n"


def funnels_mapping(romashka: int, lyutik: int) -> mapping_mod.Mapping:
    """Ромашка by its UUID, Лютик by its name, with stage ids of its own for "paid"."""
    return mapping_mod.parse(PRESETS + f"""
deals:
  funnels:
    - {{organization: "{ROMASHKA['id']}", category_id: {romashka}}}
    - organization: "{LYUTIK['name']}"
      category_id: {lyutik}
      stages: {{paid: {{id: DONE, name: "Оплачено"}}}}
""")


@pytest.fixture
async def world(db_pool):
    """A portal with two funnels besides the default one, set up by `portal setup` for the mapping."""
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        ids = [srv.sandbox.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": name}}
                                ).result.value["category"]["id"] for name in ("Ромашка", "Лютик")]
        mapping = funnels_mapping(*ids)
        mapping = await prepare_deals_async(srv.webhook_url, mapping)  # asserts the check after setup is clean
        client = client_from_settings(Settings(b24_webhook_url=srv.webhook_url, b24_batch_linger=0))
        try:
            yield srv.sandbox, client, mapping, ids
        finally:
            await client.aclose()


def deal(sandbox, order_id: str) -> dict:
    found = [d for d in sandbox.state()["deals"] if d["ORIGIN_ID"] == order_id]
    assert len(found) == 1, found
    return found[0]


def stage_ids(sandbox, funnel: int) -> set[str]:
    entity = "DEAL_STAGE" if funnel == 0 else f"DEAL_STAGE_{funnel}"
    return {s["STATUS_ID"] for s in sandbox.state()["statuses"] if s["ENTITY_ID"] == entity}


async def test_portal_setup_makes_the_bridge_stages_in_every_mapped_funnel_and_check_sees_them(world):
    sandbox, client, mapping, (romashka, lyutik) = world
    assert {"B24B_ORDER", "B24B_INVOICE", "B24B_SHIPPED", "B24B_PAID"} <= stage_ids(sandbox, 0)
    assert {f"C{romashka}:B24B_ORDER", f"C{romashka}:B24B_PAID"} <= stage_ids(sandbox, romashka)
    assert {f"C{lyutik}:B24B_ORDER", f"C{lyutik}:DONE"} <= stage_ids(sandbox, lyutik)
    assert f"C{lyutik}:B24B_PAID" not in stage_ids(sandbox, lyutik)
    assert (await check(client, mapping)).ok
    renamed = mapping.model_copy(deep=True)
    renamed.deals.funnels[1].stages.paid.id = "PAID_L"  # a stage the portal lacks in Лютик's funnel only
    problems = [p for p in (await check(client, renamed)).problems if p.severity == "error"]
    assert [(p.key, p.by) for p in problems] == [("deals.funnels.1.stages.paid", "setup")]
    assert f"C{lyutik}:PAID_L" in problems[0].message


async def test_two_organisations_deals_land_and_move_in_their_own_funnels_others_in_the_default(world, db_pool):
    sandbox, client, mapping, (romashka, lyutik) = world
    handler = DealHandler(db_pool, client, mapping)
    cp, product, _ = await seed_links(db_pool, sandbox)
    orders = {org["id"]: Lifecycle(cp, product) for org in (ROMASHKA, LYUTIK, OTHER)}
    for org in (ROMASHKA, LYUTIK, OTHER):
        await handler.handle(parse_event(orders[org["id"]].order(organization=org)))
    landed = {org["name"]: (int(deal(sandbox, orders[org["id"]].order_id)["CATEGORY_ID"]),
                            deal(sandbox, orders[org["id"]].order_id)["STAGE_ID"]) for org in (ROMASHKA, LYUTIK, OTHER)}
    assert landed == {ROMASHKA["name"]: (romashka, f"C{romashka}:B24B_ORDER"),
                      LYUTIK["name"]: (lyutik, f"C{lyutik}:B24B_ORDER"), OTHER["name"]: (0, "B24B_ORDER")}
    for org in (ROMASHKA, LYUTIK, OTHER):
        lc = orders[org["id"]]
        await handler.handle(parse_event(lc.invoice()))
        await handler.handle(parse_event(lc.payment()))
    assert deal(sandbox, orders[ROMASHKA["id"]].order_id)["STAGE_ID"] == f"C{romashka}:B24B_PAID"
    assert deal(sandbox, orders[LYUTIK["id"]].order_id)["STAGE_ID"] == f"C{lyutik}:DONE"
    assert deal(sandbox, orders[OTHER["id"]].order_id)["STAGE_ID"] == "B24B_PAID"


async def test_a_deal_stays_in_the_funnel_it_was_made_in_when_the_mapping_or_its_organisation_changes(
        world, db_pool):
    sandbox, client, mapping, (romashka, lyutik) = world
    cp, product, _ = await seed_links(db_pool, sandbox)
    lc = Lifecycle(cp, product)
    await DealHandler(db_pool, client, mapping).handle(parse_event(lc.order(organization=ROMASHKA)))
    swapped = funnels_mapping(lyutik, romashka)  # Ромашка's orders now go to the other funnel
    handler = DealHandler(db_pool, client, swapped)
    await handler.handle(parse_event(lc.order(organization=LYUTIK, version=2)))
    await handler.handle(parse_event(lc.invoice()))
    made = deal(sandbox, lc.order_id)
    assert (int(made["CATEGORY_ID"]), made["STAGE_ID"]) == (romashka, f"C{romashka}:B24B_INVOICE")


async def test_a_managers_edit_of_a_create_only_deal_field_survives_the_next_1c_change(world, db_pool):
    sandbox, client, mapping, _ = world
    handler = DealHandler(db_pool, client, mapping)
    cp, product, _ = await seed_links(db_pool, sandbox)
    lc = Lifecycle(cp, product)
    await handler.handle(parse_event(lc.order(organization=OTHER, comment="Из 1С")))
    deal_id = deal(sandbox, lc.order_id)["ID"]
    assert deal(sandbox, lc.order_id)["COMMENTS"] == "Из 1С"
    sandbox.call("crm.deal.update", {"id": deal_id, "fields": {
        "TITLE": "Ромашка: большой заказ", "ASSIGNED_BY_ID": 2, "COMMENTS": "Клиент просит доставку"}})
    await handler.handle(parse_event(lc.order(organization=OTHER, version=2, date="2026-12-02", amount="1500.00",
                                              comment="Изменено в 1С")))
    after = deal(sandbox, lc.order_id)
    assert (after["TITLE"], str(after["ASSIGNED_BY_ID"]), after["COMMENTS"]) == (
        "Ромашка: большой заказ", "2", "Клиент просит доставку")
    assert after["OPPORTUNITY"] == "1500.00"  # what 1C owns follows 1C


async def test_a_managers_edit_of_an_owned_deal_field_is_put_back_on_the_next_1c_change_and_logged(
        world, db_pool, caplog):
    sandbox, client, mapping, _ = world
    handler = DealHandler(db_pool, client, mapping)
    cp, product, _ = await seed_links(db_pool, sandbox)
    lc = Lifecycle(cp, product)
    await handler.handle(parse_event(lc.order(organization=OTHER)))
    await handler.handle(parse_event(lc.invoice(number="СЧ-77")))
    deal_id = int(deal(sandbox, lc.order_id)["ID"])
    sandbox.call("crm.deal.update", {"id": deal_id, "fields": {
        "OPPORTUNITY": "999.00", "UF_CRM_B24B_INVOICE_NO": "исправил менеджер"}})
    before = metrics.OWNED_OVERWRITES.labels("deal", "OPPORTUNITY")._value.get()
    caplog.set_level(logging.WARNING, logger="bridge.sync.owned")
    await handler.handle(parse_event(lc.payment(amount="500.00")))  # the next 1C change: a partial payment
    after = deal(sandbox, lc.order_id)
    assert after["OPPORTUNITY"] == "1200.00" and after["UF_CRM_B24B_INVOICE_NO"] == "СЧ-77"
    assert after["UF_CRM_B24B_PAID_SUM"] == "500.00|RUB"
    logged = {r.field: (r.entity, r.b24_id, r.old_value, r.new_value) for r in caplog.records
              if getattr(r, "action", None) == "sync.owned_overwrite"}
    assert logged == {"OPPORTUNITY": ("deal", deal_id, "999.00", "1200.00"),
                      "UF_CRM_B24B_INVOICE_NO": ("deal", deal_id, "исправил менеджер", "СЧ-77")}
    assert metrics.OWNED_OVERWRITES.labels("deal", "OPPORTUNITY")._value.get() == before + 1


async def test_company_title_is_the_managers_after_create_and_a_contact_persons_name_is_1cs(world, db_pool, caplog):
    sandbox, client, mapping, _ = world
    handler = CounterpartyHandler(db_pool, client, mapping)
    cp = str(uuid.uuid4())
    first = full_company(version=1)
    first["entity_id"] = cp
    await handler.handle(parse_event(first))
    state = sandbox.state()
    company = next(c for c in state["companies"] if c["ORIGIN_ID"] == cp)
    person_id = first["payload"]["contact_persons"][0]["id"]
    contact = next(c for c in state["contacts"] if c["ORIGIN_ID"] == person_id)
    sandbox.call("crm.company.update", {"id": company["ID"], "fields": {"TITLE": "Ромашка (Казань)"}})
    sandbox.call("crm.contact.update", {"id": contact["ID"], "fields": {"NAME": "Аня"}})
    caplog.set_level(logging.WARNING, logger="bridge.sync.owned")
    second = full_company(version=2, name="ООО «Ромашка-Плюс»")
    second["entity_id"] = cp
    second["payload"]["contact_persons"][0]["position"] = "Финансовый директор"
    await handler.handle(parse_event(second))
    state = sandbox.state()
    assert next(c for c in state["companies"] if c["ID"] == company["ID"])["TITLE"] == "Ромашка (Казань)"
    contact = next(c for c in state["contacts"] if c["ID"] == contact["ID"])
    assert (contact["NAME"], contact["POST"]) == ("Анна", "Финансовый директор")
    requisite = next(r for r in state["requisites"] if r["XML_ID"] == cp)
    assert requisite["RQ_COMPANY_NAME"] == "ООО «Ромашка-Плюс»"  # the legal name stays 1C's, on the requisite
    logged = [(r.entity, r.field, r.old_value, r.new_value) for r in caplog.records
              if getattr(r, "action", None) == "sync.owned_overwrite"]
    assert logged == [("contact", "NAME", "Аня", "Анна")]
