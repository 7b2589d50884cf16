"""crm.deal.productrows.set|get: the deal's product rows, replaced as a whole on every ``set``.

Prices are worked out as the portal's ``CCrmProductRow::preparePrices`` does, in decimal with PHP's
``round`` (half away from zero):

- ``PRICE`` (rounded to 2) is the final unit price, discount applied and tax included — whatever
  ``TAX_INCLUDED`` says; ``PRICE_EXCLUSIVE`` = ``PRICE / (1 + TAX_RATE/100)`` unless given;
- ``DISCOUNT_TYPE_ID`` 2 (percent, the default): ``DISCOUNT_RATE`` required, ``DISCOUNT_SUM`` =
  ``EXCLUSIVE·rate/(100-rate)`` unless given (a 100 % discount needs it); 1 (money): ``DISCOUNT_SUM``
  required, ``DISCOUNT_RATE`` = ``100·sum/(EXCLUSIVE+sum)`` unless given; any other type is a 0 % discount;
- ``PRICE_NETTO`` = ``EXCLUSIVE + DISCOUNT_SUM``, ``PRICE_BRUTTO`` = ``NETTO·(1 + TAX_RATE/100)`` unless given;
  ``QUANTITY`` rounded to 4 (default 1), ``TAX_RATE`` to 2 (none = no tax), ``CUSTOMIZED`` always ``Y``,
  ``SORT`` 0 unless given.

The deal then follows its rows as ``CCrmSaleHelper::Calculate`` sums them: a row with ``TAX_INCLUDED=Y``
adds ``PRICE·QUANTITY`` (of which ``r/(100+r)`` is tax), one with ``N`` adds ``EXCLUSIVE·QUANTITY`` plus
``r %`` tax on top; ``OPPORTUNITY`` and ``TAX_VALUE`` are the sums rounded to kopecks.  ``TAX_VALUE`` is always
rewritten, ``OPPORTUNITY`` only while ``IS_MANUAL_OPPORTUNITY`` is not ``Y``; setting no rows on a deal that
had none leaves both alone.  Discount rule violations answer ``ERROR_CORE`` with the portal's text + ``<br>``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import listing, values
from ..errors import core, invalid
from ..values import php_round
from . import Call, method
from .catalog import PRODUCTS

TABLE = "product_rows"
PERCENT, MONEY = 2, 1
HUNDRED = Decimal(100)
ZERO = Decimal(0)

RATE_REQUIRED = "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined."
SUM_REQUIRED_AT_100 = ("Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) "
                       "is defined and Discount Rate (DISCOUNT_RATE) is 100%")
SUM_REQUIRED = "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type (DISCOUNT_TYPE_ID) is defined."
ROWS_NOT_ARRAY = "The parameter rows must be array."
ID_PARAM_INVALID = "The parameter id is invalid or not defined."  # productRows' own words, not the CRUD's


def rows_of(call: Call, deal_id: int) -> list[dict[str, Any]]:
    return sorted(call.store.where(TABLE, "OWNER_ID", deal_id), key=lambda r: (r["SORT"], r["ID"]))


def _deal_id(call: Call) -> int:
    """``CCrmDealRestProxy::getProductRows``/``setProductRows``: ``intval($ID) <= 0`` → their own text."""
    raw = call.param("id", "ID")
    if not values.is_positive_id(raw):
        raise invalid(ID_PARAM_INVALID)
    return values.intval(raw)


def _deal(call: Call, deal_id: int) -> dict[str, Any]:
    deal = call.store.get("deals", deal_id)
    if deal is None:
        raise invalid("Not found")
    return deal


def _isset(raw: dict[str, Any], name: str) -> bool:
    return raw.get(name) is not None


def _php_empty(value: Any) -> bool:
    return value in (None, "", "0", 0, False) or (isinstance(value, (int, float, Decimal)) and value == 0)


def _num(raw: dict[str, Any], name: str) -> Decimal:
    value = raw.get(name)
    return values.decimal(value) if not isinstance(value, (dict, list)) else ZERO


def discount_rate(original: Decimal, price: Decimal) -> Decimal:
    """``Discount::calculateDiscountRate``: the percent that takes ``original`` down to ``price``."""
    original, price = php_round(original, 2), php_round(price, 2)
    if original == 0:
        return ZERO
    if price == 0:
        return HUNDRED if original > 0 else -HUNDRED
    return php_round(HUNDRED * (original - price) / original, 2)


def discount_sum(price: Decimal, rate: Decimal) -> Decimal:
    """``Discount::calculateDiscountSum``: what ``rate`` percent off the original price took, given the result."""
    original = ZERO if rate == HUNDRED else HUNDRED * price / (HUNDRED - rate)
    return original - price


def prepare_prices(raw: dict[str, Any]) -> dict[str, Any]:
    """One row's prices, discount and tax, or ``ERROR_CORE`` for a discount that cannot be worked out."""
    price = php_round(_num(raw, "PRICE"), 2) if _isset(raw, "PRICE") else ZERO
    exclusive = php_round(_num(raw, "PRICE_EXCLUSIVE"), 2) if _isset(raw, "PRICE_EXCLUSIVE") else ZERO
    quantity = php_round(_num(raw, "QUANTITY"), 4) if _isset(raw, "QUANTITY") else Decimal(1)
    tax_rate = php_round(_num(raw, "TAX_RATE"), 2) if _isset(raw, "TAX_RATE") and raw["TAX_RATE"] is not False \
        else None
    tax = (tax_rate or ZERO) / HUNDRED
    discount_type = values.intval(raw["DISCOUNT_TYPE_ID"]) if _isset(raw, "DISCOUNT_TYPE_ID") else 0
    if exclusive == 0 and price != 0:
        exclusive = php_round(price / (1 + tax), 2)
    given = dict(raw)
    if discount_type not in (PERCENT, MONEY):
        discount_type, given["DISCOUNT_RATE"] = PERCENT, ZERO
    if discount_type == PERCENT:
        if not _isset(given, "DISCOUNT_RATE"):
            raise core(RATE_REQUIRED + "<br>")
        rate = php_round(_num(given, "DISCOUNT_RATE"), 2)
        if rate == HUNDRED and _php_empty(given.get("DISCOUNT_SUM")):
            raise core(SUM_REQUIRED_AT_100 + "<br>")
        amount = php_round(_num(given, "DISCOUNT_SUM"), 2) if _isset(given, "DISCOUNT_SUM") \
            else php_round(discount_sum(exclusive, rate), 2)
    else:
        if not _isset(given, "DISCOUNT_SUM"):
            raise core(SUM_REQUIRED + "<br>")
        amount = php_round(_num(given, "DISCOUNT_SUM"), 2)
        rate = php_round(_num(given, "DISCOUNT_RATE"), 2) if _isset(given, "DISCOUNT_RATE") \
            else discount_rate(exclusive + amount, exclusive)
    netto = _num(raw, "PRICE_NETTO") if _isset(raw, "PRICE_NETTO") else exclusive + amount
    brutto = php_round(_num(raw, "PRICE_BRUTTO"), 2) if _isset(raw, "PRICE_BRUTTO") \
        else php_round(netto * (1 + tax), 2)
    return {"PRICE": price, "PRICE_EXCLUSIVE": exclusive, "PRICE_NETTO": php_round(netto, 2), "PRICE_BRUTTO": brutto,
            "QUANTITY": quantity, "DISCOUNT_TYPE_ID": discount_type, "DISCOUNT_RATE": rate, "DISCOUNT_SUM": amount,
            "TAX_RATE": tax_rate, "TAX_INCLUDED": "Y" if raw.get("TAX_INCLUDED") == "Y" else "N"}


