"""crm.requisite.bankdetail.add|update|get|list|delete|fields (ENTITY_ID = the requisite's id)."""

from __future__ import annotations

from typing import Any

from .. import values
from ..entity import Entity, Field
from ..errors import ApiError, invalid
from . import Call
from .common import AUDIT, OWNER_REQUISITE, RO, required
from .legacy import LegacyCrud

RQ_BANK = (
    "RQ_BANK_NAME", "RQ_BANK_CODE", "RQ_BANK_ADDR", "RQ_BANK_ROUTE_NUM", "RQ_BIK", "RQ_MFO", "RQ_ACC_NAME",
    "RQ_ACC_NUM", "RQ_ACC_TYPE", "RQ_IIK", "RQ_ACC_CURRENCY", "RQ_COR_ACC_NUM", "RQ_IBAN", "RQ_SWIFT", "RQ_BIC",
    "RQ_CODEB", "RQ_CODEG", "RQ_RIB", "RQ_AGENCY_NAME",
)

BANK_DETAIL = Entity(
    name="bankdetail",
    table="bank_details",
    fields={
        "ID": RO,
        "ENTITY_TYPE_ID": Field("int", readonly=True),
        "ENTITY_ID": Field("int"),
        "COUNTRY_ID": Field("int"),
        "DATE_CREATE": AUDIT["DATE_CREATE"],
        "DATE_MODIFY": AUDIT["DATE_MODIFY"],
        "CREATED_BY_ID": AUDIT["CREATED_BY_ID"],
        "MODIFY_BY_ID": AUDIT["MODIFY_BY_ID"],
        "NAME": Field(),
        "CODE": Field(),
        "XML_ID": Field(),
        "ORIGINATOR_ID": Field(),
        "ACTIVE": Field("flag"),
        "SORT": Field("int"),
        **{name: Field() for name in RQ_BANK},
        "COMMENTS": Field(),
    },
    not_found=lambda bid: f"The BankDetail with ID '{bid}' is not found",
    floor_start=False,
    orm_select=True,
    touch_on_create=False,
)


def _defaults(call: Call) -> dict[str, Any]:
    return {"ENTITY_TYPE_ID": OWNER_REQUISITE, "COUNTRY_ID": 1, "ACTIVE": "Y", "SORT": 500}


def _prepare(call: Call, data: dict[str, Any], raw: dict[str, Any], existing: dict[str, Any] | None) -> None:
    if existing is None or "ENTITY_ID" in data:
        owner = data.get("ENTITY_ID")
        if not values.is_positive_id(owner) or call.store.get("requisites", owner) is None:
            # with the full stop: the docs' error-reply example has it, their table (and §4.7) drop it
            raise invalid("ENTITY_ID is not defined or invalid.")
    if (existing is None or "NAME" in data) and not (data.get("NAME") or "").strip():
        raise invalid(required("Name"))


def _delete_not_found(bank_detail_id: int) -> ApiError:
    # delete words it differently from get/update (RU crm-requisite-bank-detail-delete.md)
    return invalid(f"The RequisiteBankDetail with ID '{bank_detail_id}' is not found")


CRUD = LegacyCrud(BANK_DETAIL, defaults=_defaults, prepare=_prepare, delete_not_found=_delete_not_found)
CRUD.register("crm.requisite.bankdetail")
