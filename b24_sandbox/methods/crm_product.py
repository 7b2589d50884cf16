"""Legacy crm.product.add|update|get|list|delete|fields over the same product table as catalog.product.*.

UPPER_SNAKE names mapped onto the catalog's camelCase ones; ``PRICE``/``CURRENCY_ID`` are the base price
(price type 1), as on a real portal.  Replies are legacy-style: strings, ``PRICE`` with two decimals.
"""

from __future__ import annotations

from typing import Any

from .. import listing, values
from ..errors import invalid
from ..seed import PRODUCT_IBLOCK
from . import Call, Result, method
from .catalog import PRICES, PRODUCTS, delete_product, new_product, product_kind, set_price, write_fields
from .common import required

MAP = {"ID": "id", "CATALOG_ID": "iblockId", "NAME": "name", "CODE": "code", "ACTIVE": "active",
       "PREVIEW_PICTURE": "previewPicture", "DETAIL_PICTURE": "detailPicture", "SORT": "sort", "XML_ID": "xmlId",
       "TIMESTAMP_X": "timestampX", "DATE_CREATE": "dateCreate", "MODIFIED_BY": "modifiedBy",
       "CREATED_BY": "createdBy", "SECTION_ID": "iblockSectionId", "DESCRIPTION": "detailText",
       "DESCRIPTION_TYPE": "detailTextType", "VAT_ID": "vatId", "VAT_INCLUDED": "vatIncluded", "MEASURE": "measure"}
ORDER = ("ID", "CATALOG_ID", "PRICE", "CURRENCY_ID", "NAME", "CODE", "DESCRIPTION", "DESCRIPTION_TYPE", "ACTIVE",
         "SECTION_ID", "SORT", "VAT_ID", "VAT_INCLUDED", "MEASURE", "XML_ID", "PREVIEW_PICTURE", "DETAIL_PICTURE",
         "DATE_CREATE", "TIMESTAMP_X", "MODIFIED_BY", "CREATED_BY")
READ_ONLY = {"ID", "CATALOG_ID", "DATE_CREATE", "TIMESTAMP_X", "MODIFIED_BY", "CREATED_BY"}
NUMERIC = {"ID", "CATALOG_ID", "SECTION_ID", "SORT", "VAT_ID", "MEASURE", "MODIFIED_BY", "CREATED_BY", "PRICE"}


def base_price(call: Call, product_id: int) -> dict[str, Any] | None:
    return next((r for r in call.store.where(PRICES, "productId", product_id) if r["catalogGroupId"] == 1), None)


def view(call: Call, record: dict[str, Any]) -> dict[str, Any]:
    """The product with legacy names and typed values (used for filtering, then stringified)."""
    out: dict[str, Any] = {legacy: record.get(new) for legacy, new in MAP.items()}
    price = base_price(call, record["id"])
    out["PRICE"] = price["price"] if price else None
    out["CURRENCY_ID"] = price["currency"] if price else None
    return out


def render(call: Call, record: dict[str, Any], select: set[str] | None = None) -> dict[str, Any]:
    data = view(call, record)
    out: dict[str, Any] = {}
    for name in ORDER:
        if select is not None and name not in select and name != "ID":
            continue
        value = data.get(name)
        out[name] = None if value is None else values.money(value) if name == "PRICE" else values.text(value)
    return out


def _write(call: Call, record: dict[str, Any], fields: dict[str, Any]) -> None:
    write_fields(record, {MAP[k]: v for k, v in fields.items() if k in MAP and k not in READ_ONLY})
    if "PRICE" in fields or "CURRENCY_ID" in fields:
        current = base_price(call, record["id"])
        price = values.decimal(fields["PRICE"]) if "PRICE" in fields else (current["price"] if current else 0)
        currency = values.text(fields.get("CURRENCY_ID")) or (current["currency"] if current else "RUB")
        set_price(call, record["id"], 1, values.decimal(price), currency)
    call.store.reindex(PRODUCTS, record["id"])


def _find(call: Call) -> dict[str, Any]:
    record = call.store.get(PRODUCTS, call.id())
    if record is None:
        raise invalid("Not found")
    return record


@method("crm.product.add")
def add(call: Call) -> int:
    fields = call.fields()
    if not values.text(fields.get("NAME")).strip():
        raise invalid(required("Name"))
    record = new_product(call, PRODUCT_IBLOCK)
    product_id = call.store.insert(PRODUCTS, record, key="id", counter="iblock_element")
    _write(call, record, fields)
    if record["xmlId"] is None:
        record["xmlId"] = str(product_id)
        call.store.reindex(PRODUCTS, product_id)
    return product_id


@method("crm.product.update")
def update(call: Call) -> bool:
    record = _find(call)
    fields = call.fields()
    if "NAME" in fields and not values.text(fields["NAME"]).strip():
        raise invalid(required("Name"))
    _write(call, record, fields)
    record["timestampX"] = call.now()
    return True


@method("crm.product.delete")
def delete(call: Call) -> bool:
    record = _find(call)
    delete_product(call, record["id"])
    return True


@method("crm.product.get")
def get(call: Call) -> dict[str, Any]:
    return render(call, _find(call))


def _kind(name: str) -> str | None:
    return "number" if name in NUMERIC else "str" if name in ORDER else None


@method("crm.product.list")
def list_(call: Call) -> Result:
    filter_ = call.array_param("filter")
    by_catalog_name = {op + MAP[name]: value for op, name, value in
                       ((*listing.split_key(str(k)), v) for k, v in (filter_ if isinstance(filter_, dict) else {}).items())
                       if name in MAP}
    found = listing.candidates(call.store, PRODUCTS, by_catalog_name, product_kind)
    rows = [(view(call, r), r) for r in found]
    rows = listing.apply_filter(rows, filter_, lambda r, n: r[0].get(n), _kind)
    rows = listing.apply_order(rows, call.array_param("order"), lambda r, n: r[0].get(n), _kind)
    page = listing.paginate(rows, call.param("start"), call.config.page_size)
    select = [values.text(s) for s in listing.as_list(call.array_param("select", default=[])) if s]
    chosen = None if not select or "*" in select else set(select)
    return Result([render(call, r, chosen) for _, r in page.rows], page.total, page.next)


@method("crm.product.fields")
def fields_(call: Call) -> dict[str, Any]:
    return {name: {"type": "integer" if name in NUMERIC - {"PRICE"} else "double" if name == "PRICE" else "string",
                   "isRequired": name == "NAME", "isReadOnly": name in READ_ONLY, "isImmutable": False,
                   "isMultiple": False, "isDynamic": False, "title": name} for name in ORDER}
