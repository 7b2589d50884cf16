"""add / update / get / list for legacy crm.* entities, driven by an :class:`~b24_sandbox.entity.Entity`.

Each family module (company, contact, deal, requisite, …) describes its entity and plugs hooks into
:class:`LegacyCrud` for what is special about it (validation, defaults, links); the common protocol —
int id from ``add``, ``true`` from ``update``, strings from ``get``/``list``, ``400 ""`` for a missing
record — lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import listing, multifield, values
from ..entity import Entity, Field, externalize, internalize, selection, uf_definitions
from ..errors import ApiError, invalid
from . import Call, Result, method

Hook = Callable[..., Any]


def _ru(uf: dict[str, Any], key: str) -> str:
    """A user field's label in the portal's language (Russian), the field name when it has none."""
    labels = uf.get(key)
    return (labels.get("ru") if isinstance(labels, dict) else None) or uf["FIELD_NAME"]


class LegacyCrud:
    def __init__(
        self,
        entity: Entity,
        *,
        defaults: Callable[[Call], dict[str, Any]] | None = None,
        prepare: Hook | None = None,
        after_write: Hook | None = None,
        decorate: Hook | None = None,
        on_delete: Hook | None = None,
        delete_not_found: Callable[[int], ApiError] | None = None,
        update_not_found: Callable[[int], ApiError] | None = None,
        importable: bool = False,
    ) -> None:
        self.entity = entity
        self._defaults = defaults
        self._prepare = prepare
        self._after_write = after_write
        self._decorate = decorate
        self._on_delete = on_delete
        self._delete_not_found = delete_not_found
        self._update_not_found = update_not_found
        self._importable = importable

    def register(self, prefix: str, *, ops: tuple[str, ...] = ("add", "update", "get", "list", "delete")) -> None:
        for op in ops:
            method(f"{prefix}.{op}")(getattr(self, op))
        method(f"{prefix}.fields")(self.describe)

    def find(self, call: Call, record_id: int,
             missing: Callable[[int], ApiError] | None = None) -> dict[str, Any]:
        """The record, or the 400 its method answers for a missing one (``missing``, else the entity's text)."""
        record = call.store.get(self.entity.table, record_id)
        if record is None:
            raise (missing or (lambda rid: invalid(self.entity.not_found(rid))))(record_id)
        return record

    def add(self, call: Call) -> int:
        raw = call.fields()
        multifield.validate(self.entity.multifields, raw)
        unlocked = SYSTEM_FIELDS if self._importable and self._importing(call) else frozenset()
        data = internalize(self.entity, raw, call.store, call.tz, unlocked)
        record: dict[str, Any] = {name: None for name in self.entity.fields}
        record.update(self._meta(call, creating=True))
        if self._defaults:
            record.update(self._defaults(call))
        record.update({k: v for k, v in data.items() if v is not None or k not in record})
        if "LAST_ACTIVITY_TIME" in self.entity.fields:
            # a new record's last activity is its creation (EN crm-company-get.md, crm-contact-get.md,
            # crm-deal-get.md: LAST_ACTIVITY_TIME/_BY equal DATE_CREATE/CREATED_BY_ID); update leaves them
            record["LAST_ACTIVITY_TIME"] = record.get("DATE_CREATE")
            record["LAST_ACTIVITY_BY"] = record.get("CREATED_BY_ID")
        if self._prepare:
            self._prepare(call, record, raw, None)
        new_id = call.store.insert(self.entity.table, record)
        multifield.apply(record, self.entity.multifields, raw, lambda: call.store.next_id("multifield"))
        if self._after_write:
            self._after_write(call, record, raw, True)
        call.store.reindex(self.entity.table, new_id)  # the multifields (and hooks) came after the insert
        return new_id

    def update(self, call: Call) -> bool:
        record_id = call.id()
        raw = call.fields()
        record = self.find(call, record_id, self._update_not_found)
        multifield.validate(self.entity.multifields, raw)
        data = internalize(self.entity, raw, call.store, call.tz)
        if self._prepare:
            self._prepare(call, data, raw, record)
        record.update(data)
        record.update(self._meta(call, creating=False))
        multifield.apply(record, self.entity.multifields, raw, lambda: call.store.next_id("multifield"))
        if self._after_write:
            self._after_write(call, record, raw, False)
        call.store.reindex(self.entity.table, record_id)
        return True

    @staticmethod
    def _importing(call: Call) -> bool:
        """``params[IMPORT]`` as the portal's ``add`` reads it: PHP truthiness, so ``"N"`` imports too."""
        params = call.array_param("params")
        return isinstance(params, dict) and values.php_bool(params.get("IMPORT"))

    def delete(self, call: Call) -> bool:
        """``true``, after removing what hangs on the record (the family's ``on_delete``); 400 if missing."""
        record_id = call.id()
        record = self.find(call, record_id, self._delete_not_found)
        if self._on_delete:
            self._on_delete(call, record)
        call.store.delete(self.entity.table, record_id)
        return True

    def get(self, call: Call) -> dict[str, Any]:
        record = self.find(call, call.id())
        return self.render(call, record)

    def render(self, call: Call, record: dict[str, Any], select: Any = None) -> dict[str, Any]:
        out = externalize(self.entity, record, call.store, call.tz, select)
        if self._decorate:
            self._decorate(call, record, out)
        return out

    def list(self, call: Call) -> Result:
        rows = self.query(call)
        page = listing.paginate(rows, call.param("start"), call.config.page_size, self.entity.floor_start)
        chosen = selection(self.entity, call.store, call.array_param("select"))
        return Result([self.render(call, r, chosen) for r in page.rows], page.total, page.next)

    def query(self, call: Call) -> list[dict[str, Any]]:
        # ``CCrmRestProxyBase::processMethodRequest`` (LIST) checks ``order``, then ``filter``
        order = call.array("order", "Parameter 'order' must be array.")
        raw_filter = call.array("filter", "Parameter 'filter' must be array.")
        filter_, kind_of = self.internalize_filter(call, raw_filter), self.kind_of(call)
        rows = listing.candidates(call.store, self.entity.table, filter_, kind_of)
        rows = listing.apply_filter(rows, filter_, self.get_value, kind_of)
        return listing.apply_order(rows, order, self.get_value, kind_of)

    def internalize_filter(self, call: Call, filter_: Any) -> Any:
        """``CCrmRestProxyBase::internalizeFilterFields``: LIKE (``%``, ``%=``, ``=%``) on a ``crm_status``,
        ``crm_company`` or ``crm_contact`` field becomes ``=`` "due to performance considerations", so it
        matches the whole value only (EN ``crm-company-list.md``: LIKE does not work on those fields)."""
        if not isinstance(filter_, dict):
            return filter_
        types = {name: spec.type for name, spec in self.entity.fields.items()}
        types.update({uf["FIELD_NAME"]: uf["USER_TYPE_ID"] for uf in uf_definitions(call.store, self.entity.uf_entity)})
        out: dict[str, Any] = {}
        for key, value in filter_.items():
            op, name = listing.split_key(str(key))
            if op in ("%", "%=", "=%") and types.get(name) in NO_LIKE_TYPES:
                out["=" + name] = value
            else:
                out[key] = value
        return out

    def get_value(self, record: dict[str, Any], name: str) -> Any:
        if name in self.entity.multifields:
            return multifield.values_of(record, name)
        return record.get(name)

    def kind_of(self, call: Call) -> Callable[[str], str | None]:
        ufs = {uf["FIELD_NAME"] for uf in uf_definitions(call.store, self.entity.uf_entity)}

        def kind(name: str) -> str | None:
            if name in self.entity.multifields:
                return "multi"
            if name in self.entity.fields:
                return self.entity.fields[name].kind
            return "str" if name in ufs else None

        return kind

    def describe(self, call: Call) -> dict[str, Any]:
        """``*.fields``: one descriptor per field (write-only ones too), in the shape of the real
        ``crm.*.fields`` replies."""
        titles = self.entity.titles
        out: dict[str, Any] = {name: describe_field(name, spec, titles.get(name, name))
                               for name, spec in self.entity.fields.items()}
        for kind in self.entity.multifields:
            out[kind] = {"type": "crm_multifield", "isRequired": False, "isReadOnly": False,
                         "isImmutable": False, "isMultiple": True, "isDynamic": False,
                         "title": titles.get(kind, kind)}
        for uf in uf_definitions(call.store, self.entity.uf_entity):
            out[uf["FIELD_NAME"]] = {"type": uf["USER_TYPE_ID"], "isRequired": uf.get("MANDATORY") == "Y",
                                     "isReadOnly": False, "isImmutable": False,
                                     "isMultiple": uf.get("MULTIPLE") == "Y", "isDynamic": True,
                                     "title": uf["FIELD_NAME"], "listLabel": _ru(uf, "LIST_COLUMN_LABEL"),
                                     "formLabel": _ru(uf, "EDIT_FORM_LABEL"),
                                     "filterLabel": _ru(uf, "LIST_FILTER_LABEL")}
            if uf.get("SETTINGS"):  # the type's settings, as the recorded crm.lead.fields shows them
                out[uf["FIELD_NAME"]]["settings"] = uf["SETTINGS"]
        return out

    def _meta(self, call: Call, *, creating: bool) -> dict[str, Any]:
        fields = self.entity.fields
        meta: dict[str, Any] = {}
        now = call.now()
        stamps = [("DATE_MODIFY", now), ("MODIFY_BY_ID", call.user_id)]
        if creating:
            stamps = [("DATE_CREATE", now), ("CREATED_BY_ID", call.user_id)] + (
                stamps if self.entity.touch_on_create else [])
        for name, value in stamps:
            if name in fields:
                meta[name] = value
        return meta


# ``CCrmRestProxyBase::add`` with ``params[IMPORT]`` lets these read-only fields through; they stick only where the
# family's ``innerAdd`` then sets ALLOW_SET_SYSTEM_FIELDS (companies and contacts: ``importable``)
SYSTEM_FIELDS = frozenset({"DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID"})
NO_LIKE_TYPES = frozenset({"crm_status", "crm_company", "crm_contact"})
TYPES = {"int": "integer", "money": "double", "decimal": "double", "flag": "char", "date": "date",
         "datetime": "datetime", "ids": "integer", "str": "string", "file": "file"}


def describe_field(name: str, spec: Field, title: str | None = None) -> dict[str, Any]:
    """One descriptor in the recorded ``crm.lead.fields`` key order: the flags, ``isDeprecated`` and
    ``statusType`` before ``title`` (the portal's words for the field, else its code), ``settings`` after
    it."""
    out: dict[str, Any] = {"type": spec.type or TYPES.get(spec.kind, "string"), "isRequired": spec.required,
                           "isReadOnly": spec.readonly, "isImmutable": spec.immutable,
                           "isMultiple": spec.kind == "ids", "isDynamic": False}
    if spec.deprecated:
        out["isDeprecated"] = True
    if spec.status_type:
        out["statusType"] = spec.status_type
    out["title"] = title or name
    if spec.parent is not None:
        out["settings"] = {"parentEntityTypeId": spec.parent}
    return out