def totals(rows: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    """(OPPORTUNITY, TAX_VALUE) of a deal's rows, as the sale module adds them up."""
    total = tax_total = ZERO
    for row in rows:
        rate = row["TAX_RATE"] or ZERO
        if row["TAX_INCLUDED"] == "Y":
            line = row["PRICE"] * row["QUANTITY"]
            tax = line * rate / (HUNDRED + rate)
        else:
            line = row["PRICE_EXCLUSIVE"] * row["QUANTITY"]
            tax = line * rate / HUNDRED
            line += tax
        total += line
        tax_total += tax
    return php_round(total, 2), php_round(tax_total, 2)


def _row(call: Call, raw: dict[str, Any]) -> dict[str, Any]:
    product_id = values.intval(raw.get("PRODUCT_ID", 0))
    product = call.store.get(PRODUCTS, product_id) if product_id else None
    name = values.text(raw.get("PRODUCT_NAME")).strip() or (product["name"] if product else "")
    return {
        "PRODUCT_ID": product_id,
        "PRODUCT_NAME": name,
        "ORIGINAL_PRODUCT_NAME": product["name"] if product else name,
        "PRODUCT_DESCRIPTION": values.text(raw.get("PRODUCT_DESCRIPTION")) or None,
        **prepare_prices(raw),
        "CUSTOMIZED": "Y",
        "MEASURE_CODE": values.intval(raw.get("MEASURE_CODE", 796)) or 796,
        "MEASURE_NAME": values.text(raw.get("MEASURE_NAME")) or "шт",
        "SORT": values.intval(raw["SORT"]) if _isset(raw, "SORT") else 0,
        "XML_ID": values.text(raw.get("XML_ID")) or None,
    }


@method("crm.deal.productrows.set")
def set_rows(call: Call) -> bool:
    deal_id = _deal_id(call)  # the portal checks the id, then rows, then whether the deal exists
    # rows in any legacy spelling; left out it is [] and the deal's rows are cleared, as on the portal
    raw_rows = [r for r in listing.as_list(call.array("rows", ROWS_NOT_ARRAY)) if isinstance(r, dict)]
    deal = _deal(call, deal_id)
    prepared = [_row(call, raw) for raw in raw_rows]
    present = rows_of(call, deal_id)
    for old in present:
        call.store.delete(TABLE, old["ID"])
    for row in prepared:
        row.update({"OWNER_ID": deal_id, "OWNER_TYPE": "D"})
        call.store.insert(TABLE, row)
        if not row["PRODUCT_NAME"]:
            row["PRODUCT_NAME"] = row["ORIGINAL_PRODUCT_NAME"] = f"[{row['ID']}]"
    if present or prepared:
        opportunity, tax_value = totals(prepared)
        deal["TAX_VALUE"] = tax_value
        if deal.get("IS_MANUAL_OPPORTUNITY") != "Y":
            deal["OPPORTUNITY"] = opportunity
    deal["DATE_MODIFY"] = call.now()
    return True


def render(row: dict[str, Any]) -> dict[str, Any]:
    def num(value: Decimal | None) -> int | float | None:
        return None if value is None else values.number(value)

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
    deal_id = _deal_id(call)
    _deal(call, deal_id)
    return [render(r) for r in rows_of(call, deal_id)]
