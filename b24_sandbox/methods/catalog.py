"""catalog.catalog.list, catalog.product.*, catalog.price.*, catalog.priceType.list.

The new-style catalog API: camelCase keys, typed values, payloads wrapped in a named key
(``{"element": …}``, ``{"product": …}``, ``{"products": […]}``), numeric error codes with HTTP 400, and
``start`` used as a plain offset.  ``purchasingPrice`` comes back as a string with six decimals.
Products are shared with the legacy ``crm.product.*`` methods (same table, as on a real portal).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import listing, values
from ..errors import ApiError
from ..seed import OFFERS_IBLOCK, PRODUCT_IBLOCK
from . import Call, Result, method

PRODUCTS = "products"
PRICES = "prices"
ERR_REQUIRED = 100  # the parameter binding's "Could not find value for parameter {id}" (an argument left out)
ERR_NOT_FOUND = 200040300000  # "Iblock Not Found" (docs); the sandbox also answers a missing product of a price
ERR_CODE_EXISTS = 0
ERR_OTHER = 0  # every other refusal, "Required fields: …" included (the docs' error tables)

INT_FIELDS = {"id", "iblockId", "iblockSectionId", "createdBy", "modifiedBy", "measure", "vatId", "sort", "type",
              "previewPicture", "detailPicture"}
FLOAT_FIELDS = {"quantity", "quantityReserved", "weight", "width", "length", "height"}
FLAG_FIELDS = {"active", "available", "bundle", "canBuyZero", "vatIncluded", "quantityTrace", "subscribe"}
TEXT_FIELDS = {"name", "code", "xmlId", "previewText", "previewTextType", "detailText", "detailTextType",
               "purchasingCurrency", "dateActiveFrom", "dateActiveTo"}
READ_ONLY = {"id", "dateCreate", "timestampX", "createdBy", "modifiedBy", "available", "type"}
ORDER = ("active", "available", "bundle", "canBuyZero", "code", "createdBy", "dateActiveFrom", "dateActiveTo",
         "dateCreate", "detailPicture", "detailText", "detailTextType", "height", "iblockId", "iblockSectionId",
         "id", "length", "measure", "modifiedBy", "name", "previewPicture", "previewText", "previewTextType",
         "purchasingCurrency", "purchasingPrice", "quantity", "quantityReserved", "quantityTrace", "sort",
         "subscribe", "timestampX", "type", "vatId", "vatIncluded", "weight", "width", "xmlId")


def _coerce(name: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if name in INT_FIELDS:
        return values.intval(value)
    if name in FLOAT_FIELDS:
        return values.number(values.decimal(value))
    if name in FLAG_FIELDS:
        return values.flag(value) if name not in ("quantityTrace", "subscribe", "canBuyZero") else values.text(value)
    if name == "purchasingPrice":
        return values.decimal(value)
    return values.text(value)


def new_product(call: Call, iblock_id: int) -> dict[str, Any]:
    now = call.now()
    return {"active": "Y", "available": "Y", "bundle": "N", "canBuyZero": "Y", "code": None,
            "createdBy": call.user_id, "dateActiveFrom": None, "dateActiveTo": None, "dateCreate": now,
            "detailPicture": None, "detailText": None, "detailTextType": "text", "height": None,
            "iblockId": iblock_id, "iblockSectionId": None, "length": None, "measure": 5,
            "modifiedBy": call.user_id, "name": None, "previewPicture": None, "previewText": None,
            "previewTextType": "text", "purchasingCurrency": None, "purchasingPrice": None, "quantity": 0,
            "quantityReserved": 0, "quantityTrace": "D", "sort": 500, "subscribe": "D", "timestampX": now,
            "type": 1, "vatId": None, "vatIncluded": "N", "weight": None, "width": None, "xmlId": None}


def write_fields(record: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if (name in ORDER and name not in READ_ONLY) or name.startswith("property"):
            record[name] = value if name.startswith("property") else _coerce(name, value)


def check_code(call: Call, record: dict[str, Any]) -> None:
    code = record.get("code")
    if code and any(p["id"] != record.get("id") and p["iblockId"] == record["iblockId"]
                    for p in call.store.where(PRODUCTS, "code", code)):
        raise ApiError(ERR_CODE_EXISTS, f"An element with the symbolic code \"{code}\" already exists.", 400)


def render_product(record: dict[str, Any], select: set[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = list(ORDER) + sorted(k for k in record if k.startswith("property"))
    for name in names:
        if select is not None and name not in select:
            continue
        value = record.get(name)
        if name == "purchasingPrice":
            value = None if value is None else f"{value:.6f}"
        out[name] = value
    return out


def _argument(call: Call, name: str) -> Any:
    """A required argument of the controller's action: absent, the portal's parameter binding refuses the
    call before the action runs (100, the name in braces, as the docs' error tables print it)."""
    value = call.param(name)
    if value is None:
        raise ApiError(ERR_REQUIRED, f"Could not find value for parameter {{{name}}}", 400)
    return value


def _product(call: Call, product_id: int) -> dict[str, Any]:
    """The product ``get``/``update``/``delete`` name: missing → 0 "product does not exist.": the error tables
    of EN (and RU) ``catalog-product-get.md`` and ``-update.md`` give code ``0`` for "The product does not
    exist" (``-delete.md`` lists it under 0 "Other errors"); the words are the sandbox's."""
    record = call.store.get(PRODUCTS, product_id)
    if record is None:
        raise ApiError(ERR_OTHER, "product does not exist.", 400)
    return record


def _priced_product(call: Call, product_id: int) -> None:
    """The product a price belongs to (wording of the sandbox's own: the price docs do not give one)."""
    if call.store.get(PRODUCTS, product_id) is None:
        raise ApiError(ERR_NOT_FOUND, "Product is not exists", 400)


@method("catalog.catalog.list")
def catalog_list(call: Call) -> Result:
    rows = call.store.rows("catalogs")
    return Result({"catalogs": [dict(r) for r in rows]}, len(rows))


@method("catalog.product.add")
def product_add(call: Call) -> dict[str, Any]:
    _argument(call, "fields")
    fields = call.fields("fields")
    missing = [name for name in ("iblockId", "name") if not values.text(fields.get(name)).strip()]
    if missing:
        raise ApiError(ERR_OTHER, "Required fields: " + ", ".join(missing), 400)
    iblock_id = values.intval(fields["iblockId"])
    if call.store.get("catalogs", iblock_id) is None:
        raise ApiError(ERR_NOT_FOUND, "Iblock Not Found", 400)
    record = new_product(call, iblock_id)
    write_fields(record, fields)
    check_code(call, record)
    product_id = call.store.insert(PRODUCTS, record, key="id", counter="iblock_element")
    if record["xmlId"] is None:
        record["xmlId"] = str(product_id)
        call.store.reindex(PRODUCTS, product_id)
    return {"element": render_product(record)}


@method("catalog.product.update")
def product_update(call: Call) -> dict[str, Any]:
    product_id = values.intval(_argument(call, "id"))
    _argument(call, "fields")
    fields = call.fields("fields")
    record = _product(call, product_id)
    if "iblockId" in fields and values.intval(fields["iblockId"]) != record["iblockId"]:
        raise ApiError(ERR_OTHER, f"Product - {product_id} is not exists in catalog - "
                                  f"{values.intval(fields['iblockId'])}", 400)
    changed = dict(record)
    write_fields(changed, fields)
    check_code(call, changed)  # before the record changes: a refused update leaves it as it was
    record.update(changed)
    record["timestampX"] = call.now()
    record["modifiedBy"] = call.user_id
    call.store.reindex(PRODUCTS, product_id)
    return {"element": render_product(record)}


@method("catalog.product.get")
def product_get(call: Call) -> dict[str, Any]:
    return {"product": render_product(_product(call, values.intval(_argument(call, "id"))))}


def delete_product(call: Call, product_id: int) -> None:
    """A product goes with its prices; deal product rows keep their PRODUCT_ID and name, as on a portal."""
    for row in call.store.where(PRICES, "productId", product_id):
        call.store.delete(PRICES, row["id"])
    call.store.delete(PRODUCTS, product_id)


@method("catalog.product.delete")
def product_delete(call: Call) -> bool:
    product_id = values.intval(_argument(call, "id"))
    _product(call, product_id)
    delete_product(call, product_id)
    return True


def product_kind(name: str) -> str | None:
    if name in INT_FIELDS or name in FLOAT_FIELDS or name == "purchasingPrice":
        return "number"
    return "str" if name in ORDER else None


@method("catalog.product.list")
def product_list(call: Call) -> Result:
    select = [values.text(s) for s in listing.as_list(call.param("select", default=[])) if s]
    filter_ = call.param("filter", default={})
    if not {"id", "iblockId"} <= set(select):
        raise ApiError(ERR_OTHER, "Required select fields: id, iblockId", 400)
    if not isinstance(filter_, dict) or not any(listing.split_key(k)[1] == "iblockId" for k in filter_):
        raise ApiError(ERR_OTHER, "Required filter fields: iblockId", 400)
    rows = listing.candidates(call.store, PRODUCTS, filter_, product_kind)
    rows = listing.apply_filter(rows, filter_, lambda r, n: r.get(n), product_kind)
    rows = listing.apply_order(rows, call.param("order"), lambda r, n: r.get(n), product_kind, default="id")
    page = listing.paginate(rows, call.param("start"), call.config.page_size, floor_start=False)
    chosen = None if "*" in select else set(select)
    return Result({"products": [render_product(r, chosen) for r in page.rows]}, page.total, page.next)


# ---- prices ---------------------------------------------------------------------------------------------

PRICE_ORDER = ("catalogGroupId", "currency", "extraId", "id", "price", "productId", "quantityFrom", "quantityTo",
               "timestampX")


def render_price(row: dict[str, Any]) -> dict[str, Any]:
    return {name: (values.number(row[name]) if name == "price" else row.get(name)) for name in PRICE_ORDER}


def _price_fields(call: Call, fields: dict[str, Any], row: dict[str, Any] | None) -> dict[str, Any]:
    """Missing fields → 0 "Required fields: …" and an unknown price type → 0 "Validate price error. Catalog
    price group is wrong", as the error tables (and the error example) of EN ``catalog-price-add.md``,
    ``-update.md`` and ``-modify.md`` give them."""
    merged = {**(row or {}), **{k: v for k, v in fields.items() if k in PRICE_ORDER and k != "id"}}
    missing = [n for n in ("productId", "catalogGroupId", "price", "currency") if merged.get(n) in (None, "")]
    if missing:
        raise ApiError(ERR_OTHER, "Required fields: " + ", ".join(missing), 400)
    _priced_product(call, values.intval(merged["productId"]))
    if call.store.get("price_types", values.intval(merged["catalogGroupId"])) is None:
        raise ApiError(ERR_OTHER, "Validate price error. Catalog price group is wrong", 400)
    return {"productId": values.intval(merged["productId"]), "catalogGroupId": values.intval(merged["catalogGroupId"]),
            "price": kopecks(merged["price"]), "currency": values.text(merged["currency"]),
            "quantityFrom": merged.get("quantityFrom"), "quantityTo": merged.get("quantityTo"),
            "extraId": merged.get("extraId"), "timestampX": call.now()}


def kopecks(value: Any) -> Decimal:
    """A price as the portal stores it: b_catalog_price.PRICE is DECIMAL(18,2), so 1C's 0.0725 is 0.07."""
    return values.php_round(values.decimal(value), 2)


def set_price(call: Call, product_id: int, group_id: int, price: Decimal, currency: str) -> dict[str, Any]:
    """Create or replace the price of one type (used by crm.product.* for PRICE)."""
    row = next((r for r in call.store.where(PRICES, "productId", product_id) if r["catalogGroupId"] == group_id),
               None)
    data = {"productId": product_id, "catalogGroupId": group_id, "price": kopecks(price), "currency": currency,
            "quantityFrom": None, "quantityTo": None, "extraId": None, "timestampX": call.now()}
    if row is None:
        row = data
        call.store.insert(PRICES, row, key="id")
    else:
        row.update(data)
    return row


@method("catalog.price.add")
def price_add(call: Call) -> dict[str, Any]:
    """No ``fields`` → 100 from the parameter binding (EN ``catalog-price-add.md``)."""
    _argument(call, "fields")
    row = _price_fields(call, call.fields("fields"), None)
    call.store.insert(PRICES, row, key="id")
    return {"price": render_price(row)}


def _price(call: Call, price_id: int) -> dict[str, Any]:
    """The price ``get``/``update``/``delete`` name: missing → ``""`` "Price does not exist", HTTP 400, as the
    error tables of EN ``catalog-price-get.md``, ``-update.md`` and ``-delete.md`` give it (code "-")."""
    row = call.store.get(PRICES, price_id)
    if row is None:
        raise ApiError("", "Price does not exist", 400)
    return row


@method("catalog.price.update")
def price_update(call: Call) -> dict[str, Any]:
    """No ``id`` / no ``fields`` → 100 from the parameter binding (EN ``catalog-price-update.md``)."""
    price_id = values.intval(_argument(call, "id"))
    _argument(call, "fields")
    row = _price(call, price_id)
    row.update(_price_fields(call, call.fields("fields"), row))
    call.store.reindex(PRICES, row["id"])
    return {"price": render_price(row)}


@method("catalog.price.get")
def price_get(call: Call) -> dict[str, Any]:
    """No ``id`` → 100 from the parameter binding (EN ``catalog-price-get.md``)."""
    return {"price": render_price(_price(call, values.intval(_argument(call, "id"))))}


@method("catalog.price.delete")
def price_delete(call: Call) -> bool:
    """``true``; no ``id`` → 100 from the parameter binding (EN ``catalog-price-delete.md``)."""
    price_id = values.intval(_argument(call, "id"))
    _price(call, price_id)
    call.store.delete(PRICES, price_id)
    return True


@method("catalog.price.modify")
def price_modify(call: Call) -> dict[str, Any]:
    """Replace-all: prices with an id are updated, without one created, and the ones left out deleted.
    No ``fields`` → 100, no product id → 0 "Required fields: …" (EN ``catalog-price-modify.md``)."""
    _argument(call, "fields")
    product = call.fields("fields").get("product")
    if not isinstance(product, dict) or not values.is_positive_id(product.get("id")):
        raise ApiError(ERR_OTHER, "Required fields: product[id]", 400)
    product_id = values.intval(product["id"])
    _priced_product(call, product_id)
    wanted = [p for p in listing.as_list(product.get("prices", [])) if isinstance(p, dict)]
    existing = {r["id"]: r for r in call.store.where(PRICES, "productId", product_id)}
    prepared = []
    for item in wanted:
        price_id = values.intval(item.get("id")) if item.get("id") not in (None, "") else None
        if price_id is not None and price_id not in existing:
            raise ApiError(ERR_NOT_FOUND, f"Price {price_id} is not exists", 400)
        prepared.append((price_id, _price_fields(call, {**item, "productId": product_id}, existing.get(price_id))))
    kept: list[dict[str, Any]] = []
    for price_id, data in prepared:
        if price_id is None:
            call.store.insert(PRICES, data, key="id")
            kept.append(data)
        else:
            existing[price_id].update(data)
            kept.append(existing[price_id])
    for price_id, row in existing.items():
        if all(row is not k for k in kept):
            call.store.delete(PRICES, price_id)
    return {"prices": [render_price(r) for r in kept]}


def _price_kind(name: str) -> str | None:
    return "number" if name in ("id", "productId", "catalogGroupId", "price") else "str" if name in PRICE_ORDER else None


@method("catalog.price.list")
def price_list(call: Call) -> Result:
    rows = listing.candidates(call.store, PRICES, call.param("filter"), _price_kind)
    rows = listing.apply_filter(rows, call.param("filter"), lambda r, n: r.get(n), _price_kind)
    rows = listing.apply_order(rows, call.param("order"), lambda r, n: r.get(n), _price_kind, default="id")
    page = listing.paginate(rows, call.param("start"), call.config.page_size, floor_start=False)
    select = [values.text(s) for s in listing.as_list(call.param("select", default=[])) if s]
    out = [render_price(r) for r in page.rows]
    if select and "*" not in select:
        out = [{k: v for k, v in r.items() if k in select} for r in out]
    return Result({"prices": out}, page.total, page.next)


@method("catalog.pricetype.list")
def price_type_list(call: Call) -> Result:
    rows = call.store.rows("price_types")
    return Result({"priceTypes": [dict(r) for r in rows]}, len(rows))


__all__ = ["OFFERS_IBLOCK", "PRODUCT_IBLOCK"]
