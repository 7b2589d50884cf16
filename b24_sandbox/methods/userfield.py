"""crm.deal|company|contact.userfield.add|list|get|update|delete: custom ``UF_CRM_*`` field definitions.

FIELD_NAME is normalised the portal's way (``UF_CRM_`` always added, upper-cased) and must then be at most
50 characters of ``A-Z 0-9 _``.  Labels are kept per language, as ``UserFieldProxy::prepareLabels`` fills
them: a string goes to every language, an object to the languages it names and ``LABEL`` (else the field
name) to the others.  ``SETTINGS`` holds the type's defaults as the proxy's ``add`` fills them.  Values of
defined fields are stored on the records and returned by ``get``/``list`` (see :mod:`b24_sandbox.entity`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
# the portal languages of the docs' crm-deal-userfield-get.md example, in its order
LANGUAGES = ("ar", "br", "de", "en", "fr", "hi", "id", "in", "it", "ja", "kz", "la", "ms", "pl", "ru", "sc", "tc",
             "th", "tr", "ua", "vn")


def normalize_name(raw: str) -> str:
    name = raw.strip().upper()
    if name.startswith("UF_CRM_"):
        return name
    if name.startswith("UF_"):
        return "UF_CRM_" + name[3:]
    return "UF_CRM_" + name


def _labels(value: Any, default: str) -> dict[str, str]:
    """One text per language (``prepareLabels``): a non-empty string for all, else the object's non-empty
    texts and ``default`` for the languages it leaves out."""
    if isinstance(value, str) and value:
        return {lang: value for lang in LANGUAGES}
    given = value if isinstance(value, dict) else {}
    return {lang: given[lang] if isinstance(given.get(lang), str) and given[lang] else default
            for lang in LANGUAGES}


def _number(value: Any, default: Any, ok: Callable[[Any], bool]) -> Any:
    return value if isinstance(value, (int, float)) and ok(value) else default


def _date_default(value: Any) -> dict[str, str]:
    value = value if isinstance(value, dict) else {"VALUE": value, "TYPE": "NONE"} if value is not None else {}
    return {"VALUE": values.text(value.get("VALUE")),
            "TYPE": values.text(value.get("TYPE")).upper() or "NONE"}


def _show_filter(value: Any) -> str:
    """SHOW_FILTER as add and update store it: N, I, E or S as given; Y means E (the proxy's shorthand)."""
    text = values.text(value).upper()
    return "E" if text == "Y" else text if text in ("N", "I", "E", "S") else "N"


def default_settings(user_type: str, given: dict[str, Any]) -> dict[str, Any]:
    """``SETTINGS`` as the proxy's ``add`` fills them per type; the string type also gets the keys the
    docs' get example shows (SIZE, REGEXP, MIN/MAX_LENGTH).  Other types keep none (PHP sends ``[]``)."""
    def upper(key: str, default: str) -> str:
        return values.text(given.get(key)).upper() or default

    if user_type == "string":
        return {"SIZE": 20, "ROWS": _number(values.intval(given.get("ROWS")), 1, lambda v: v > 0), "REGEXP": "",
                "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": given.get("DEFAULT_VALUE")}  # null: as recorded
    if user_type == "integer":
        return {"DEFAULT_VALUE": given.get("DEFAULT_VALUE", "")}
    if user_type == "double":
        return {"DEFAULT_VALUE": given.get("DEFAULT_VALUE", ""),
                "PRECISION": _number(values.intval(given.get("PRECISION", 2)), 2, lambda v: v >= 0)}
    if user_type == "boolean":
        return {"DEFAULT_VALUE": 1 if values.intval(given.get("DEFAULT_VALUE")) > 0 else 0,
                "DISPLAY": upper("DISPLAY", "CHECKBOX")}
    if user_type in ("date", "datetime"):
        return {"DEFAULT_VALUE": _date_default(given.get("DEFAULT_VALUE"))}
    if user_type == "enumeration":
        return {"DISPLAY": upper("DISPLAY", "LIST"),
                "LIST_HEIGHT": _number(values.intval(given.get("LIST_HEIGHT")), 1, lambda v: v > 0)}
    if user_type in ("iblock_section", "iblock_element"):
        return {"IBLOCK_TYPE_ID": values.text(given.get("IBLOCK_TYPE_ID")),
                "IBLOCK_ID": values.intval(given.get("IBLOCK_ID")), "DEFAULT_VALUE": given.get("DEFAULT_VALUE", ""),
                "DISPLAY": upper("DISPLAY", "LIST"),
                "LIST_HEIGHT": _number(values.intval(given.get("LIST_HEIGHT")), 1, lambda v: v > 0),
                "ACTIVE_FILTER": "Y" if upper("ACTIVE_FILTER", "N") == "Y" else "N"}
    if user_type == "crm_status":
        return {"ENTITY_TYPE": values.text(given.get("ENTITY_TYPE"))}
    if user_type == "crm":
        return {k: "Y" if values.text(given.get(k)).upper() == "Y" else "N" for k in ("LEAD", "CONTACT", "COMPANY", "DEAL")}
    return {}


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
    default_label = values.text(fields.get("LABEL")).strip() or name
    settings = fields.get("SETTINGS") if isinstance(fields.get("SETTINGS"), dict) else {}
    record: dict[str, Any] = {
        "ENTITY_ID": entity_id,
        "FIELD_NAME": name,
        "USER_TYPE_ID": user_type,
        "XML_ID": values.text(fields.get("XML_ID")) or None,
        "SORT": values.intval(fields.get("SORT", 100)),
        "MULTIPLE": multiple,
        "MANDATORY": values.flag(fields.get("MANDATORY", "N")),
        "SHOW_FILTER": _show_filter(fields.get("SHOW_FILTER", "N")),
        "SHOW_IN_LIST": values.flag(fields.get("SHOW_IN_LIST", "Y")),
        "EDIT_IN_LIST": values.flag(fields.get("EDIT_IN_LIST", "Y")),
        "IS_SEARCHABLE": values.flag(fields.get("IS_SEARCHABLE", "N")),
        "SETTINGS": default_settings(user_type, settings),
    }
    for key in LABELS:
        record[key] = _labels(fields.get(key), default_label)
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
           "IS_SEARCHABLE": record["IS_SEARCHABLE"], "SETTINGS": record["SETTINGS"] or []}
    if "LIST" in record:
        out["LIST"] = record["LIST"]
    for key in LABELS:
        if lang == "*":
            out[key] = dict(record[key])
        elif lang:
            out[key] = record[key].get(lang, "")
    return out


