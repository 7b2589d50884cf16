"""Payloads of the four documents: customer order, invoice, payment and shipment.

Each document payload is a full snapshot keyed by the document's own 1C id (the envelope's
``entity_id``); the bridge derives the deal stage from the set of them, so rows and links to orders are
all here.  Sums are not cross-checked (rows vs. total): 1C's rounding and discounts are its own business.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from onec_outbox.contract.base import ContractModel, DocumentPayload
from onec_outbox.contract.fields import (
    Currency,
    Email,
    Inn,
    Money,
    Name,
    OptionalRef,
    Percent,
    Price,
    Quantity,
    Ref,
    optional,
)
from onec_outbox.contract.product import Unit, VatRate


class Organization(ContractModel):
    """Our own legal entity (Справочник.Организации): "Юр.Лицо" on the deal card."""

    id: Ref = Field(description="УникальныйИдентификатор() организации / organization UUID")
    name: Name = Field(description="Наименование / name")
    inn: optional(Inn) = Field(default=None, description="ИНН организации / tax id")


class Responsible(ContractModel):
    """Ответственный: the 1C user (Справочник.Пользователи) in charge of the order."""

    id: Ref = Field(description="УникальныйИдентификатор() пользователя / user UUID")
    name: Name = Field(description="Имя пользователя / user name")
    email: optional(Email) = Field(default=None, description="Адрес почты пользователя / e-mail")


class Item(ContractModel):
    """A row of ТЧ Товары or Услуги (services have no unit)."""

    product_id: Ref = Field(description="Номенклатура: УникальныйИдентификатор() / product UUID")
    name: Name = Field(description="Наименование (для услуг — Содержание) / row text")
    quantity: Quantity = Field(description="Количество, строка до 3 знаков / quantity as a string")
    unit: Unit | None = Field(default=None, description="Единица измерения строки / row unit")
    price: Price = Field(description="Цена, строка до 4 знаков / unit price as a string")
    discount_percent: Percent | None = Field(
        default=None,
        description="ПроцентСкидкиНаценки; отрицательный — наценка / discount, negative is a markup",
    )
    vat_rate: VatRate = Field(description="СтавкаНДС строки; пустая ставка — none / row VAT rate")
    vat_amount: Money = Field(description="СуммаНДС / VAT amount")
    amount: Money = Field(description="Сумма строки / row amount")


class CustomerOrderPayload(DocumentPayload):
    """Документ.ЗаказПокупателя."""

    organization: Organization = Field(description="Организация / our legal entity")
    counterparty_id: Ref = Field(description="Контрагент: УникальныйИдентификатор() / counterparty UUID")
    contact_person_id: OptionalRef = Field(
        default=None, description="КонтактноеЛицоКонтрагента или null / contact person UUID"
    )
    responsible: Responsible | None = Field(
        default=None, description="Ответственный или null / responsible user"
    )
    currency: Currency = Field(description="ВалютаДокумента, ISO 4217 / document currency")
    amount: Money = Field(description="СуммаДокумента / document total")
    comment: str | None = Field(default=None, description="Комментарий / comment")
    items: list[Item] = Field(description="Строки товаров и услуг / goods and services rows")


class InvoicePayload(DocumentPayload):
    """Документ.СчетНаОплатуПокупателю; ``posted`` is its Проведен (or "written", for bases set up never to post)."""

    order_id: OptionalRef = Field(default=None, description="ЗаказПокупателя или null / customer order UUID")
    currency: Currency = Field(description="ВалютаДокумента, ISO 4217 / document currency")
    amount: Money = Field(description="СуммаДокумента / document total")
    items: list[Item] = Field(description="Строки товаров и услуг / goods and services rows")


class Allocation(ContractModel):
    """A row of РасшифровкаПлатежа; without an order it affects no deal.

    ``currency`` (optional, added in v1 without breaking it) is the currency of ``amount``.  1C sends the
    amount in the order's currency when it can (СуммаВзаиморасчетов of an у.е. contract); when absent the
    amount is in the payment's ``currency``.  The bridge counts an allocation toward an order only in the
    order's currency.
    """

    order_id: OptionalRef = Field(default=None, description="Сделка (ЗаказПокупателя) или null / order UUID")
    amount: Money = Field(description="СуммаПлатежа или СуммаВзаиморасчетов / amount paid for this order")
    currency: Currency | None = Field(
        default=None,
        description="Валюта суммы, ISO 4217; нет — валюта платежа / currency of amount; absent: the payment's",
    )


class PaymentPayload(DocumentPayload):
    """ПлатежноеПоручениеВходящее (bank), ПриходныйКассовыйОрдер (cash), ОплатаОтПокупателяПлатежнойКартой (card).

    ``posted`` is true only when posted and, for bank payments, Оплачено.
    """

    kind: Literal["bank", "cash", "card"] = Field(description="Вид оплаты / payment kind")
    counterparty_id: OptionalRef = Field(
        default=None, description="Контрагент или null (ПКО от физлица) / counterparty UUID"
    )
    organization: Organization = Field(description="Организация / our legal entity")
    currency: Currency = Field(description="ВалютаДокумента, ISO 4217 / document currency")
    amount: Money = Field(description="СуммаДокумента / document total")
    allocations: list[Allocation] = Field(description="РасшифровкаПлатежа / payment allocation to orders")


class ShipmentPayload(DocumentPayload):
    """Документ.РеализацияТоваровУслуг."""

    organization: Organization = Field(description="Организация / our legal entity")
    counterparty_id: Ref = Field(description="Контрагент: УникальныйИдентификатор() / counterparty UUID")
    currency: Currency = Field(description="ВалютаДокумента, ISO 4217 / document currency")
    amount: Money = Field(description="СуммаДокумента / document total")
    order_ids: list[Ref] = Field(
        description="Заказы покупателей из строк (ЗаказПокупателя / Сделка) / order UUIDs"
    )
    items: list[Item] = Field(description="Строки товаров и услуг / goods and services rows")
