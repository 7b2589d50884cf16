"""crm.contact.add|update|get|list|delete|fields and the contact ↔ company links.

``COMPANY_IDS`` is write-only (replaces the set of linked companies; the first becomes primary);
``COMPANY_ID`` is the primary company.  Links are read with ``crm.contact.company.items.get`` (or, from the
company's side, ``crm.company.contact.items.get``), grown with ``crm.contact.company.add`` and cut with
``crm.contact.company.delete``; when the primary link goes, the first remaining one becomes primary.  The
company's side (``crm.company.contact.add|delete|items.set|items.delete``) writes the same link rows, so
either side sees what the other wrote; ``IS_PRIMARY`` is one flag per link, as the recorded
``crm.company.contact.items.get`` shows it, kept by the contact's rules (one primary company per contact).
Deleting a contact removes its links, its requisites and its place on deals.
"""

from __future__ import annotations

from typing import Any

from .. import titles, values
from ..entity import Entity, Field
from ..errors import core, invalid
from ..multifield import KINDS
from ..store import Store
from . import Call, method
from .common import ACTIVITY, AUDIT, EXTERNAL, LEAD, OWNER_CONTACT, RO, UTM, address, status
from .legacy import LegacyCrud
from .requisite import delete_for_owner
from .status import first_status
from .timeline import delete_timeline

LINKS = "contact_company"
OWNER_INVALID = "The parameter 'ownerEntityID' is invalid or not defined."

CONTACT = Entity(
    name="contact",
    titles=titles.CONTACT,
    table="contacts",
    fields={
        "ID": RO,
        "HONORIFIC": status("HONORIFIC"),
        "NAME": Field(required=True),  # the docs mark all three names required (one of them is enough)
        "SECOND_NAME": Field(required=True),
        "LAST_NAME": Field(required=True),
        "PHOTO": Field("file"),
        "BIRTHDATE": Field("date"),
        "TYPE_ID": status("CONTACT_TYPE"),
        "SOURCE_ID": status("SOURCE"),
        "SOURCE_DESCRIPTION": Field(),
        "POST": Field(),
        **address("ADDRESS"),
        "COMMENTS": Field(),
        "OPENED": Field("flag"),
        "EXPORT": Field("flag"),
        "HAS_PHONE": Field("flag", readonly=True),
        "HAS_EMAIL": Field("flag", readonly=True),
        "HAS_IMOL": Field("flag", readonly=True),
        **AUDIT,
        "COMPANY_ID": Field("int", type="crm_company", deprecated=True),
        "COMPANY_IDS": Field("ids", writeonly=True, type="crm_company"),
        "LEAD_ID": LEAD,
        **EXTERNAL,
        "FACE_ID": Field("int", readonly=True),
        **ACTIVITY,
        **UTM,
    },
    multifields=KINDS,
    uf_entity="CRM_CONTACT",
)


def _defaults(call: Call) -> dict[str, Any]:
    return {"TYPE_ID": "CLIENT", "SOURCE_ID": first_status(call.store, "SOURCE"), "OPENED": "Y", "EXPORT": "Y",
            "HAS_PHONE": "N", "HAS_EMAIL": "N", "HAS_IMOL": "N", "ASSIGNED_BY_ID": call.user_id}


def links(store: Store, contact_id: int) -> list[dict[str, Any]]:
    rows = store.where(LINKS, "CONTACT_ID", contact_id)
    return sorted(rows, key=lambda r: r["SORT"])


def _promote_first(store: Store, contact_id: int) -> None:
    current = links(store, contact_id)
    if current and not any(r["IS_PRIMARY"] == "Y" for r in current):
        current[0]["IS_PRIMARY"] = "Y"


def remove_link(store: Store, contact_id: int, company_id: int) -> bool:
    if store.get(LINKS, (contact_id, company_id)) is None:
        return False
    store.delete(LINKS, (contact_id, company_id))
    _promote_first(store, contact_id)
    _sync_primary(store, contact_id)
    return True


def unlink_company(store: Store, company_id: int) -> None:
    """A deleted company leaves every contact it was linked to."""
    for row in store.where(LINKS, "COMPANY_ID", company_id):
        remove_link(store, row["CONTACT_ID"], company_id)


def _sync_primary(store: Store, contact_id: int) -> None:
    record = store.get("contacts", contact_id)
    if record is not None:
        primary = next((r for r in links(store, contact_id) if r["IS_PRIMARY"] == "Y"), None)
        record["COMPANY_ID"] = primary["COMPANY_ID"] if primary else None


def add_link(store: Store, contact_id: int, company_id: int, primary: bool | None = None,
             sort: int | None = None) -> bool:
    """Link a company; the first link is primary unless told otherwise.  False if already linked."""
    current = links(store, contact_id)
    if any(r["COMPANY_ID"] == company_id for r in current):
        return False
    make_primary = primary if primary is not None else not current
    if make_primary:
        for r in current:
            r["IS_PRIMARY"] = "N"
    if sort is None:
        sort = max((r["SORT"] for r in current), default=0) + 10
    store.put(LINKS, (contact_id, company_id), {"CONTACT_ID": contact_id, "COMPANY_ID": company_id,
                                                "SORT": sort, "ROLE_ID": 0,
                                                "IS_PRIMARY": "Y" if make_primary else "N"})
    _sync_primary(store, contact_id)
    return True


