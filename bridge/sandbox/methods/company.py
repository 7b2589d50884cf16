"""crm.company.add|update|get|list|fields."""

from __future__ import annotations

from ..entity import Entity, Field
from ..errors import invalid
from ..multifield import KINDS
from .common import ACTIVITY, AUDIT, EXTERNAL, RO, UTM, required
from .legacy import LegacyCrud

COMPANY = Entity(
    name="company",
    table="companies",
    fields={
        "ID": RO,
        "COMPANY_TYPE": Field(),
        "TITLE": Field(),
        "LEAD_ID": Field("int"),
        "HAS_PHONE": Field("flag", readonly=True),
        "HAS_EMAIL": Field("flag", readonly=True),
        "HAS_IMOL": Field("flag", readonly=True),
        "ASSIGNED_BY_ID": AUDIT["ASSIGNED_BY_ID"],
        "CREATED_BY_ID": AUDIT["CREATED_BY_ID"],
        "MODIFY_BY_ID": AUDIT["MODIFY_BY_ID"],
        "BANKING_DETAILS": Field(),
        "INDUSTRY": Field(),
        "REVENUE": Field("decimal"),
        "CURRENCY_ID": Field(),
        "EMPLOYEES": Field(),
        "COMMENTS": Field(),
        "DATE_CREATE": AUDIT["DATE_CREATE"],
        "DATE_MODIFY": AUDIT["DATE_MODIFY"],
        "OPENED": Field("flag"),
        "IS_MY_COMPANY": Field("flag"),
        **EXTERNAL,
        **ACTIVITY,
        **UTM,
    },
    multifields=KINDS,
    uf_entity="CRM_COMPANY",
)


def _defaults(call):
    return {"COMPANY_TYPE": "CUSTOMER", "HAS_PHONE": "N", "HAS_EMAIL": "N", "HAS_IMOL": "N",
            "ASSIGNED_BY_ID": call.user_id, "CURRENCY_ID": "RUB", "OPENED": "Y", "IS_MY_COMPANY": "N",
            "REVENUE": None, "INDUSTRY": None, "EMPLOYEES": None}


def _prepare(call, data, raw, existing):
    if (existing is None or "TITLE" in data) and not (data.get("TITLE") or "").strip():
        raise invalid(required("Company name"))


CRUD = LegacyCrud(COMPANY, defaults=_defaults, prepare=_prepare)
CRUD.register("crm.company")
