"""crm.requisite.link.register|get|list|unregister: which requisites and bank details a deal is issued on
(reference §4.5; EN ``crm/requisites/links/*.md``).

One link per object, ``register`` again replaces it; ``0`` means "none" for each of the four ids.  The
client's requisite must belong to the deal's client (its company, else its contact), a bank detail to the
requisite given with it, and the seller's ("my company") requisite to a company with ``IS_MY_COMPANY`` Y.
Checks and wording as EN ``crm-requisite-link-register.md``.  Only deals (ENTITY_TYPE_ID 2) are emulated:
other object types find no object.  ``get``/``list``/``unregister`` as EN ``crm-requisite-link-get.md``,
``-list.md`` and ``-unregister.md`` (their reply examples give the value types).  A link goes with its
deal, and loses a requisite that is deleted (``unlink_requisite``).  The links show in ``/_sandbox/state``
under ``requisite_links``.
"""

from __future__ import annotations

from typing import Any

from .. import listing, values
from ..errors import invalid
from ..store import Store
from . import Call, Result, method
from .common import OWNER_COMPANY, OWNER_CONTACT, OWNER_DEAL

TABLE = "requisite_links"
IDS = ("REQUISITE_ID", "BANK_DETAIL_ID", "MC_REQUISITE_ID", "MC_BANK_DETAIL_ID")


def _ids(fields: dict[str, Any]) -> dict[str, int]:
    """The six ids: the object's must be positive, the four requisite ids zero or more."""
    out = {}
    for name in ("ENTITY_TYPE_ID", "ENTITY_ID", *IDS):
        raw = fields.get(name)
        number = values.intval(raw, default=-1) if raw not in (None, "") else -1
        if number < (1 if name.startswith("ENTITY") else 0):
            raise invalid(f"{name} is not defined or invalid.")
        out[name] = number
    return out


def _client(deal: dict[str, Any]) -> tuple[int, str, int]:
    if deal.get("COMPANY_ID"):
        return OWNER_COMPANY, "Company", deal["COMPANY_ID"]
    return OWNER_CONTACT, "Contact", deal.get("CONTACT_ID") or 0


def _check_bank_detail(call: Call, detail_id: int, requisite_id: int, ours: str) -> None:
    if not detail_id:
        return
    detail = call.store.get("bank_details", detail_id)
    if detail is None:
        raise invalid(f"The BankDetail{ours} with ID '{detail_id}' is not found")
    if detail["ENTITY_ID"] != requisite_id:
        target = f"Requisite{ours} with ID '{requisite_id}'"
        raise invalid(f"The BankDetail{ours} with ID '{detail_id}' is not assigned to {target}")


def _check_client(call: Call, deal: dict[str, Any], ids: dict[str, int]) -> None:
    if ids["REQUISITE_ID"]:
        requisite = call.store.get("requisites", ids["REQUISITE_ID"])
        if requisite is None:
            raise invalid(f"The Requisite with ID '{ids['REQUISITE_ID']}' is not found")
        owner_type, owner_name, owner_id = _client(deal)
        if (requisite["ENTITY_TYPE_ID"], requisite["ENTITY_ID"]) != (owner_type, owner_id):
            raise invalid(f"The Requisite with ID '{ids['REQUISITE_ID']}' is not assigned to {owner_name} "
                          f"with ID '{owner_id}'")
    _check_bank_detail(call, ids["BANK_DETAIL_ID"], ids["REQUISITE_ID"], "")


def _check_seller(call: Call, ids: dict[str, int]) -> None:
    if ids["MC_REQUISITE_ID"]:
        requisite = call.store.get("requisites", ids["MC_REQUISITE_ID"])
        if requisite is None:
            raise invalid(f"The Requisite of your company with ID '{ids['MC_REQUISITE_ID']}' is not found")
        company = call.store.get("companies", requisite["ENTITY_ID"]) if requisite["ENTITY_TYPE_ID"] == OWNER_COMPANY \
            else None
        if company is None or company.get("IS_MY_COMPANY") != "Y":
            raise invalid(f"The Requisite with ID '{ids['MC_REQUISITE_ID']}' is not assigned to your company "
                          f"with ID '0'")
    _check_bank_detail(call, ids["MC_BANK_DETAIL_ID"], ids["MC_REQUISITE_ID"], " of your company")


