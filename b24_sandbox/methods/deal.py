"""crm.deal.add|update|get|list|delete|fields (deleting a deal deletes its product rows).

STAGE_ID must belong to the deal's funnel (default: the funnel's first stage); CATEGORY_ID is fixed after
``add`` (``update`` drops it silently, as the portal does); STAGE_SEMANTIC_ID and CLOSED follow the stage.
``UF_CRM_*`` values of fields defined with ``crm.deal.userfield.add`` are stored and returned as given
(money as ``"300|RUB"``).  ``CONTACT_IDS`` is write-only; ``CONTACT_ID`` is the first contact.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from .. import titles, values
from ..entity import Entity, Field
from ..errors import invalid
from . import Call
from .common import ACTIVITY, AUDIT, CURRENCY, LEAD, RO, USER_RO, UTM, status
from .legacy import LegacyCrud
from .status import first_status, semantic_id, stage, stages
from .timeline import delete_timeline

CURRENCIES = ("RUB", "USD", "EUR", "UAH", "BYN", "KZT", "CNY")

DEAL = Entity(
    name="deal",
    titles=titles.DEAL,
    table="deals",
    fields={
        "ID": RO,
        "TITLE": Field(),
        "TYPE_ID": status("DEAL_TYPE"),
        "STAGE_ID": status("DEAL_STAGE"),
        "PROBABILITY": Field("int"),
        "CURRENCY_ID": CURRENCY,
        "OPPORTUNITY": Field("money"),
        "IS_MANUAL_OPPORTUNITY": Field("flag"),
        "TAX_VALUE": Field("money"),
        "LEAD_ID": LEAD,
        "COMPANY_ID": Field("int", type="crm_company", parent=4),
        "CONTACT_ID": Field("int", type="crm_contact", deprecated=True),
        "CONTACT_IDS": Field("ids", writeonly=True, type="crm_contact"),
        "QUOTE_ID": Field("int", readonly=True, type="crm_quote", parent=7),
        "BEGINDATE": Field("date"),
        "CLOSEDATE": Field("date"),
        **AUDIT,
        "OPENED": Field("flag"),
        "CLOSED": Field("flag"),
        "COMMENTS": Field(),
        "ADDITIONAL_INFO": Field(),
        "LOCATION_ID": Field(type="location"),
        "CATEGORY_ID": Field("int", type="crm_category", immutable=True),  # update drops it
        "STAGE_SEMANTIC_ID": Field(readonly=True),
        "IS_NEW": Field("flag", readonly=True),
        "IS_RECURRING": Field("flag"),
        "IS_RETURN_CUSTOMER": Field("flag"),
        "IS_REPEATED_APPROACH": Field("flag"),
        "SOURCE_ID": status("SOURCE"),
        "SOURCE_DESCRIPTION": Field(),
        "ORIGINATOR_ID": Field(),
        "ORIGIN_ID": Field(),
        "MOVED_BY_ID": USER_RO,
        "MOVED_TIME": Field("datetime", readonly=True),
        **ACTIVITY,
        **UTM,
    },
    uf_entity="CRM_DEAL",
)


def _defaults(call: Call) -> dict[str, Any]:
    today = values.day_at(call.clock(), call.tz)
    return {"TYPE_ID": "SALE", "CURRENCY_ID": "RUB", "OPPORTUNITY": Decimal(0), "IS_MANUAL_OPPORTUNITY": "N",
            "TAX_VALUE": Decimal(0), "BEGINDATE": today.isoformat(),
            "CLOSEDATE": (today + timedelta(days=7)).isoformat(), "ASSIGNED_BY_ID": call.user_id, "OPENED": "Y",
            "CLOSED": "N", "CATEGORY_ID": 0, "IS_NEW": "Y", "IS_RECURRING": "N", "IS_RETURN_CUSTOMER": "N",
            "IS_REPEATED_APPROACH": "N", "SOURCE_ID": first_status(call.store, "SOURCE"), "MOVED_BY_ID": call.user_id,
            "MOVED_TIME": call.now()}


def _prepare(call: Call, data: dict[str, Any], raw: dict[str, Any], existing: dict[str, Any] | None) -> None:
    if existing is None:
        category_id = data.get("CATEGORY_ID") or 0
        if call.store.get("categories", category_id) is None:
            category_id = 0
        data["CATEGORY_ID"] = category_id
        if not data.get("STAGE_ID"):
            data["STAGE_ID"] = stages(call.store, category_id)[0]["STATUS_ID"]
    else:
        data.pop("CATEGORY_ID", None)
        category_id = existing["CATEGORY_ID"]
    if "CURRENCY_ID" in data and data["CURRENCY_ID"] not in CURRENCIES:
        raise invalid("Invalid value for the 'Currency' field")
    if "STAGE_ID" in data:
        row = stage(call.store, category_id, data["STAGE_ID"] or "")
        if row is None:
            raise invalid(f"The stage '{data['STAGE_ID']}' does not belong to the deal's pipeline {category_id}.")
        semantic = semantic_id(row)
        data["STAGE_SEMANTIC_ID"] = semantic
        data["CLOSED"] = "N" if semantic == "P" else "Y"
        if existing is None or existing.get("STAGE_ID") != data["STAGE_ID"]:
            data["MOVED_BY_ID"] = call.user_id
            data["MOVED_TIME"] = call.now()
    contact_ids = data.pop("CONTACT_IDS", None)
    if "CONTACT_IDS" in raw:
        data["_contacts"] = contact_ids or []
        data["CONTACT_ID"] = contact_ids[0] if contact_ids else None
        data["_contact_sort"] = {}  # the written order is the new SORT order
    elif "CONTACT_ID" in raw:
        data["_contacts"] = [data["CONTACT_ID"]] if data.get("CONTACT_ID") else []
        data["_contact_sort"] = {}


def _after_write(call: Call, record: dict[str, Any], raw: dict[str, Any], creating: bool) -> None:
    record.pop("CONTACT_IDS", None)
    if creating:
        record["IS_NEW"] = "Y"
        if not (record.get("TITLE") or "").strip():
            record["TITLE"] = f"Сделка #{record['ID']}"
    else:
        record["IS_NEW"] = "N"


def _on_delete(call: Call, record: dict[str, Any]) -> None:
    for row in call.store.where("product_rows", "OWNER_ID", record["ID"]):
        call.store.delete("product_rows", row["ID"])
    delete_timeline(call.store, "deal", record["ID"])
    call.store.delete("requisite_links", (2, record["ID"]))  # its crm.requisite.link.register link


CRUD = LegacyCrud(DEAL, defaults=_defaults, prepare=_prepare, after_write=_after_write, on_delete=_on_delete)
CRUD.register("crm.deal")
