"""1C product (Номенклатура) → the Bitrix24 product that shows it: pure functions, no I/O.

Two Bitrix24 APIs, chosen by the mapping file (``products.api``):

* ``catalog`` — ``catalog.product.*`` fields in camelCase, the purchase price on the product
  (``purchasingPrice``/``purchasingCurrency``) and the sale price as a price of the base price type
  (``catalog.price.*``, ``catalogGroupId``);
* ``legacy`` — ``crm.product.*`` fields in UPPER_SNAKE; ``PRICE``/``CURRENCY_ID`` are the portal's base
  price, and there is no purchase price at all.

Bitrix24 key (how the bridge finds what it made, even after a crash): ``xmlId``/``XML_ID`` and the
symbolic code ``code``/``CODE`` are both ``1c-<source>-<1C id>``: two 1C bases may hold products with the
same id, and the portal keeps one product per key (and refuses a second symbolic code).  With
``products.shared_catalogue`` the bases share one catalogue and the key is the one without the source
(``xmlId`` = the 1C id, code ``1c-<1C id>``), which is also what versions before keys carried the source
wrote, and what 1C's own exchange module writes.  The symbolic code is set explicitly: a portal builds
it from the name otherwise, and long similar names cut to 100 characters clash.

Prices are never cleared by the bridge: a price that disappears from 1C stays in Bitrix24 as it was
(a wrong 0 in a deal is worse than a stale price); a new price from 1C is always sent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .diff import field_changes

CATALOG = "catalog"
LEGACY = "legacy"

# Fields the bridge never empties when 1C stops sending them (see the module docstring).
NEVER_CLEARED = frozenset({"purchasingPrice", "purchasingCurrency", "PRICE", "CURRENCY_ID"})

CODE_PREFIX = "1c-"
PRICE_KEYS = ("quantityFrom", "quantityTo", "extraId")  # kept as they are on prices the bridge does not own


@dataclass(frozen=True)
class ProductState:
    """Everything Bitrix24 should show for one product, in the words of one API."""

    api: str  # CATALOG or LEGACY
    fields: dict[str, str]  # product fields (catalog: without iblockId, which is known only at run time)
    base_price: dict[str, str] | None  # catalog: {"catalogGroupId", "price", "currency"}; None = leave alone
    has_purchase_price: bool = False  # 1C has one (the legacy API cannot show it)
    deleted: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"api": self.api, "fields": self.fields, "base_price": self.base_price,
                "deleted": self.deleted}


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def amount(value: Any) -> str:
    """A price as the shortest exact decimal string (``"180.00"`` and ``"180.0000"`` both → ``"180"``),
    so the same price always compares equal, whatever precision 1C or Bitrix24 writes it with."""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a price: {value!r}") from exc
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


KOPECK = Decimal("0.01")


def as_stored(price: Any) -> Decimal:
    """A catalog price as a portal keeps it: ``b_catalog_price.PRICE`` is DECIMAL(18,2), rounded half away
    from zero, so 1C's ``0.0725`` reads back ``0.07`` — the same price, not a manager's edit.  ValueError for
    what is not a number."""
    try:
        return Decimal(str(price).strip()).quantize(KOPECK, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"not a price: {price!r}") from exc


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CODE_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_MAX_SOURCE_PART = 64


@dataclass(frozen=True)
class ProductKey:
    """How the bridge names one product in Bitrix24: ``xml`` (xmlId/XML_ID) and ``code`` (symbolic code)."""

    xml: str
    code: str

    @property
    def shared(self) -> bool:
        return not self.xml.startswith(CODE_PREFIX)


def product_key(source: str, entity_id: str, *, shared_catalogue: bool = False) -> ProductKey:
    """The product's key: with its 1C base in it, unless the bases share one catalogue."""
    onec_id = str(entity_id).strip().lower()
    if shared_catalogue:
        return unsourced_key(onec_id)
    key = f"{CODE_PREFIX}{source_part(source)}-{onec_id}"
    return ProductKey(key, key)


