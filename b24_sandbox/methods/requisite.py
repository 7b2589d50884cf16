"""crm.requisite.add|update|get|list|fields and crm.requisite.preset.list|get.

Requisites hang only on contacts (ENTITY_TYPE_ID 3) and companies (4), need an existing owner, an existing
preset and a NAME.  External key: ``XML_ID`` (+ ``ORIGINATOR_ID``); there is no ORIGIN_ID.
"""

from __future__ import annotations

from typing import Any

from .. import values
from ..entity import Entity, Field
from ..errors import invalid
from ..store import Store
from . import Call
from .common import AUDIT, OWNER_COMPANY, OWNER_CONTACT, OWNER_REQUISITE, RO, required
from .legacy import LegacyCrud
from .requisite_link import unlink_requisite

RQ_FIELDS = (
    "RQ_NAME", "RQ_FIRST_NAME", "RQ_LAST_NAME", "RQ_SECOND_NAME", "RQ_COMPANY_ID", "RQ_COMPANY_NAME",
    "RQ_COMPANY_FULL_NAME", "RQ_COMPANY_REG_DATE", "RQ_DIRECTOR", "RQ_ACCOUNTANT", "RQ_CEO_NAME",
    "RQ_CEO_WORK_POS", "RQ_CONTACT", "RQ_EMAIL", "RQ_PHONE", "RQ_FAX", "RQ_IDENT_TYPE", "RQ_IDENT_DOC",
    "RQ_IDENT_DOC_SER", "RQ_IDENT_DOC_NUM", "RQ_IDENT_DOC_PERS_NUM", "RQ_IDENT_DOC_DATE",
    "RQ_IDENT_DOC_ISSUED_BY", "RQ_IDENT_DOC_DEP_CODE", "RQ_INN", "RQ_KPP", "RQ_USRLE", "RQ_IFNS", "RQ_OGRN",
    "RQ_OGRNIP", "RQ_OKPO", "RQ_OKTMO", "RQ_OKVED", "RQ_EDRPOU", "RQ_DRFO", "RQ_KBE", "RQ_IIN", "RQ_BIN",
    "RQ_ST_CERT_SER", "RQ_ST_CERT_NUM", "RQ_ST_CERT_DATE", "RQ_VAT_PAYER", "RQ_VAT_ID", "RQ_VAT_CERT_SER",
    "RQ_VAT_CERT_NUM", "RQ_VAT_CERT_DATE", "RQ_RESIDENCE_COUNTRY", "RQ_BASE_DOC", "RQ_REGON", "RQ_KRS",
    "RQ_PESEL", "RQ_LEGAL_FORM", "RQ_SIRET", "RQ_SIREN", "RQ_CAPITAL", "RQ_RCS", "RQ_CNPJ", "RQ_STATE_REG",
    "RQ_MNPL_REG", "RQ_CPF",
)

REQUISITE = Entity(
    name="requisite",
    table="requisites",
    fields={
        "ID": RO,
        "ENTITY_TYPE_ID": Field("int"),
        "ENTITY_ID": Field("int"),
        "PRESET_ID": Field("int"),
        "DATE_CREATE": AUDIT["DATE_CREATE"],
        "DATE_MODIFY": AUDIT["DATE_MODIFY"],
        "CREATED_BY_ID": AUDIT["CREATED_BY_ID"],
        "MODIFY_BY_ID": AUDIT["MODIFY_BY_ID"],
        "NAME": Field(),
        "CODE": Field(),
        "XML_ID": Field(),
        "ORIGINATOR_ID": Field(),
        "ACTIVE": Field("flag"),
        "ADDRESS_ONLY": Field("flag"),
        "SORT": Field("int"),
        **{name: Field("flag" if name == "RQ_VAT_PAYER" else "str") for name in RQ_FIELDS},
    },
    uf_entity="CRM_REQUISITE",
    not_found=lambda rid: f"The Requisite with ID '{rid}' is not found",
    floor_start=False,
    orm_select=True,
    touch_on_create=False,
)

PRESET = Entity(
    name="preset",
    table="presets",
    fields={
        "ID": RO,
        "ENTITY_TYPE_ID": Field("int"),
        "COUNTRY_ID": Field("int"),
        "DATE_CREATE": AUDIT["DATE_CREATE"],
        "DATE_MODIFY": AUDIT["DATE_MODIFY"],
        "CREATED_BY_ID": AUDIT["CREATED_BY_ID"],
        "MODIFY_BY_ID": AUDIT["MODIFY_BY_ID"],
        "NAME": Field(),
        "XML_ID": Field(),
        "ACTIVE": Field("flag"),
        "SORT": Field("int"),
    },
    not_found=lambda pid: f"The RequisitePreset with ID '{pid}' is not found",
    floor_start=False,
    orm_select=True,
)

OWNER_TABLES = {OWNER_CONTACT: "contacts", OWNER_COMPANY: "companies"}


def _defaults(call: Call) -> dict[str, Any]:
    return {"ACTIVE": "Y", "ADDRESS_ONLY": "N", "SORT": 500, "RQ_VAT_PAYER": "N"}


def _prepare(call: Call, data: dict[str, Any], raw: dict[str, Any], existing: dict[str, Any] | None) -> None:
    merged = {**(existing or {}), **data}
    if existing is None or "ENTITY_TYPE_ID" in data or "ENTITY_ID" in data:
        if merged.get("ENTITY_TYPE_ID") not in OWNER_TABLES:
            raise invalid("ENTITY_TYPE_ID is not defined or invalid.")
        if not values.is_positive_id(merged.get("ENTITY_ID")):
            raise invalid("ENTITY_ID is not defined or invalid.")
        if call.store.get(OWNER_TABLES[merged["ENTITY_TYPE_ID"]], merged["ENTITY_ID"]) is None:
            raise invalid("Entity not found.")
    preset = merged.get("PRESET_ID")
    if (existing is None or "PRESET_ID" in data) and (
            not values.is_positive_id(preset) or call.store.get("presets", preset) is None):
        raise invalid("PRESET_ID is not defined or invalid.")
    if (existing is None or "NAME" in data) and not (merged.get("NAME") or "").strip():
        raise invalid(required("Name"))


def delete_children(store: Store, requisite_id: int) -> None:
    """A requisite takes its bank details, addresses and links to other objects with it (EN
    ``crm-requisite-delete.md``), whether ``crm.requisite.delete`` or its owner's delete removes it."""
    unlink_requisite(store, requisite_id)
    for row in store.where("bank_details", "ENTITY_ID", requisite_id):
        store.delete("bank_details", row["ID"])
    for row in store.where("addresses", "ENTITY_ID", requisite_id):
        if row["ENTITY_TYPE_ID"] == OWNER_REQUISITE:
            store.delete("addresses", (row["TYPE_ID"], row["ENTITY_TYPE_ID"], row["ENTITY_ID"]))


def delete_for_owner(store: Store, entity_type_id: int, owner_id: int) -> None:
    """Deleting a company or contact deletes its requisites (and what hangs on them)."""
    for row in [r for r in store.where("requisites", "ENTITY_ID", owner_id) if r["ENTITY_TYPE_ID"] == entity_type_id]:
        delete_children(store, row["ID"])
        store.delete("requisites", row["ID"])


def _on_delete(call: Call, record: dict[str, Any]) -> None:
    delete_children(call.store, record["ID"])


CRUD = LegacyCrud(REQUISITE, defaults=_defaults, prepare=_prepare, on_delete=_on_delete)
CRUD.register("crm.requisite")

PRESETS = LegacyCrud(PRESET)
PRESETS.register("crm.requisite.preset", ops=("get", "list"))
