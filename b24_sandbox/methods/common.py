"""Field groups and messages shared by several crm.* families."""

from __future__ import annotations

from ..entity import Field

RO = Field("int", readonly=True)
USER = Field("int", type="user")
USER_RO = Field("int", readonly=True, type="user")
CURRENCY = Field(type="crm_currency")
LEAD = Field("int", readonly=True, type="crm_lead", parent=1)  # the lead it came from: set by conversion only
UTM = {name: Field() for name in ("UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM")}
AUDIT = {
    "ASSIGNED_BY_ID": USER,
    "CREATED_BY_ID": USER_RO,
    "MODIFY_BY_ID": USER_RO,
    "DATE_CREATE": Field("datetime", readonly=True),
    "DATE_MODIFY": Field("datetime", readonly=True),
}
EXTERNAL = {"ORIGINATOR_ID": Field(), "ORIGIN_ID": Field(), "ORIGIN_VERSION": Field()}
ACTIVITY = {"LAST_ACTIVITY_TIME": Field("datetime", readonly=True), "LAST_ACTIVITY_BY": USER_RO}
_ADDRESS_PARTS = ("", "_2", "_CITY", "_POSTAL_CODE", "_REGION", "_PROVINCE", "_COUNTRY", "_COUNTRY_CODE")


def status(status_type: str) -> Field:
    """A field holding an item of a crm.status list (``crm_status`` with that list as its ``statusType``)."""
    return Field(type="crm_status", status_type=status_type)


def address(prefix: str) -> dict[str, Field]:
    """The legacy address fields of a company or contact (``ADDRESS*``, ``REG_ADDRESS*``): plain writable
    fields that a portal always sends, null when unset (EN ``crm-company-get.md``, ``crm-contact-get.md``)."""
    fields = {prefix + part: Field() for part in _ADDRESS_PARTS}
    fields[prefix + "_LOC_ADDR_ID"] = Field("int")
    return fields

OWNER_LEAD, OWNER_DEAL, OWNER_CONTACT, OWNER_COMPANY, OWNER_REQUISITE = 1, 2, 3, 4, 8


def required(title: str) -> str:
    """Wording of a missing required field (core ``CheckFields``)."""
    return f'The "{title}" field is required.'