def _kind(name: str) -> str | None:
    if name in ("ID", "SORT"):
        return "int"
    return "str" if name in ("ENTITY_ID", "FIELD_NAME", "USER_TYPE_ID", "XML_ID", "MULTIPLE", "MANDATORY") else None


def _list(call: Call, entity_id: str) -> Result:
    filter_ = call.array_param("filter", default={})
    filter_ = dict(filter_) if isinstance(filter_, dict) else {}
    lang = values.text(filter_.pop("LANG", "")) or None
    rows = [r for r in call.store.rows(TABLE) if r["ENTITY_ID"] == entity_id]
    rows = listing.apply_filter(rows, filter_, lambda r, n: r.get(n), _kind)
    rows = listing.apply_order(rows, call.array_param("order"), lambda r, n: r.get(n), _kind)
    return Result([render(r, lang) for r in rows], len(rows))


def _find(call: Call, entity_id: str) -> dict[str, Any]:
    """The field ``get``/``update``/``delete`` name (``UserFieldProxy``): none → ``ERROR_NOT_FOUND``, a field of
    another entity → "Access denied."."""
    field_id = call.id()
    record = call.store.get(TABLE, field_id)
    if record is None:
        raise ApiError("ERROR_NOT_FOUND", f"The entity with ID '{field_id}' is not found.", 400)
    if record["ENTITY_ID"] != entity_id:
        raise invalid("Access denied.")
    return record


def _get(call: Call, entity_id: str) -> dict[str, Any]:
    """The definition with every label as a per-language object (EN ``crm-deal-userfield-get.md``)."""
    return render(_find(call, entity_id), "*")


def _update(call: Call, entity_id: str) -> bool:
    """Only what is given changes; a given label replaces all languages ('' for those it leaves out);
    ``SETTINGS`` overwrites only the keys passed; the type, name and entity stay."""
    record = _find(call, entity_id)
    fields = call.fields()
    for key in ("MANDATORY", "SHOW_IN_LIST", "EDIT_IN_LIST", "IS_SEARCHABLE"):
        if key in fields:
            record[key] = values.flag(fields[key])
    if "SHOW_FILTER" in fields:
        record["SHOW_FILTER"] = _show_filter(fields["SHOW_FILTER"])
    if "MULTIPLE" in fields and record["USER_TYPE_ID"] != "boolean":
        record["MULTIPLE"] = values.flag(fields["MULTIPLE"])
    if "XML_ID" in fields:
        record["XML_ID"] = values.text(fields["XML_ID"]) or None
    if values.intval(fields.get("SORT")) > 0:
        record["SORT"] = values.intval(fields["SORT"])
    if isinstance(fields.get("SETTINGS"), dict):
        merged = {**record["SETTINGS"], **fields["SETTINGS"]}
        record["SETTINGS"] = {k: v for k, v in default_settings(record["USER_TYPE_ID"], merged).items()
                              if k in record["SETTINGS"] or k in fields["SETTINGS"]}
    for key in LABELS:
        if fields.get(key) is not None:
            record[key] = _labels(fields[key], "")
    return True


def _delete(call: Call, entity_id: str) -> bool:
    """The definition goes; values stored on records are no longer returned (the field is undefined)."""
    call.store.delete(TABLE, _find(call, entity_id)["ID"])
    return True


def _register(short: str, entity_id: str) -> None:
    method(f"crm.{short}.userfield.add")(lambda call: _add(call, entity_id))
    method(f"crm.{short}.userfield.list")(lambda call: _list(call, entity_id))
    method(f"crm.{short}.userfield.get")(lambda call: _get(call, entity_id))
    method(f"crm.{short}.userfield.update")(lambda call: _update(call, entity_id))
    method(f"crm.{short}.userfield.delete")(lambda call: _delete(call, entity_id))


for _short, _entity in ENTITIES.items():
    _register(_short, _entity)
