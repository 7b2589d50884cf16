"""Look-ups by key use the store's indexes: they scan the matching records, not the table (issue 12.6).

Counted, not timed: ``store.scanned`` says how many records each table handed out during a call.
"""

from __future__ import annotations

import pytest

from b24_sandbox import Sandbox, SandboxConfig

N = 400


@pytest.fixture(scope="module")
def sandbox():
    sandbox = Sandbox(SandboxConfig(rate=0))
    for i in range(N):
        company_id = sandbox.call("crm.company.add", {"fields": {
            "TITLE": f"Компания {i}", "ORIGINATOR_ID": "1C", "ORIGIN_ID": f"guid-{i}"}}).result.value
        sandbox.call("crm.requisite.add", {"fields": {
            "ENTITY_TYPE_ID": 4, "ENTITY_ID": company_id, "PRESET_ID": 1, "NAME": "Организация",
            "RQ_INN": f"77{i % (N // 2):08d}", "RQ_KPP": f"7701{i // (N // 2):05d}", "XML_ID": f"req-{i}"}})
        sandbox.call("catalog.product.add", {"fields": {"iblockId": 25, "name": f"Товар {i}", "xmlId": f"nom-{i}"}})
    return sandbox


def scanned(sandbox, method, params):
    sandbox.store.scanned.clear()
    outcome = sandbox.call(method, params)
    assert outcome.error is None, outcome.error
    return outcome.result, sum(sandbox.store.scanned.values())


def ids(result):
    return [row["ID"] for row in result.value]


def test_a_list_by_origin_id_scans_one_record_not_the_table(sandbox):
    result, count = scanned(sandbox, "crm.company.list",
                            {"filter": {"ORIGINATOR_ID": "1C", "ORIGIN_ID": "guid-123"}, "select": ["ID"]})
    assert ids(result) == ["124"] and count == 1
    _, full = scanned(sandbox, "crm.company.list", {"filter": {"%TITLE": "Компания 123"}, "select": ["ID"]})
    assert full >= N  # a substring filter has no index: the whole table


def test_an_in_filter_scans_only_the_records_it_names(sandbox):
    result, count = scanned(sandbox, "crm.company.list",
                            {"filter": {"@ORIGIN_ID": ["guid-5", "guid-7", "guid-none"]}, "select": ["ID"]})
    assert ids(result) == ["6", "8"] and count == 2