def unsourced_key(entity_id: str) -> ProductKey:
    """The key without a source: a shared catalogue's, and every product's before keys carried the source."""
    onec_id = str(entity_id).strip().lower()
    return ProductKey(onec_id, symbolic_code(onec_id))


def source_part(source: str) -> str:
    """The 1C base's id as it appears in a key: lower-case letters, digits and ``-`` kept, anything else
    (upper case too: the portal compares keys case-insensitively) as ``_<hex>``, so two sources never
    share a key; a very long result is replaced by a hash."""
    part = "".join(c if c in _CODE_SAFE else "".join(f"_{b:02x}" for b in c.encode()) for c in source.strip())
    if len(part) > _MAX_SOURCE_PART:
        part = "h" + hashlib.sha256(source.strip().encode()).hexdigest()[:24]
    return part


def onec_id_of_key(xml: str) -> str:
    """The 1C id in a product key of either form (the id is a UUID at its end)."""
    tail = str(xml).strip().lower()[-36:]
    return tail if _UUID.fullmatch(tail) else str(xml).strip().lower()


def symbolic_code(entity_id: str) -> str:
    """The symbolic code without a source (see ``product_key``): ``1c-<1C id>``."""
    return CODE_PREFIX + str(entity_id).strip().lower()


def vat_label(rate: Any) -> str | None:
    rate = _text(rate)
    if rate is None:
        return None
    if rate == "none":
        return "Без НДС"
    return f"НДС {rate}%"


def description(payload: Any) -> str:
    """What 1C knows that the product card has no field for: full name, article, 1C code, unit, VAT rate,
    service flag; one item per line (plain text)."""
    name = _text(_get(payload, "name"))
    lines = []
    full_name = _text(_get(payload, "full_name"))
    if full_name and full_name != name:
        lines.append(full_name)
    article = _text(_get(payload, "article"))
    if article:
        lines.append(f"Артикул: {article}")
    code = _text(_get(payload, "code"))
    if code:
        lines.append(f"Код 1С: {code}")
    unit = _get(payload, "unit")
    if unit is not None:
        unit_name, okei = _text(_get(unit, "name")), _text(_get(unit, "code"))
        lines.append(f"Единица: {unit_name}" + (f" (ОКЕИ {okei})" if okei else ""))
    vat = vat_label(_get(payload, "vat_rate"))
    if vat:
        lines.append(vat)
    if _get(payload, "is_service"):
        lines.append("Услуга")
    return "\n".join(lines)


def vat_included(payload: Any) -> str:
    """1C UT price types include VAT (ЦенаВключаетНДС) unless the product is not taxed at all."""
    rate = _text(_get(payload, "vat_rate"))
    return "N" if rate in (None, "none") else "Y"


def _clean(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None and str(v) != ""}


def desired_state(payload: Any, *, key: ProductKey, api: str = CATALOG,
                  base_price_type_id: int = 1) -> ProductState:
    """What Bitrix24 should show for this product snapshot, for the chosen API."""
    if api not in (CATALOG, LEGACY):
        raise ValueError(f"unknown products API {api!r} (catalog or legacy)")
    sale = _get(payload, "sale_price")
    purchase = _get(payload, "purchase_price")
    deleted = bool(_get(payload, "deleted", False))
    common = {"name": _text(_get(payload, "name")), "xml": key.xml, "code": key.code,
              "active": "N" if deleted else "Y", "vat": vat_included(payload), "text": description(payload)}
    if api == CATALOG:
        fields = _clean({
            "name": common["name"],
            "xmlId": common["xml"],
            "code": common["code"],
            "active": common["active"],
            "vatIncluded": common["vat"],
            "detailText": common["text"],
            "detailTextType": "text" if common["text"] else None,
            "purchasingPrice": amount(_get(purchase, "amount")) if purchase is not None else None,
            "purchasingCurrency": _text(_get(purchase, "currency")) if purchase is not None else None,
        })
        base = None
        if sale is not None:
            base = {"catalogGroupId": str(int(base_price_type_id)), "price": amount(_get(sale, "amount")),
                    "currency": str(_get(sale, "currency")).strip()}
        return ProductState(CATALOG, fields, base, purchase is not None, deleted)
    fields = _clean({
        "NAME": common["name"],
        "XML_ID": common["xml"],
        "CODE": common["code"],
        "ACTIVE": common["active"],
        "VAT_INCLUDED": common["vat"],
        "DESCRIPTION": common["text"],
        "DESCRIPTION_TYPE": "text" if common["text"] else None,
        "PRICE": amount(_get(sale, "amount")) if sale is not None else None,
        "CURRENCY_ID": _text(_get(sale, "currency")) if sale is not None else None,
    })
    return ProductState(LEGACY, fields, None, purchase is not None, deleted)


