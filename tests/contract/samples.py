"""Valid events of every type, as 1C sends them (decoded JSON), for tests to copy and break.

``CONTRACT_EXAMPLE`` is the example of docs contract-v1.md, verbatim.
"""

from __future__ import annotations

import copy
import json
from typing import Any

CONTRACT_EXAMPLE = json.loads(r"""
{"event_id": "5b0e9a8e-1c55-4a53-9a56-0b8d3c1f6e21",
 "event_type": "counterparty.upserted",
 "source": "ut103-main",
 "entity_id": "9d3b7c1e-2f4a-11ef-8b1a-00155d012a07",
 "version": 1732700000123,
 "occurred_at": "2026-11-27T10:15:00+03:00",
 "payload": {"name": "Ромашка ООО", "full_name": "Общество с ограниченной ответственностью \"Ромашка\"",
             "legal_form": "company", "inn": "7707083893", "kpp": "773601001", "ogrn": null,
             "phones": ["+7 (495) 123-45-67"], "emails": ["info@romashka.example"], "city": "Москва",
             "legal_address": {"presentation": "115054, Москва г, Валовая ул, дом № 26", "postal_code": "115054", "city": "Москва", "street": "Валовая ул", "house": "26"},
             "actual_address": null,
             "bank_accounts": [{"account": "40702810938000012345", "bank_name": "ПАО СБЕРБАНК", "bik": "044525225",
                                "corr_account": "30101810400000000225", "currency": "RUB", "is_main": true}],
             "contact_persons": [{"id": "0b6f3a52-2f4b-11ef-8b1a-00155d012a07", "last_name": "Иванова", "first_name": "Анна",
                                  "middle_name": "Сергеевна", "position": "Главный бухгалтер",
                                  "phones": ["+7 (916) 000-00-01"], "emails": ["anna@romashka.example"], "city": "Москва"}],
             "deleted": false}}
""")

ORG = {"id": "1f0c2a4e-2f4a-11ef-8b1a-00155d012a07", "name": "ООО «Торговый дом»", "inn": "7702070139"}
COUNTERPARTY_ID = "9d3b7c1e-2f4a-11ef-8b1a-00155d012a07"
ORDER_ID = "3c1e5b7a-2f4c-11ef-8b1a-00155d012a07"
PRODUCT_ID = "7a2b4c6d-2f4d-11ef-8b1a-00155d012a07"

ITEM = {
    "product_id": PRODUCT_ID,
    "name": "Гвоздь строительный 100 мм",
    "quantity": "12.500",
    "unit": {"code": "166", "name": "кг"},
    "price": "180.0000",
    "discount_percent": "0.00",
    "vat_rate": "20",
    "vat_amount": "375.00",
    "amount": "2250.00",
}

PAYLOADS: dict[str, dict[str, Any]] = {
    "counterparty": CONTRACT_EXAMPLE["payload"],
    "product": {
        "code": "00000123",
        "article": "ГВ-100",
        "name": "Гвоздь строительный 100 мм",
        "full_name": "Гвоздь строительный 4,0×100 мм ГОСТ 4028-63",
        "is_service": False,
        "unit": {"code": "166", "name": "кг"},
        "vat_rate": "20",
        "sale_price": {"amount": "180.00", "currency": "RUB", "price_type": "Оптовая"},
        "purchase_price": {"amount": "121.5000", "currency": "RUB"},
        "deleted": False,
    },
    "customer_order": {
        "number": "ТД-000123",
        "date": "2026-11-27",
        "posted": True,
        "deleted": False,
        "organization": ORG,
        "counterparty_id": COUNTERPARTY_ID,
        "contact_person_id": "0b6f3a52-2f4b-11ef-8b1a-00155d012a07",
        "responsible": {
            "id": "5d1e0c3b-2f4a-11ef-8b1a-00155d012a07",
            "name": "Петров П.П.",
            "email": "petrov@td.example",
        },
        "currency": "RUB",
        "amount": "2250.00",
        "comment": "Доставка до склада покупателя",
        "items": [ITEM],
    },
    "invoice": {
        "number": "ТД-000077",
        "date": "2026-11-27",
        "posted": True,
        "deleted": False,
        "order_id": ORDER_ID,
        "currency": "RUB",
        "amount": "2250.00",
        "items": [ITEM],
    },
    "payment": {
        "number": "512",
        "date": "2026-11-28",
        "kind": "bank",
        "posted": True,
        "deleted": False,
        "counterparty_id": COUNTERPARTY_ID,
        "organization": ORG,
        "currency": "RUB",
        "amount": "2250.00",
        "allocations": [{"order_id": ORDER_ID, "amount": "2000.00"}, {"order_id": None, "amount": "250.00"}],
    },
    "shipment": {
        "number": "ТД-000311",
        "date": "2026-11-29",
        "posted": True,
        "deleted": False,
        "organization": ORG,
        "counterparty_id": COUNTERPARTY_ID,
        "currency": "RUB",
        "amount": "2250.00",
        "order_ids": [ORDER_ID],
        "items": [ITEM],
    },
}


def event(entity: str = "counterparty", **envelope: Any) -> dict[str, Any]:
    """A fresh, valid event of this entity; keyword arguments replace envelope fields."""
    data = copy.deepcopy(CONTRACT_EXAMPLE)
    data["event_type"] = f"{entity}.upserted"
    data["payload"] = copy.deepcopy(PAYLOADS[entity])
    data.update(envelope)
    return data


def payload_with(entity: str, **fields: Any) -> dict[str, Any]:
    """A valid event whose payload has these fields replaced."""
    data = event(entity)
    data["payload"].update(fields)
    return data


def violations(data: Any) -> list[dict[str, str]]:
    """The errors ``parse_event`` reports for ``data`` (fails the test if it accepts it)."""
    from onec_outbox.contract import ContractViolation, parse_event

    try:
        parse_event(data)
    except ContractViolation as exc:
        return exc.errors
    raise AssertionError("the event was accepted")


def the_violation(data: Any) -> dict[str, str]:
    """The single error ``parse_event`` reports for ``data``."""
    errors = violations(data)
    assert len(errors) == 1, errors
    return errors[0]
