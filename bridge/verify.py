"""Compare what a Bitrix24 portal shows with what 1C says it must show (the simulator's expected state).

Used by the demo (its summary's check column) and by the tests that run simulated business days end to
end.  The portal state is the sandbox's ``/_sandbox/state`` (records as the REST ``get``/``list`` methods
answer them); the expected state is ``onec_outbox.simulator.expected_state`` (neutral, no Bitrix24 names).
Every difference is one line naming the 1C object, the field, what Bitrix24 shows and what 1C has.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .domain.diff import normalize
from .domain.product import as_stored, onec_id_of_key
from .mapping import Mapping


def _multi(record: dict[str, Any], key: str) -> set[str]:
    return {normalize(key, str(v["VALUE"])) for v in record.get(key) or []}


def _set(values: list[str], key: str) -> set[str]:
    return {normalize(key, v) for v in values}


_QUANTITY_IN_NAME = re.compile(r"\((\d+(?:\.\d+)?)(?: [^()]*)?\)$")


def _row_quantity(row: dict[str, Any]) -> Decimal:
    quantity = Decimal(str(row["QUANTITY"]))
    named = _QUANTITY_IN_NAME.search(str(row.get("PRODUCT_NAME") or ""))
    return Decimal(named.group(1)) if quantity == 1 and named else quantity


def _quantities(rows: Any) -> list[tuple[Any, Decimal]]:
    total: dict[Any, Decimal] = {}
    for product, quantity in rows:
        total[product] = total.get(product, Decimal(0)) + quantity
    return sorted(total.items(), key=lambda kv: str(kv[0]))


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value).split("|")[0])


def compare(expected: dict[str, Any], portal: dict[str, Any], mapping: Mapping) -> list[str]:
    problems: list[str] = []
    problems += _counterparties(expected["counterparties"], portal)
    problems += _products(expected["products"], portal, mapping)
    problems += _deals(expected["deals"], portal, mapping)
    return problems


def _by(records: list[dict[str, Any]], key: str = "ORIGIN_ID") -> dict[str, list[dict[str, Any]]]:
    """Records grouped by the text of ``key`` (records without it left out)."""
    index: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get(key) not in (None, ""):
            index.setdefault(str(record[key]), []).append(record)
    return index


def _counterparties(expected: dict[str, Any], portal: dict[str, Any]) -> list[str]:
    problems = []
    companies, contacts = _by(portal["companies"]), _by(portal["contacts"])
    links = {(str(l["CONTACT_ID"]), str(l["COMPANY_ID"])) for l in portal["contact_company"]}
    for cp_id, cp in expected.items():
        found = (companies if cp["kind"] == "company" else contacts).get(cp_id, [])
        where = f"counterparty {cp['title']} ({cp_id})"
        if len(found) != 1:
            problems.append(f"{where}: {len(found)} {cp['kind']}(s) in Bitrix24, expected 1")
            continue
        record = found[0]
        owner_type = "4" if cp["kind"] == "company" else "3"
        requisites = [r for r in portal["requisites"] if r["ENTITY_TYPE_ID"] == owner_type
                      and r["ENTITY_ID"] == record["ID"] and r.get("XML_ID") == cp_id]
        if cp["kind"] == "company" and record["TITLE"] != cp["title"]:
            problems.append(f"{where}: TITLE {record['TITLE']!r}, expected {cp['title']!r}")
        if cp["kind"] == "contact" and (record.get("LAST_NAME"), record.get("NAME")) != (cp["last_name"], cp["first_name"]):
            problems.append(f"{where}: name {record.get('LAST_NAME')} {record.get('NAME')}, expected "
                            f"{cp['last_name']} {cp['first_name']}")
        for key, values in (("PHONE", cp["phones"]), ("EMAIL", cp["emails"])):
            if _multi(record, key) != _set(values, key):
                problems.append(f"{where}: {key} {sorted(_multi(record, key))}, expected {sorted(_set(values, key))}")
        if len(requisites) != 1:
            problems.append(f"{where}: {len(requisites)} requisites, expected 1")
            continue
        requisite = requisites[0]
        if (requisite.get("RQ_INN") or None) != cp["inn"]:
            problems.append(f"{where}: RQ_INN {requisite.get('RQ_INN')!r}, expected {cp['inn']!r}")
        if cp["kind"] == "company" and (requisite.get("RQ_KPP") or None) != cp["kpp"]:
            problems.append(f"{where}: RQ_KPP {requisite.get('RQ_KPP')!r}, expected {cp['kpp']!r}")
        accounts = {d["RQ_ACC_NUM"] for d in portal["bank_details"] if d["ENTITY_ID"] == requisite["ID"]}
        if accounts != set(cp["bank_accounts"]):
            problems.append(f"{where}: bank accounts {sorted(accounts)}, expected {cp['bank_accounts']}")
        for person_id, person in cp["contact_persons"].items():
            found_person = contacts.get(person_id, [])
            if len(found_person) != 1:
                problems.append(f"{where}: contact person {person['last_name']} ({person_id}): "
                                f"{len(found_person)} contacts, expected 1")
                continue
            contact = found_person[0]
            if (contact["ID"], record["ID"]) not in links:
                problems.append(f"{where}: contact {person['last_name']} is not linked to the company")
            for key, values in (("PHONE", person["phones"]), ("EMAIL", person["emails"])):
                if _multi(contact, key) != _set(values, key):
                    problems.append(f"{where}: contact {person['last_name']} {key} {sorted(_multi(contact, key))}, "
                                    f"expected {sorted(_set(values, key))}")
    return problems


def _products(expected: dict[str, Any], portal: dict[str, Any], mapping: Mapping) -> list[str]:
    problems = []
    if mapping.products.api != "catalog":
        return problems
    by_xml: dict[str, list[dict[str, Any]]] = {}
    for record in portal["products"]:  # the 1C id, whichever key form (with or without the source) it has
        if record.get("xmlId"):
            by_xml.setdefault(onec_id_of_key(record["xmlId"]), []).append(record)
    prices = {(str(p["productId"]), int(p["catalogGroupId"])): p for p in portal["prices"]}
    for product_id, product in expected.items():
        found = by_xml.get(product_id, [])
        where = f"product {product['name']} ({product_id})"
        if len(found) != 1:
            problems.append(f"{where}: {len(found)} products in Bitrix24, expected 1")
            continue
        record = found[0]
        if record["name"] != product["name"]:
            problems.append(f"{where}: name {record['name']!r}, expected {product['name']!r}")
        if (record.get("active") == "Y") == product["deleted"]:
            problems.append(f"{where}: active {record.get('active')!r}, deleted in 1C: {product['deleted']}")
        price = prices.get((str(record["id"]), mapping.products.base_price_type_id))
        if product["sale_price"] is not None and (price is None or as_stored(price["price"]) != as_stored(product["sale_price"])):
            problems.append(f"{where}: base price {price and price['price']}, expected {product['sale_price']}")
        if product["purchase_price"] is not None and _dec(record.get("purchasingPrice")) != _dec(product["purchase_price"]):
            problems.append(f"{where}: purchasingPrice {record.get('purchasingPrice')}, "
                            f"expected {product['purchase_price']}")
    return problems


def _deals(expected: dict[str, Any], portal: dict[str, Any], mapping: Mapping) -> list[str]:
    problems = []
    deals = _by(portal["deals"])
    companies, contacts = _by(portal["companies"]), _by(portal["contacts"])
    products = {str(p["id"]): onec_id_of_key(p.get("xmlId") or "") for p in portal["products"]}
    rows = _by(portal["product_rows"], "OWNER_ID")
    uf = mapping.deals.user_fields
    tags = [n.get("TAG") or "" for n in portal["notifications"]]
    extra = set(deals) - set(expected)
    if extra:
        problems.append(f"{len(extra)} deal(s) in Bitrix24 for orders that should have none: {sorted(extra)[:5]}")
    for order_id, deal in expected.items():
        found = deals.get(order_id, [])
        where = f"order {deal['order_number']} ({order_id})"
        if len(found) != 1:
            problems.append(f"{where}: {len(found)} deals in Bitrix24, expected 1")
            continue
        record = found[0]

        def check(field: str, actual: Any, wanted: Any) -> None:
            if actual != wanted:
                problems.append(f"{where}: {field} {actual!r}, expected {wanted!r}")

        category = int(record.get("CATEGORY_ID") or 0)  # a deal stays in the funnel it was made in
        check("STAGE_ID", record["STAGE_ID"], mapping.deals.stage_id(deal["stage"], category))
        check("OPPORTUNITY", _dec(record["OPPORTUNITY"]), _dec(deal["amount"]))
        check("CURRENCY_ID", record["CURRENCY_ID"], deal["currency"])
        owner = companies.get(deal["counterparty_id"]) or contacts.get(deal["counterparty_id"]) or [{}]
        owner_field = "COMPANY_ID" if deal["counterparty_id"] in companies else "CONTACT_ID"
        check(owner_field, record.get(owner_field), owner[0].get("ID"))
        check(uf.invoice_number, record.get(uf.invoice_number), deal["invoice_number"])
        check(uf.invoice_date, (record.get(uf.invoice_date) or None) and str(record[uf.invoice_date])[:10],
              deal["invoice_date"])
        paid = _dec(deal["paid_amount"])
        check(uf.paid_amount, _dec(record.get(uf.paid_amount)), paid if paid else None)
        check(uf.payment_date, (record.get(uf.payment_date) or None) and str(record[uf.payment_date])[:10],
              deal["payment_date"])
        check(uf.shipment_number, record.get(uf.shipment_number), deal["shipment_number"])
        shipped = _dec(deal["shipment_amount"])
        check(uf.shipment_amount, _dec(record.get(uf.shipment_amount)), shipped if deal["shipment_number"] else None)
        check(uf.legal_entity, record.get(uf.legal_entity), deal["legal_entity"])
        # quantity per product: a 1C row may be two Bitrix24 rows (2 × 33.33 + 1 × 33.34, so they add up to
        # 1C's total), or one of quantity 1 with 1C's quantity in its name (domain.deal.Row.portions)
        check("product rows", _quantities((products.get(str(r["PRODUCT_ID"])), _row_quantity(r))
                                          for r in rows.get(str(record["ID"]), [])),
              _quantities((r["product_id"], Decimal(r["quantity"])) for r in deal["product_rows"]))
        notified = any(f"|{order_id}|" in tag for tag in tags)
        if deal["paid_notification"] and not notified:
            problems.append(f"{where}: no 'client paid' notification")
    return problems
