"""crm.deal.contact.add|delete|items.get|items.set|items.delete: the contacts of a deal.

They read and write the same list as the deal's ``CONTACT_IDS``/``CONTACT_ID`` (``_contacts`` on the record, in
SORT order; ``CONTACT_ID`` is the primary one), so ``crm.deal.get`` and these methods always agree.  The
first contact is primary unless another is marked; when the primary goes, the first remaining one takes
over.  SORT defaults to max + 10 on ``add`` and 10, 20, … on ``items.set`` (EN ``crm/deals/contacts/*.md``).
"""

from __future__ import annotations

from typing import Any

from .. import values
from ..errors import invalid
from . import Call, method
from .contact import owner_id

NOT_FOUND = "Not found."  # the deal docs' wording (items.delete's page alone prints it without the stop)


def links(deal: dict[str, Any]) -> list[dict[str, Any]]:
    """``{CONTACT_ID, SORT, ROLE_ID, IS_PRIMARY}`` rows with ints, by SORT."""
    ids = deal.get("_contacts") or ([deal["CONTACT_ID"]] if deal.get("CONTACT_ID") else [])
    sorts = deal.get("_contact_sort") or {}
    rows = [{"CONTACT_ID": cid, "SORT": sorts.get(str(cid), (n + 1) * 10), "ROLE_ID": 0,
             "IS_PRIMARY": "Y" if cid == deal.get("CONTACT_ID") else "N"} for n, cid in enumerate(ids)]
    return sorted(rows, key=lambda r: r["SORT"])


def write(deal: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Store ``rows``; the one marked primary (else the first) becomes CONTACT_ID."""
    rows = sorted(rows, key=lambda r: r["SORT"])
    primary = next((r for r in rows if r["IS_PRIMARY"] == "Y"), rows[0] if rows else None)
    deal["_contacts"] = [r["CONTACT_ID"] for r in rows]
    deal["_contact_sort"] = {str(r["CONTACT_ID"]): r["SORT"] for r in rows}
    deal["CONTACT_ID"] = primary["CONTACT_ID"] if primary else None


def _deal(call: Call, not_found: str = NOT_FOUND) -> dict[str, Any]:
    deal = call.store.get("deals", owner_id(call))
    if deal is None:
        raise invalid(not_found)
    return deal


def _contact_id(call: Call, not_array: str) -> int:
    fields = call.param("fields", "FIELDS")
    if not isinstance(fields, dict):
        raise invalid(not_array)
    contact_id = values.intval(fields.get("CONTACT_ID"))
    if contact_id <= 0:
        raise invalid("The parameter 'fields' is not valid.")
    return contact_id


def _row(item: dict[str, Any], sort: int, primary: bool) -> dict[str, Any]:
    given = values.intval(item["SORT"]) if item.get("SORT") not in (None, "") else None
    return {"CONTACT_ID": values.intval(item["CONTACT_ID"]), "SORT": given if given is not None else sort,
            "ROLE_ID": 0, "IS_PRIMARY": "Y" if primary else "N"}


@method("crm.deal.contact.add")
def add(call: Call) -> bool:
    """``true``, or ``false`` when the contact is already on the deal; IS_PRIMARY=Y takes primary over."""
    deal = _deal(call)
    contact_id = _contact_id(call, "The parameter 'fields' must be array.")
    current = links(deal)
    if any(r["CONTACT_ID"] == contact_id for r in current):
        return False
    fields = call.param("fields", "FIELDS")
    primary = values.flag(fields["IS_PRIMARY"]) == "Y" if "IS_PRIMARY" in fields else not current
    if primary:
        for r in current:
            r["IS_PRIMARY"] = "N"
    sort = max((r["SORT"] for r in current), default=0) + 10
    write(deal, [*current, _row({**fields, "CONTACT_ID": contact_id}, sort, primary)])
    return True


@method("crm.deal.contact.delete")
def delete(call: Call) -> bool:
    """``true``, or ``false`` when the contact is not on the deal; the next one becomes primary."""
    deal = _deal(call)
    contact_id = _contact_id(call, "The parameter 'item' must be array.")
    current = links(deal)
    kept = [r for r in current if r["CONTACT_ID"] != contact_id]
    if len(kept) == len(current):
        return False
    write(deal, kept)
    return True


@method("crm.deal.contact.items.get")
def items_get(call: Call) -> list[dict[str, Any]]:
    return links(_deal(call))


@method("crm.deal.contact.items.set")
def items_set(call: Call) -> bool:
    """Replace all: items without a CONTACT_ID are skipped; no IS_PRIMARY=Y → the first is primary."""
    deal = _deal(call)
    items = call.param("items", "ITEMS")
    items = list(items.values()) if isinstance(items, dict) else items
    if not isinstance(items, list):
        raise invalid("The parameter 'items' must be array.")
    items = [i for i in items if isinstance(i, dict) and values.intval(i.get("CONTACT_ID")) > 0]
    marked = next((n for n, i in enumerate(items) if values.flag(i.get("IS_PRIMARY", "N")) == "Y"), 0)
    write(deal, [_row(item, (n + 1) * 10, n == marked) for n, item in enumerate(items)])
    return True


@method("crm.deal.contact.items.delete")
def items_delete(call: Call) -> bool:
    write(_deal(call, "Not found"), [])
    return True