def set_links(store: Store, contact_id: int, company_ids: list[int]) -> None:
    for r in links(store, contact_id):
        store.delete(LINKS, (contact_id, r["COMPANY_ID"]))
    for n, company_id in enumerate(dict.fromkeys(company_ids)):
        if store.get("companies", company_id) is not None:
            add_link(store, contact_id, company_id, primary=n == 0, sort=(n + 1) * 10)
    _sync_primary(store, contact_id)


def _after_write(call: Call, record: dict[str, Any], raw: dict[str, Any], creating: bool) -> None:
    store, contact_id = call.store, record["ID"]
    company_ids = record.pop("COMPANY_IDS", None)
    if company_ids is not None and "COMPANY_IDS" in raw:
        set_links(store, contact_id, company_ids)
    elif "COMPANY_ID" in raw:
        company_id = values.intval(raw["COMPANY_ID"])
        if company_id > 0 and store.get("companies", company_id) is not None:
            existing = next((r for r in links(store, contact_id) if r["COMPANY_ID"] == company_id), None)
            if existing is None:
                add_link(store, contact_id, company_id, primary=True)
            else:
                for r in links(store, contact_id):
                    r["IS_PRIMARY"] = "Y" if r is existing else "N"
        elif company_id <= 0:
            for r in links(store, contact_id):
                if r["IS_PRIMARY"] == "Y":
                    store.delete(LINKS, (contact_id, r["COMPANY_ID"]))
    _sync_primary(store, contact_id)


def _on_delete(call: Call, record: dict[str, Any]) -> None:
    store, contact_id = call.store, record["ID"]
    for row in links(store, contact_id):
        store.delete(LINKS, (contact_id, row["COMPANY_ID"]))
    delete_for_owner(store, OWNER_CONTACT, contact_id)
    for deal in store.rows("deals"):
        remaining = [c for c in deal.get("_contacts") or ([deal["CONTACT_ID"]] if deal.get("CONTACT_ID") else [])
                     if c != contact_id]
        if remaining != (deal.get("_contacts") or []) or deal.get("CONTACT_ID") == contact_id:
            deal["_contacts"] = remaining
            deal["CONTACT_ID"] = remaining[0] if remaining else None
    delete_timeline(store, "contact", contact_id)


CRUD = LegacyCrud(CONTACT, defaults=_defaults, after_write=_after_write, on_delete=_on_delete, importable=True,
                  update_not_found=lambda _id: invalid("Contact is not found"),  # CCrmContactRestProxy::innerUpdate
                  delete_not_found=lambda _id: core("Element not found"))
CRUD.register("crm.contact")


def owner_id(call: Call) -> int:
    """The ``id`` of a link method (``ownerEntityID`` in the portal's wording)."""
    raw = call.param("id", "ID")
    if not values.is_positive_id(raw):
        raise invalid(OWNER_INVALID)
    return values.intval(raw)


@method("crm.contact.company.add")
def company_add(call: Call) -> bool:
    contact_id = call.id()
    fields = call.fields()
    CRUD.find(call, contact_id)
    company_id = values.intval(fields.get("COMPANY_ID"))
    if company_id <= 0:
        raise invalid("The parameter 'COMPANY_ID' is invalid or not defined.")
    if call.store.get("companies", company_id) is None:
        raise invalid("Not found")
    primary = values.flag(fields["IS_PRIMARY"]) == "Y" if "IS_PRIMARY" in fields else None
    sort = values.intval(fields["SORT"]) if fields.get("SORT") not in (None, "") else None
    return add_link(call.store, contact_id, company_id, primary, sort)


@method("crm.contact.company.delete")
def company_delete(call: Call) -> bool:
    """Cut one link: ``true``, or ``false`` when the company was not linked to the contact."""
    contact_id = owner_id(call)
    fields = call.param("fields", "FIELDS")
    if not isinstance(fields, dict):
        raise invalid("The parameter 'fields' must be array.")
    CRUD.find(call, contact_id)
    company_id = values.intval(fields.get("COMPANY_ID"))
    if company_id <= 0:
        raise invalid("The parameter 'fields' is not valid.")
    return remove_link(call.store, contact_id, company_id)


@method("crm.company.contact.items.get")
def contact_items_get(call: Call) -> list[dict[str, Any]]:
    """The company's side of the same links: ``{CONTACT_ID, SORT, ROLE_ID, IS_PRIMARY}`` with int ids."""
    company_id = owner_id(call)
    if call.store.get("companies", company_id) is None:
        raise invalid("Not found")
    rows = sorted(call.store.where(LINKS, "COMPANY_ID", company_id),
                  key=lambda r: (r["SORT"], r["CONTACT_ID"]))
    return [{"CONTACT_ID": r["CONTACT_ID"], "SORT": r["SORT"], "ROLE_ID": r["ROLE_ID"],
             "IS_PRIMARY": r["IS_PRIMARY"]} for r in rows]


