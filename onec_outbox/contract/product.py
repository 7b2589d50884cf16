"""Payload of ``product.upserted``: a Номенклатура item with its unit, VAT rate and current prices.

Prices live in РегистрСведений.ЦеныНоменклатуры (written by УстановкаЦенНоменклатуры), so 1C sends the
product again when its price changes; ``sale_price``/``purchase_price`` are null when no price is set.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool

from onec_outbox.contract.base import ContractModel, Payload
from onec_outbox.contract.fields import Currency, Name, Price

# Rates of Перечисление.СтавкиНДС as they appear in UT 10.3 bases over the years: 18 until 2018, 20 from
# 2019, 22 from 2026, 5 and 7 for simplified-tax sellers from 2025; "20/120" etc. are the calculated
# rates of advance invoices; "none" is Без НДС.  The 1C module maps an empty rate to "none".
VatRate = Literal[
    "22",
    "20",
    "18",
    "10",
    "7",
    "5",
    "0",
    "none",
    "22/122",
    "20/120",
    "18/118",
    "10/110",
    "7/107",
    "5/105",
]

VAT_RATES: tuple[str, ...] = VatRate.__args__


def _text(ru_en: str) -> Any:
    """An optional free-text field (1C may leave it empty)."""
    return Field(default=None, description=ru_en)


class Unit(ContractModel):
    """A unit of measure: its ОКЕИ code and short name."""

    code: Name = Field(description="Код по ОКЕИ, например 796 (шт) / OKEI code")
    name: Name = Field(description="Краткое наименование, например шт / short name")


class SalePrice(ContractModel):
    """The selling price of the price type the bridge is configured for."""

    amount: Price = Field(description="Цена за единицу, строка / unit price as a string")
    currency: Currency = Field(description="Валюта цены, ISO 4217 / price currency")
    price_type: Name = Field(description="Тип цен (наименование) / price type name")


class PurchasePrice(ContractModel):
    """The purchase price (its source in 1C is the client's choice, see the 1C fact sheet)."""

    amount: Price = Field(description="Цена за единицу, строка / unit price as a string")
    currency: Currency = Field(description="Валюта цены, ISO 4217 / price currency")


class ProductPayload(Payload):
    """Справочник.Номенклатура."""

    code: Name = Field(description="Код / 1C code")
    article: str | None = _text("Артикул / article")
    name: Name = Field(description="Наименование / name")
    full_name: str | None = _text("НаименованиеПолное / full name")
    is_service: StrictBool = Field(description="Услуга / a service, not goods")
    unit: Unit | None = Field(default=None, description="ЕдиницаХраненияОстатков / base unit")
    vat_rate: VatRate | None = Field(default=None, description="СтавкаНДС; null — не задана / VAT rate")
    sale_price: SalePrice | None = Field(default=None, description="Цена продажи или null / sale price")
    purchase_price: PurchasePrice | None = Field(
        default=None, description="Закупочная цена или null / purchase price"
    )
