"""Prepare a sandbox portal the way `b24bridge portal setup` does (stages and deal user fields of the
mapping), through the sandbox's in-process call, for tests that exercise deals."""

from __future__ import annotations

from bridge.mapping import STAGE_KEYS, USER_FIELD_KEYS, Mapping

UF_TYPES = {"invoice_number": "string", "invoice_date": "date", "paid_amount": "money", "payment_date": "date",
            "shipment_number": "string", "shipment_date": "date", "shipment_amount": "money",
            "legal_entity": "string"}


def prepare_deals(sandbox, mapping: Mapping) -> None:
    deals = mapping.deals
    entity = "DEAL_STAGE" if deals.category_id == 0 else f"DEAL_STAGE_{deals.category_id}"
    existing = {s["STATUS_ID"] for s in sandbox.call("crm.status.list", {"filter": {"ENTITY_ID": entity}}).result.value}
    for n, key in enumerate(STAGE_KEYS):
        stage = getattr(deals.stages, key)
        if deals.stage_id(key) not in existing:
            sandbox.call("crm.status.add", {"fields": {"ENTITY_ID": entity, "STATUS_ID": stage.id,
                                                       "NAME": stage.name, "SORT": 11 + n}})
    fields = {f["FIELD_NAME"] for f in sandbox.call("crm.deal.userfield.list", {}).result.value}
    for key in USER_FIELD_KEYS:
        name = getattr(deals.user_fields, key)
        if name not in fields:
            sandbox.call("crm.deal.userfield.add", {"fields": {"FIELD_NAME": name, "USER_TYPE_ID": UF_TYPES[key],
                                                               "LABEL": key}})