@method("crm.requisite.link.register")
def register(call: Call) -> bool:
    """``true``; the deal's link now names these four ids (all ``0`` = no requisites chosen)."""
    ids = _ids(call.fields())
    deal = call.store.get("deals", ids["ENTITY_ID"]) if ids["ENTITY_TYPE_ID"] == OWNER_DEAL else None
    if deal is None:
        raise invalid("Entity is not found")
    _check_client(call, deal, ids)
    _check_seller(call, ids)
    call.store.put(TABLE, (ids["ENTITY_TYPE_ID"], ids["ENTITY_ID"]), dict(ids))
    return True


def _object(call: Call) -> tuple[int, int]:
    """``entityTypeId``/``entityId`` of ``get``/``unregister``: positive, else ``""`` "… is not defined or
    invalid." (the docs' tables; the full stop as in the unregister page's error example)."""
    out = []
    for name in ("entityTypeId", "entityId"):
        raw = call.param(name)
        number = values.intval(raw, default=0) if raw not in (None, "") else 0
        if number <= 0:
            raise invalid(f"{name} is not defined or invalid.")
        out.append(number)
    return out[0], out[1]


@method("crm.requisite.link.get")
def get(call: Call) -> dict[str, Any]:
    """The object's link as EN ``crm-requisite-link-get.md`` shows it: ENTITY_TYPE_ID and ENTITY_ID as
    integers, the four requisite ids as strings; no link → ``""`` "Not found"."""
    link = call.store.get(TABLE, _object(call))
    if link is None:
        raise invalid("Not found")
    return {"ENTITY_TYPE_ID": link["ENTITY_TYPE_ID"], "ENTITY_ID": link["ENTITY_ID"],
            **{name: str(link[name]) for name in IDS}}


FIELDS = ("ENTITY_TYPE_ID", "ENTITY_ID", *IDS)


def _kind(name: str) -> str | None:
    return "int" if name in FIELDS else None


@method("crm.requisite.link.list")
def list_(call: Call) -> Result:
    """EN ``crm-requisite-link-list.md``: every value a string, ``select`` (empty = all), ``filter`` with the
    usual prefixes, ``order``, pages of 50 from the ``start`` offset, ``total``."""
    rows = sorted(call.store.rows(TABLE), key=lambda r: (r["ENTITY_TYPE_ID"], r["ENTITY_ID"]))
    rows = listing.apply_filter(rows, call.param("filter"), lambda r, n: r.get(n), _kind)
    if isinstance(call.param("order"), dict) and call.param("order"):
        rows = listing.apply_order(rows, call.param("order"), lambda r, n: r.get(n), _kind)
    page = listing.paginate(rows, call.param("start"), call.config.page_size, floor_start=False)
    select = [values.text(s) for s in listing.as_list(call.param("select", default=[])) if s]
    names = [n for n in FIELDS if n in select] or list(FIELDS)
    return Result([{n: str(r[n]) for n in names} for r in page.rows], page.total, page.next)


@method("crm.requisite.link.unregister")
def unregister(call: Call) -> bool:
    """``true``, whether or not the object had a link (EN ``crm-requisite-link-unregister.md`` lists no
    "not found")."""
    call.store.delete(TABLE, _object(call))
    return True


def unlink_requisite(store: Store, requisite_id: int) -> None:
    """A deleted requisite leaves the links that name it: EN ``crm-requisite-delete.md`` ("deletes a requisite
    and all associated objects (links to other entities, addresses, bank details)").  As the portal's
    ``EntityLink::unregisterByRequisite`` does it: a link whose only requisite it was goes; a link that also
    names a requisite on the other side keeps that side and gets ``0`` for this side's requisite and bank
    detail."""
    for link in list(store.rows(TABLE)):
        client, seller = link["REQUISITE_ID"] == requisite_id, link["MC_REQUISITE_ID"] == requisite_id
        if not (client or seller):
            continue
        if (client and (seller or not link["MC_REQUISITE_ID"])) or (seller and not link["REQUISITE_ID"]):
            store.delete(TABLE, (link["ENTITY_TYPE_ID"], link["ENTITY_ID"]))
        elif client:
            link.update(REQUISITE_ID=0, BANK_DETAIL_ID=0)
        else:
            link.update(MC_REQUISITE_ID=0, MC_BANK_DETAIL_ID=0)
