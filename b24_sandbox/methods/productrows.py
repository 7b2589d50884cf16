"""crm.deal.productrows.set|get: the deal's product rows, replaced as a whole on every ``set``.

``PRICE`` is the final unit price (after discount, tax included); the other prices are derived from it.
Discount rules (``ERROR_CORE``): type 2 (percent) needs DISCOUNT_RATE, and DISCOUNT_SUM too at 100 %;
type 1 (sum) needs DISCOUNT_SUM.  Unless the deal's opportunity is manual, OPPORTUNITY becomes the rows'
total.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import listing, values
from ..errors import core, invalid
from . import Call, method
from .catalog import PRODUCTS

TABLE = "product_rows"
PERCENT, SUM = 2, 1
HUNDRED = Decimal(100)


def rows_of(call: Call, deal_id: int) -> list[dict[str, Any]]:
    return sorted(call.store.where(TABLE, "OWNER_ID", deal_id), key=lambda r: (r["SORT"], r["ID"]))


def _deal(call: Call) -> tuple[int, dict[str, Any]]:
    deal_id = call.id()
    deal = call.store.get("deals", deal_id)
    if deal is None:
        raise invalid("Not found")
    return deal_id, deal


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else values.decimal(value)


def _row(call: Call, raw: dict[str, Any], sort: int) -> dict[str, Any]:
    discount_type = values.intval(raw.get("DISCOUNT_TYPE_ID", PERCENT)) or PERCENT
    rate, discount = _dec(raw.get("DISCOUNT_RATE")), _dec(raw.get("DISCOUNT_SUM"))
    if "DISCOUNT_TYPE_ID" in raw:
        if discount_type == PERCENT and rate is None:
            raise core("Discount rate (DISCOUNT_RATE) is required for a percentage discount.")
        if discount_type == PERCENT and rate == HUNDRED and discount is None:
            raise core("Discount sum (DISCOUNT_SUM) is required for a 100% discount.")
        if discount_type == SUM and discount is None:
            raise core("Discount sum (DISCOUNT_SUM) is required for a discount of type 1 (sum).")
    tax_rate = _dec(raw.get("TAX_RATE"))
    tax = (tax_rate or Decimal(0)) / HUNDRED
    price = _dec(raw.get("PRICE"))
    if price is None:
        exclusive = _dec(raw.get("PRICE_EXCLUSIVE"))
        price = exclusive * (1 + tax) if exclusive is not None else Decimal(0)
    exclusive = price / (1 + tax)
    if discount_type == SUM:
        discount = discount or Decimal(0)
        netto = exclusive + discount
        rate = (discount / netto * HUNDRED) if netto else Decimal(0)
    else:
        rate = rate or Decimal(0)
        if rate >= HUNDRED:
            discount = discount or Decimal(0)
            netto = exclusive + discount
        else:
            netto = exclusive / (1 - rate / HUNDRED)
            discount = netto - exclusive
    product_id = values.intval(raw.get("PRODUCT_ID", 0))
    product = call.store.get(PRODUCTS, product_id) if product_id else None
    name = values.text(raw.get("PRODUCT_NAME")).strip() or (product["name"] if product else "")
    quantity = _dec(raw.get("QUANTITY"))
    return {
        "PRODUCT_ID": product_id,
        "PRODUCT_NAME": name,
        "ORIGINAL_PRODUCT_NAME": product["name"] if product else name,
        "PRODUCT_DESCRIPTION": values.text(raw.get("PRODUCT_DESCRIPTION")) or None,
        "PRICE": price,
        "PRICE_EXCLUSIVE": exclusive,
        "PRICE_NETTO": netto,
        "PRICE_BRUTTO": netto * (1 + tax),
        "QUANTITY": Decimal(1) if quantity is None else quantity,
        "DISCOUNT_TYPE_ID": discount_type,
        "DISCOUNT_RATE": rate,
        "DISCOUNT_SUM": discount,
        "TAX_RATE": tax_rate,
        "TAX_INCLUDED": values.flag(raw.get("TAX_INCLUDED", "N")),
        "CUSTOMIZED": values.flag(raw.get("CUSTOMIZED", "Y")),
        "MEASURE_CODE": values.intval(raw.get("MEASURE_CODE", 796)),
        "MEASURE_NAME": values.text(raw.get("MEASURE_NAME")) or "шт",
        "SORT": values.intval(raw["SORT"]) if raw.get("SORT") not in (None, "") else sort,
        "XML_ID": values.text(raw.get("XML_ID")) or None,
    }


@method("crm.deal.productrows.set")
def set_rows(call: Call) -> bool:
    deal_id, deal = _deal(call)
    raw_rows = [r for r in listing.as_list(call.param("rows", "ROWS", default=[])) if isinstance(r, dict)]
    prepared = [_row(call, raw, (n + 1) * 10) for n, raw in enumerate(raw_rows)]
    for old in rows_of(call, deal_id):
        call.store.delete(TABLE, old["ID"])
    for row in prepared:
        row.update({"OWNER_ID": deal_id, "OWNER_TYPE": "D"})
        call.store.insert(TABLE, row)
        if not row["PRODUCT_NAME"]:
            row["PRODUCT_NAME"] = row["ORIGINAL_PRODUCT_NAME"] = f"[{row['ID']}]"
    if deal.get("IS_MANUAL_OPPORTUNITY") != "Y":
        deal["OPPORTUNITY"] = sum((r["PRICE"] * r["QUANTITY"] for r in prepared), Decimal(0)).quantize(Decimal("0.01"))
        deal["TAX_VALUE"] = sum(((r["PRICE"] - r["PRICE_EXCLUSIVE"]) * r["QUANTITY"] for r in prepared),
                                Decimal(0)).quantize(Decimal("0.01"))
    deal["DATE_MODIFY"] = call.now()
    return True


def render(row: dict[str, Any]) -> dict[str, Any]:
    def num(value: Decimal | None) -> int | float | None:
        return None if value is None else values.number(round(value, 4))

    return {
        "ID": str(row["ID"]), "OWNER_ID": str(row["OWNER_ID"]), "OWNER_TYPE": row["OWNER_TYPE"],
        "PRODUCT_ID": row["PRODUCT_ID"], "PRODUCT_NAME": row["PRODUCT_NAME"],
        "ORIGINAL_PRODUCT_NAME": row["ORIGINAL_PRODUCT_NAME"], "PRODUCT_DESCRIPTION": row["PRODUCT_DESCRIPTION"],
        "PRICE": num(row["PRICE"]), "PRICE_EXCLUSIVE": num(row["PRICE_EXCLUSIVE"]),
        "PRICE_NETTO": num(row["PRICE_NETTO"]), "PRICE_BRUTTO": num(row["PRICE_BRUTTO"]),
        "QUANTITY": num(row["QUANTITY"]), "DISCOUNT_TYPE_ID": row["DISCOUNT_TYPE_ID"],
        "DISCOUNT_RATE": num(row["DISCOUNT_RATE"]), "DISCOUNT_SUM": num(row["DISCOUNT_SUM"]),
        "TAX_RATE": num(row["TAX_RATE"]), "TAX_INCLUDED": row["TAX_INCLUDED"], "CUSTOMIZED": row["CUSTOMIZED"],
        "MEASURE_CODE": row["MEASURE_CODE"], "MEASURE_NAME": row["MEASURE_NAME"], "SORT": row["SORT"],
        "PRICE_ACCOUNT": f"{row['PRICE']:.2f}", "XML_ID": row["XML_ID"], "TYPE": 1, "STORE_ID": None,
        "RESERVE_ID": None, "DATE_RESERVE_END": None, "RESERVE_QUANTITY": None,
    }


@method("crm.deal.productrows.get")
def get_rows(call: Call) -> list[dict[str, Any]]:
    deal_id, _ = _deal(call)
    return [render(r) for r in rows_of(call, deal_id)]