def test_requisites_by_inn_and_kpp_and_by_owner(sandbox):
    result, count = scanned(sandbox, "crm.requisite.list", {"filter": {"RQ_INN": "7700000003", "RQ_KPP": "770100001"}})
    assert [(r["ENTITY_ID"], r["RQ_INN"], r["RQ_KPP"]) for r in result.value] == [("204", "7700000003", "770100001")]
    assert count == 2  # INN matches two (a branch shares it), KPP half the table: the narrower one is read
    result, count = scanned(sandbox, "crm.requisite.list", {"filter": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": "10"}})
    assert [r["XML_ID"] for r in result.value] == ["req-9"] and count == 1


def test_products_by_xml_id_in_both_apis(sandbox):
    result, count = scanned(sandbox, "catalog.product.list", {
        "select": ["id", "iblockId", "xmlId"], "filter": {"iblockId": 25, "xmlId": ["nom-1", "nom-2"]}})
    assert [p["xmlId"] for p in result.value["products"]] == ["nom-1", "nom-2"] and count == 2
    result, count = scanned(sandbox, "crm.product.list", {"filter": {"XML_ID": "nom-3"}, "select": ["ID", "XML_ID"]})
    assert [p["XML_ID"] for p in result.value] == ["nom-3"] and count <= 2  # the product, its base price look-up


def test_the_index_follows_updates_and_deletes():
    sandbox = Sandbox(SandboxConfig(rate=0))
    first = sandbox.call("crm.contact.add", {"fields": {"NAME": "А", "ORIGIN_ID": "old"}}).result.value
    sandbox.call("crm.contact.add", {"fields": {"NAME": "Б", "ORIGIN_ID": "other"}})
    assert ids(scanned(sandbox, "crm.contact.list", {"filter": {"ORIGIN_ID": "old"}})[0]) == [str(first)]
    sandbox.call("crm.contact.update", {"id": first, "fields": {"ORIGIN_ID": "new"}})
    assert ids(scanned(sandbox, "crm.contact.list", {"filter": {"ORIGIN_ID": "old"}})[0]) == []
    assert ids(scanned(sandbox, "crm.contact.list", {"filter": {"ORIGIN_ID": "new"}})[0]) == [str(first)]
    sandbox.call("crm.contact.delete", {"id": first})
    assert ids(scanned(sandbox, "crm.contact.list", {"filter": {"ORIGIN_ID": "new"}})[0]) == []
    product = sandbox.call("catalog.product.add", {"fields": {"iblockId": 25, "name": "Х"}}).result.value["element"]
    found, _ = scanned(sandbox, "catalog.product.list", {"select": ["id", "iblockId"],
                                                         "filter": {"iblockId": 25, "xmlId": str(product["id"])}})
    assert [p["id"] for p in found.value["products"]] == [product["id"]]  # the default xmlId is filed too


def test_indexed_and_scanned_answers_agree(sandbox):
    """The index only narrows; with it switched off every filter gives the same rows."""
    filters = [
        ("crm.company.list", {"filter": {"ORIGIN_ID": "guid-1", "%TITLE": "Компания"}}),
        ("crm.company.list", {"filter": {"=ORIGIN_ID": ["guid-2", "guid-3"], ">ID": 3}}),
        ("crm.company.list", {"filter": {"ORIGIN_ID": ""}}),
        ("crm.requisite.list", {"filter": {"RQ_INN": 7700000004}}),
        ("crm.requisite.list", {"filter": {"ENTITY_ID": ["5", 6, "x"]}}),
        ("crm.requisite.list", {"filter": {"!RQ_KPP": "770100000", "RQ_INN": "7700000001"}}),
    ]
    for method, params in filters:
        agree(sandbox, method, params)


def agree(sandbox, method: str, params: dict) -> None:
    """The same answer with the indexes and with every table scanned."""
    indexed = sandbox.call(method, params).result
    sandbox.store.use_indexes = False
    try:
        plain = sandbox.call(method, params).result
    finally:
        sandbox.store.use_indexes = True
    assert (indexed.value, indexed.total) == (plain.value, plain.total), params


def test_a_symbolic_code_is_checked_by_its_index_and_a_refused_update_changes_nothing(sandbox):
    """Every product add or update with a code checks that no other product holds it: by the index, so a
    catalogue of 50,000 costs what one of 50 does."""
    _, count = scanned(sandbox, "catalog.product.add", {"fields": {"iblockId": 25, "name": "Гвоздь", "code": "gv-1"}})
    assert count == 0  # no other product holds the code: nothing scanned
    other = sandbox.call("catalog.product.add", {"fields": {"iblockId": 25, "name": "Шуруп", "code": "sh-1"}})
    other_id = other.result.value["element"]["id"]
    sandbox.store.scanned.clear()
    refused = sandbox.call("catalog.product.update", {"id": other_id, "fields": {"name": "Шуруп 2", "code": "gv-1"}})
    assert refused.error is not None and "gv-1" in refused.error.description
    assert sum(sandbox.store.scanned.values()) <= 2  # the holder of the code, not the table
    kept = sandbox.call("catalog.product.get", {"id": other_id}).result.value["product"]
    assert (kept["name"], kept["code"]) == ("Шуруп", "sh-1")  # refused: the product is as it was
    _, count = scanned(sandbox, "catalog.product.update", {"id": other_id, "fields": {"name": "Шуруп 2"}})
    assert count <= 1  # its own code, found under itself
    assert sandbox.call("catalog.product.get", {"id": other_id}).result.value["product"]["name"] == "Шуруп 2"


def test_contact_company_links_are_read_by_their_index():
    sandbox = Sandbox(SandboxConfig(rate=0))
    companies = [sandbox.call("crm.company.add", {"fields": {"TITLE": f"К{i}"}}).result.value for i in range(200)]
    contacts = [sandbox.call("crm.contact.add", {"fields": {"NAME": f"Л{i}"}}).result.value for i in range(200)]
    for contact_id, company_id in zip(contacts, companies, strict=True):
        sandbox.call("crm.contact.company.add", {"id": contact_id, "fields": {"COMPANY_ID": company_id}})
    result, count = scanned(sandbox, "crm.company.contact.items.get", {"id": companies[7]})
    assert [r["CONTACT_ID"] for r in result.value] == [contacts[7]] and count == 1
    result, count = scanned(sandbox, "crm.contact.company.items.get", {"id": contacts[9]})
    assert [r["COMPANY_ID"] for r in result.value] == [companies[9]] and count <= 2
    _, count = scanned(sandbox, "crm.contact.company.add", {"id": contacts[9], "fields": {"COMPANY_ID": companies[8]}})
    assert count < 10  # the contact's own links, not the table's 200
    result, _ = scanned(sandbox, "crm.contact.company.items.get", {"id": contacts[9]})
    assert sorted(r["COMPANY_ID"] for r in result.value) == sorted([companies[9], companies[8]])


def test_a_list_by_id_reads_the_record_by_key(sandbox):
    """The deal consumer reads a deal's fields before a three-way update with ``filter: {ID: …}``."""
    result, count = scanned(sandbox, "crm.company.list", {"filter": {"ID": 17}, "select": ["ID", "TITLE"]})
    assert ids(result) == ["17"] and count == 1
    result, count = scanned(sandbox, "crm.company.list", {"filter": {"@ID": ["3", 5, "99999"]}, "select": ["ID"]})
    assert ids(result) == ["3", "5"] and count == 2
    for params in ({"filter": {"ID": "17", "%TITLE": "Компания"}}, {"filter": {"=ID": ["2", "x"]}},
                   {"filter": {"@ID": []}}, {"filter": {"ID": "16 "}}, {"filter": {"!ID": 3, "ORIGIN_ID": "guid-3"}},
                   {"filter": {"id": 5}}):  # a spelling crm lists do not know: ignored, by both
        agree(sandbox, "crm.company.list", params)
    agree(sandbox, "catalog.product.list",  # the catalog spells it "id": "ID" is ignored
          {"select": ["id", "iblockId"], "filter": {"iblockId": 25, "ID": 5}})