@method("crm.contact.company.items.get")
def company_items_get(call: Call) -> list[dict[str, Any]]:
    contact_id = owner_id(call)
    CRUD.find(call, contact_id)
    return [{"COMPANY_ID": r["COMPANY_ID"], "SORT": r["SORT"], "ROLE_ID": r["ROLE_ID"],
             "IS_PRIMARY": r["IS_PRIMARY"]} for r in links(call.store, contact_id)]


@method("crm.contact.company.items.set")
def company_items_set(call: Call) -> bool:
    contact_id = call.id()
    CRUD.find(call, contact_id)
    items = call.param("items", "ITEMS", default=[])
    items = list(items.values()) if isinstance(items, dict) else items if isinstance(items, list) else []
    store = call.store
    for r in links(store, contact_id):
        store.delete(LINKS, (contact_id, r["COMPANY_ID"]))
    rows = [i for i in items if isinstance(i, dict) and values.intval(i.get("COMPANY_ID")) > 0]
    explicit = any(values.flag(i.get("IS_PRIMARY", "N")) == "Y" for i in rows)
    for n, item in enumerate(rows):
        primary = values.flag(item.get("IS_PRIMARY", "N")) == "Y" if explicit else n == 0
        sort = values.intval(item["SORT"]) if item.get("SORT") not in (None, "") else (n + 1) * 10
        add_link(store, contact_id, values.intval(item["COMPANY_ID"]), primary, sort)
    _sync_primary(store, contact_id)
    return True


@method("crm.contact.company.items.delete")
def company_items_delete(call: Call) -> bool:
    """Cut every link of the contact: ``true``; COMPANY_ID becomes empty."""
    contact_id = owner_id(call)
    CRUD.find(call, contact_id)
    for row in links(call.store, contact_id):
        remove_link(call.store, contact_id, row["COMPANY_ID"])
    return True


def _company(call: Call) -> int:
    company_id = owner_id(call)
    if call.store.get("companies", company_id) is None:
        raise invalid("Not found")
    return company_id


def _link_fields(call: Call) -> dict[str, Any]:
    fields = call.param("fields", "FIELDS")
    if not isinstance(fields, dict):
        raise invalid("The parameter 'fields' must be array.")
    return fields


def _primary_and_sort(item: dict[str, Any]) -> tuple[bool | None, int | None]:
    primary = values.flag(item["IS_PRIMARY"]) == "Y" if "IS_PRIMARY" in item else None
    sort = values.intval(item["SORT"]) if item.get("SORT") not in (None, "") else None
    return primary, sort


@method("crm.company.contact.add")
def contact_add(call: Call) -> bool:
    """The company's side of ``crm.contact.company.add``: ``true``, or ``false`` if already linked."""
    company_id = _company(call)
    fields = _link_fields(call)
    contact_id = values.intval(fields.get("CONTACT_ID"))
    if contact_id <= 0:
        raise invalid("The parameter 'fields' is not valid.")
    if call.store.get("contacts", contact_id) is None:
        raise invalid("Not found")
    return add_link(call.store, contact_id, company_id, *_primary_and_sort(fields))


@method("crm.company.contact.delete")
def contact_delete(call: Call) -> bool:
    """Cut one link from the company's side: ``true``, or ``false`` when that contact was not linked."""
    company_id = _company(call)
    contact_id = values.intval(_link_fields(call).get("CONTACT_ID"))
    if contact_id <= 0:
        raise invalid("The parameter 'fields' is not valid.")
    return remove_link(call.store, contact_id, company_id)


def _unlink_all_contacts(store: Store, company_id: int) -> None:
    for row in list(store.where(LINKS, "COMPANY_ID", company_id)):
        remove_link(store, row["CONTACT_ID"], company_id)


@method("crm.company.contact.items.set")
def contact_items_set(call: Call) -> bool:
    """Replace the company's contacts; unknown contacts are skipped; SORT defaults to 10, 20, …"""
    company_id = _company(call)
    items = call.param("items", "ITEMS", default=[])
    items = list(items.values()) if isinstance(items, dict) else items if isinstance(items, list) else []
    _unlink_all_contacts(call.store, company_id)
    rows = [i for i in items if isinstance(i, dict) and call.store.get("contacts", values.intval(i.get("CONTACT_ID")))]
    for n, item in enumerate(rows):
        primary, sort = _primary_and_sort(item)
        add_link(call.store, values.intval(item["CONTACT_ID"]), company_id, primary, sort or (n + 1) * 10)
    return True


@method("crm.company.contact.items.delete")
def contact_items_delete(call: Call) -> bool:
    """Cut every contact of the company: ``true``; each contact's next company becomes its primary."""
    _unlink_all_contacts(call.store, _company(call))
    return True