def product_changes(desired: dict[str, str], pushed: dict[str, str] | None) -> dict[str, str]:
    """Fields to send: what 1C changed since the last push (all when nothing was pushed), except that a
    price 1C no longer has is not cleared."""
    return {k: v for k, v in field_changes(desired, pushed).items() if v != "" or k not in NEVER_CLEARED}


def product_iblock(catalogs: Iterable[dict[str, Any]]) -> int | None:
    """The product catalog's iblock among ``catalog.catalog.list`` entries: the one without
    ``productIblockId`` (an entry that has it is an offers/SKU catalog).  With several, the CRM catalog
    (``iblockTypeId`` CRM_PRODUCT_CATALOG) wins; None when there is no unambiguous answer."""
    products = [c for c in catalogs if isinstance(c, dict) and not c.get("productIblockId")]
    if len(products) > 1:
        products = [c for c in products if c.get("iblockTypeId") == "CRM_PRODUCT_CATALOG"]
    if len(products) != 1:
        return None
    chosen = products[0]
    value = chosen.get("iblockId") if chosen.get("iblockId") is not None else chosen.get("id")
    return int(value) if value is not None else None


def _same_price(row: dict[str, Any], base: dict[str, str]) -> bool:
    """Bitrix24 holds 1C's price (as it stores it: in kopecks) and currency."""
    try:
        return as_stored(row.get("price")) == as_stored(base["price"]) and str(row.get("currency")) == base["currency"]
    except ValueError:
        return False


def _is_base_row(row: dict[str, Any], group: int) -> bool:
    """The base price row the bridge owns: its type, and no quantity range (ranges are a manager's)."""
    return (str(row.get("catalogGroupId")) == str(group)
            and row.get("quantityFrom") in (None, "") and row.get("quantityTo") in (None, ""))


def base_row(rows: Iterable[dict[str, Any]], group: int) -> dict[str, Any] | None:
    """The product's base price row the bridge owns among its ``catalog.price.list`` rows, None if none."""
    return next((r for r in rows if _is_base_row(r, group)), None)


def price_rows(current: Iterable[dict[str, Any]], base: dict[str, str]) -> list[dict[str, Any]] | None:
    """The ``prices`` for ``catalog.price.modify`` (which deletes every price it is not given): all of the
    product's current prices as they are, with only the base one changed or added.  None when the base
    price already is what 1C says (no call needed)."""
    group = int(base["catalogGroupId"])
    rows = list(current)
    own = base_row(rows, group)
    if own is not None and _same_price(own, base):
        return None
    out: list[dict[str, Any]] = []
    for row in rows:
        item: dict[str, Any] = {"id": row["id"], "catalogGroupId": row["catalogGroupId"],
                                "price": row["price"], "currency": row["currency"]}
        item.update({k: row[k] for k in PRICE_KEYS if row.get(k) not in (None, "")})
        if row is own:
            item.update(price=base["price"], currency=base["currency"])
        out.append(item)
    if own is None:
        out.append({"catalogGroupId": group, "price": base["price"], "currency": base["currency"]})
    return out
