"""crm.deal|company|contact.userfield.add|list|get: custom ``UF_CRM_*`` field definitions.

FIELD_NAME is normalised the portal's way (``UF_CRM_`` always added, upper-cased) and must then be at most
50 characters of ``A-Z 0-9 _``.  ``LABEL`` fills every label that is not given.  Values of defined fields
are stored on the records and returned by ``get``/``list`` (see :mod:`b24_sandbox.entity`).
"""

from __future__ import annotations

import re
from typing import Any

from .. import listing, values
from ..errors import ApiError, core, invalid
from . import Call, Result, method

TABLE = "userfields"
USER_TYPES = ("string", "integer", "double", "boolean", "datetime", "date", "money", "url", "address",
              "enumeration", "file", "employee", "crm_status", "iblock_section", "iblock_element", "crm")
LABELS = ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL", "ERROR_MESSAGE", "HELP_MESSAGE")
ENTITIES = {"deal": "CRM_DEAL", "company": "CRM_COMPANY", "contact": "CRM_CONTACT"}
_NAME = re.compile(r"^[A-Z0-9_]+$")
MAX_NAME = 50


def normalize_name(raw: str) -> str:
    name = raw.strip().upper()
    if name.startswith("UF_CRM_"):
        return name
    if name.startswith("UF_"):
        return "UF_CRM_" + name[3:]
    return "UF_CRM_" + name


def _label(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): values.text(v) for k, v in value.items()}
    return {"ru": values.text(value), "en": values.text(value)} if values.text(value) else {}


def _add(call: Call, entity_id: str) -> int:
    fields = call.fields()
    for required in ("FIELD_NAME", "USER_TYPE_ID"):
        if not values.text(fields.get(required)).strip():
            raise invalid(f"The '{required}' field is not found.")
    user_type = values.text(fields["USER_TYPE_ID"]).strip()
    if user_type not in USER_TYPES:
        raise core("Incorrect custom type specified.")
    name = normalize_name(values.text(fields["FIELD_NAME"]))
    if len(name) > MAX_NAME:
        raise core(f"Field name \"{name}\" is longer than {MAX_NAME} characters.")
    if not _NAME.match(name):
        raise core(f"Field name \"{name}\" may contain only Latin letters A-Z, digits and underscore.")
    if any(uf["FIELD_NAME"] == name and uf["ENTITY_ID"] == entity_id for uf in call.store.rows(TABLE)):
        raise core(f"A field with the code \"{name}\" already exists.")
    multiple = values.flag(fields.get("MULTIPLE", "N"))
    if user_type == "boolean":
        multiple = "N"
    label = _label(fields.get("LABEL", ""))
    record: dict[str, Any] = {
        "ENTITY_ID": entity_id,
        "FIELD_NAME": name,
        "USER_TYPE_ID": user_type,
        "XML_ID": values.text(fields.get("XML_ID")) or None,
        "SORT": values.intval(fields.get("SORT", 100)),
        "MULTIPLE": multiple,
        "MANDATORY": values.flag(fields.get("MANDATORY", "N")),
        "SHOW_FILTER": values.text(fields.get("SHOW_FILTER", "N")) or "N",
        "SHOW_IN_LIST": values.flag(fields.get("SHOW_IN_LIST", "Y")),
        "EDIT_IN_LIST": values.flag(fields.get("EDIT_IN_LIST", "Y")),
        "IS_SEARCHABLE": values.flag(fields.get("IS_SEARCHABLE", "N")),
        "SETTINGS": fields.get("SETTINGS") if isinstance(fields.get("SETTINGS"), dict) else {},
        "LABEL": label.get("ru") or label.get("en") or "",
    }
    for key in LABELS:
        record[key] = _label(fields[key]) if key in fields else dict(label)
    new_id = call.store.insert(TABLE, record)
    if user_type == "enumeration":
        items = listing.as_list(fields.get("LIST", []))
        record["LIST"] = [{"ID": str(call.store.next_id("uf_enum")), "SORT": str(values.intval(i.get("SORT", 500))),
                           "VALUE": values.text(i.get("VALUE")), "DEF": values.flag(i.get("DEF", "N")),
                           "XML_ID": values.text(i.get("XML_ID")) or None}
                          for i in items if isinstance(i, dict)]
    return new_id


def render(record: dict[str, Any], lang: str | None) -> dict[str, Any]:
    out = {"ID": str(record["ID"]), "ENTITY_ID": record["ENTITY_ID"], "FIELD_NAME": record["FIELD_NAME"],
           "USER_TYPE_ID": record["USER_TYPE_ID"], "XML_ID": record["XML_ID"], "SORT": str(record["SORT"]),
           "MULTIPLE": record["MULTIPLE"], "MANDATORY": record["MANDATORY"], "SHOW_FILTER": record["SHOW_FILTER"],
           "SHOW_IN_LIST": record["SHOW_IN_LIST"], "EDIT_IN_LIST": record["EDIT_IN_LIST"],
           "IS_SEARCHABLE": record["IS_SEARCHABLE"], "SETTINGS": record["SETTINGS"]}
    if "LIST" in record:
        out["LIST"] = record["LIST"]
    if lang:
        for key in LABELS:
            out[key] = record[key].get(lang, "")
    return out


def _kind(name: str) -> str | None:
    if name in ("ID", "SORT"):
        return "int"
    return "str" if name in ("ENTITY_ID", "FIELD_NAME", "USER_TYPE_ID", "XML_ID", "MULTIPLE", "MANDATORY") else None


def _list(call: Call, entity_id: str) -> Result:
    filter_ = call.param("filter", "FILTER", default={})
    filter_ = dict(filter_) if isinstance(filter_, dict) else {}
    lang = values.text(filter_.pop("LANG", "")) or None
    rows = [r for r in call.store.rows(TABLE) if r["ENTITY_ID"] == entity_id]
    rows = listing.apply_filter(rows, filter_, lambda r, n: r.get(n), _kind)
    rows = listing.apply_order(rows, call.param("order", "ORDER"), lambda r, n: r.get(n), _kind)
    return Result([render(r, lang) for r in rows], len(rows))


def _get(call: Call, entity_id: str) -> dict[str, Any]:
    record = call.store.get(TABLE, call.id())
    if record is None or record["ENTITY_ID"] != entity_id:
        raise ApiError("", f"The entity with ID '{call.id()}' is not found.", 400)
    return render(record, "ru")


def _register(short: str, entity_id: str) -> None:
    method(f"crm.{short}.userfield.add")(lambda call: _add(call, entity_id))
    method(f"crm.{short}.userfield.list")(lambda call: _list(call, entity_id))
    method(f"crm.{short}.userfield.get")(lambda call: _get(call, entity_id))


for _short, _entity in ENTITIES.items():
    _register(_short, _entity)
