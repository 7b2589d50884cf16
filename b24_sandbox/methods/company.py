"""crm.company.add|update|get|list|delete|fields.

Deleting a company deletes its requisites (with their bank details and addresses) and its timeline,
unlinks it from its contacts (another link becomes primary) and clears it from deals.
"""

from __future__ import annotations

from .. import titles
from ..entity import Entity, Field
from ..errors import ApiError, invalid
from ..multifield import KINDS
from .common import (ACTIVITY, AUDIT, CURRENCY, EXTERNAL, LEAD, OWNER_COMPANY, RO, UTM, address, required,
                     status)
from .contact import unlink_company
from .legacy import LegacyCrud
from .requisite import delete_for_owner
from .status import first_status
from .timeline import delete_timeline

COMPANY = Entity(
    name="company",
    titles=titles.COMPANY,
    table="companies",
    fields={
        "ID": RO,
        "COMPANY_TYPE": status("COMPANY_TYPE"),
        "TITLE": Field(required=True),
        "LOGO": Field("file"),
        "LEAD_ID": LEAD,
        "HAS_PHONE": Field("flag", readonly=True),
        "HAS_EMAIL": Field("flag", readonly=True),
        "HAS_IMOL": Field("flag", readonly=True),
        "ASSIGNED_BY_ID": AUDIT["ASSIGNED_BY_ID"],
        "CREATED_BY_ID": AUDIT["CREATED_BY_ID"],
        "MODIFY_BY_ID": AUDIT["MODIFY_BY_ID"],
        "BANKING_DETAILS": Field(),
        "INDUSTRY": status("INDUSTRY"),
        "REVENUE": Field("decimal"),
        "CURRENCY_ID": CURRENCY,
        "EMPLOYEES": status("EMPLOYEES"),
        "COMMENTS": Field(),
        "DATE_CREATE": AUDIT["DATE_CREATE"],
        "DATE_MODIFY": AUDIT["DATE_MODIFY"],
        "OPENED": Field("flag"),
        "IS_MY_COMPANY": Field("flag"),
        **EXTERNAL,
        **address("ADDRESS"),
        "ADDRESS_LEGAL": Field(),
        **address("REG_ADDRESS"),
        **ACTIVITY,
        "LAST_COMMUNICATION_TIME": Field(readonly=True),
        **UTM,
    },
    multifields=KINDS,
    uf_entity="CRM_COMPANY",
)


def _defaults(call):
    return {"COMPANY_TYPE": "CUSTOMER", "HAS_PHONE": "N", "HAS_EMAIL": "N", "HAS_IMOL": "N",
            "ASSIGNED_BY_ID": call.user_id, "CURRENCY_ID": "RUB", "OPENED": "Y", "IS_MY_COMPANY": "N",
            "REVENUE": None, "INDUSTRY": first_status(call.store, "INDUSTRY"),
            "EMPLOYEES": first_status(call.store, "EMPLOYEES")}


def _prepare(call, data, raw, existing):
    if (existing is None or "TITLE" in data) and not (data.get("TITLE") or "").strip():
        raise invalid(required("Company name"))


def _on_delete(call, record):
    store, company_id = call.store, record["ID"]
    unlink_company(store, company_id)
    delete_for_owner(store, OWNER_COMPANY, company_id)
    for deal in store.rows("deals"):
        if deal.get("COMPANY_ID") == company_id:
            deal["COMPANY_ID"] = None
    delete_timeline(store, "company", company_id)


def _not_found(_id: int) -> ApiError:
    # CCrmCompanyRestProxy::innerUpdate's own text (EN crm-company-update.md); get keeps the base "Not found"
    return invalid("Company is not found")


CRUD = LegacyCrud(COMPANY, defaults=_defaults, prepare=_prepare, on_delete=_on_delete, importable=True,
                  update_not_found=_not_found, delete_not_found=_not_found)
CRUD.register("crm.company")
