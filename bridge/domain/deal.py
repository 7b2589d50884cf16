"""The deal of a 1C customer order, as a pure function of the 1C facts known for that order.

Facts are the latest snapshots of the order and of every invoice, payment and shipment that refers to it
(each keyed by its own 1C document id, version-guarded upstream), as typed documents that
``bridge.projection`` builds from the stored contract JSON.  Because the deal depends only on these facts
and not on the order they arrived in, any permutation or repetition of the same events gives the same
deal, and a stage moves back only when a 1C fact changes (a document unposted or marked for deletion).

Stage rules (``docs/deals.md``):

* a document counts ("valid") when it is posted and not marked for deletion;
* a deal exists once any version of its order was posted;
* order marked for deletion → ``cancelled``; order not posted → ``new``; otherwise
  ``paid`` if paid, else ``shipped_unpaid`` if a valid shipment lists the order, else ``invoiced`` if a
  valid invoice is for the order, else ``new``;
* amount = the valid invoices' total when there is one, else the order's amount; product rows likewise;
* paid amount = allocations to this order from valid payments, counted only in the order's currency (an
  allocation's optional ``currency``, else its payment's); paid when it covers the amount
  (``paid_when: full``) or when it is positive (``paid_when: any``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

NEW, INVOICED, SHIPPED_UNPAID, PAID, CANCELLED = "new", "invoiced", "shipped_unpaid", "paid", "cancelled"
STAGES = (NEW, INVOICED, SHIPPED_UNPAID, PAID, CANCELLED)
CENT = Decimal("0.01")
PAYMENT_KIND = {"bank": "банк", "cash": "касса", "card": "карта"}


def fmt_money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def fmt_date(value: Any) -> str:
    """``YYYY-MM-DD`` → ``DD.MM.YYYY`` (how a Russian manager reads dates)."""
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{day.day:02d}.{day.month:02d}.{day.year}"  # strftime("%d.%m.%Y"), at half its cost


@dataclass(frozen=True)
class Responsible:
    """Ответственный of an order: the 1C user, mapped to a Bitrix24 user by id or e-mail."""

    id: str
    name: str = ""
    email: str | None = None


@dataclass(frozen=True)
class Item:
    """A row of an order or invoice as 1C sent it; ``amount`` includes VAT only if the document says so."""

    product_id: str | None
    name: str
    quantity: Decimal
    amount: Decimal
    vat_amount: Decimal = Decimal(0)
    discount_percent: Decimal = Decimal(0)
    vat_rate: str = "none"
    unit_code: str | None = None
    unit_name: str | None = None
    price: Decimal = Decimal(0)  # 1C's unit price before the discount (as the document states amounts)


@dataclass(frozen=True, kw_only=True)
class Document:
    """One 1C document's latest snapshot, as far as the deal of an order needs it."""

    doc_type: ClassVar[str]
    doc_id: str
    number: str = ""
    date: str = ""  # YYYY-MM-DD
    posted: bool = False
    deleted: bool = False
    currency: str = "RUB"
    amount: Decimal = Decimal(0)  # the document's total
    ever_posted: bool = False  # any version of it was posted (kept by the projection)

    @property
    def valid(self) -> bool:
        return self.posted and not self.deleted

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.date, self.number, self.doc_id)


@dataclass(frozen=True, kw_only=True)
class CustomerOrder(Document):
    doc_type: ClassVar[str] = "customer_order"
    counterparty_id: str
    contact_person_id: str | None = None
    responsible: Responsible | None = None
    comment: str | None = None
    items: tuple[Item, ...] = ()
    amounts_include_vat: bool = True
    organization_id: str | None = None  # our legal entity (Организация): its deal funnel, deals.funnels
    organization_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Invoice(Document):
    doc_type: ClassVar[str] = "invoice"
    items: tuple[Item, ...] = ()
    amounts_include_vat: bool = True


@dataclass(frozen=True, kw_only=True)
class Payment(Document):
    doc_type: ClassVar[str] = "payment"
    kind: str = ""  # bank | cash | card
    # (currency, amount) of each allocation row toward the order in question; a row's currency is the
    # payment's unless 1C says otherwise (an у.е. contract allocates in the order's currency)
    allocations: tuple[tuple[str, Decimal], ...] = ()

    def allocated(self, currency: str) -> Decimal:
        """What it pays toward the order in ``currency``: amounts in another currency are not comparable
        (an у.е. contract's payment in RUB is not the order's USD amount)."""
        return sum((amount for c, amount in self.allocations if c == currency), Decimal(0))


@dataclass(frozen=True, kw_only=True)
class Shipment(Document):
    doc_type: ClassVar[str] = "shipment"
    organization: str | None = None  # our legal entity's name


@dataclass(frozen=True)
class OrderFacts:
    order_id: str
    order: CustomerOrder | None
    invoices: tuple[Invoice, ...] = ()
    payments: tuple[Payment, ...] = ()
    shipments: tuple[Shipment, ...] = ()

    @classmethod
    def from_documents(cls, order_id: str, documents: Iterable[Document]) -> OrderFacts:
        order, kinds = None, {Invoice: [], Payment: [], Shipment: []}
        for doc in documents:
            if isinstance(doc, CustomerOrder):
                if doc.doc_id == order_id:
                    order = doc
            elif type(doc) in kinds:
                kinds[type(doc)].append(doc)
        ordered = {k: tuple(sorted(v, key=lambda d: d.sort_key)) for k, v in kinds.items()}
        return cls(order_id, order, ordered[Invoice], ordered[Payment], ordered[Shipment])


@dataclass(frozen=True)
class Row:
    """A product row as 1C computed it; ``total`` includes VAT and the discount."""

    product_id: str | None
    name: str
    quantity: Decimal
    total: Decimal
    discount_percent: Decimal
    vat_rate: str
    unit_code: str | None
    unit_name: str | None
    list_price: Decimal = Decimal(0)  # unit price before the discount, incl. VAT

    @property
    def price(self) -> Decimal:
        """Final unit price incl. VAT after discount, to 4 places (what 1C's row works out to)."""
        if not self.quantity:
            return self.total
        return (self.total / self.quantity).quantize(Decimal("0.0001"))

    def portions(self) -> list[tuple[Decimal, Decimal]]:
        """(quantity, unit price to the kopeck) pairs whose ``price × quantity`` add up to ``total`` exactly.

        Bitrix24 keeps a row's PRICE to 2 places and sums rows as PRICE × QUANTITY, so 100.00 for 3 pieces
        cannot be one row (3 × 33.33 = 99.99): it becomes 2 × 33.33 + 1 × 33.34.  A fractional quantity
        that no kopeck price fits (2.5 kg for 100.01) becomes one row of quantity 1 at the row's total.
        """
        quantity, total = self.quantity, self.total
        if quantity > 0:
            price = (total / quantity).quantize(CENT, ROUND_HALF_UP)
            if price * quantity == total:
                return [(quantity, price)]
            if quantity == quantity.to_integral_value() and quantity >= 2:
                low = (total / quantity).quantize(CENT, ROUND_DOWN)
                return [(quantity - 1, low), (Decimal(1), total - low * (quantity - 1))]
        return [(Decimal(1), total)]


@dataclass(frozen=True)
class DocumentNote:
    key: str  # "<doc_type>:<doc_id>"
    text: str


@dataclass(frozen=True)
class DealState:
    """Everything the deal of one order should show, before Bitrix24 ids are known."""

    order_id: str
    number: str
    date: str
    stage: str
    currency: str
    amount: Decimal
    counterparty_id: str
    contact_person_id: str | None
    responsible: Responsible | None
    comment: str | None
    rows: tuple[Row, ...]
    invoice_number: str | None = None
    invoice_date: str | None = None
    paid_amount: Decimal = Decimal(0)
    payment_date: str | None = None
    shipment_number: str | None = None
    shipment_date: str | None = None
    shipment_amount: Decimal | None = None
    legal_entity: str | None = None
    organization_id: str | None = None  # the order's Организация (picks the funnel a new deal goes to)
    organization_name: str | None = None
    paying_payments: tuple[str, ...] = ()
    notes: tuple[DocumentNote, ...] = field(default=())

    @property
    def title(self) -> str:
        return f"Заказ {self.number} от {fmt_date(self.date)}"

    @property
    def product_ids(self) -> set[str]:
        return {r.product_id for r in self.rows if r.product_id}


def rows_of(doc: CustomerOrder | Invoice) -> tuple[Row, ...]:
    return tuple(Row(
        product_id=item.product_id, name=item.name, quantity=item.quantity,
        total=item.amount if doc.amounts_include_vat else item.amount + item.vat_amount,
        discount_percent=item.discount_percent, vat_rate=item.vat_rate, unit_code=item.unit_code,
        unit_name=item.unit_name, list_price=_list_price(item, doc.amounts_include_vat)) for item in doc.items)


def _list_price(item: Item, includes_vat: bool) -> Decimal:
    """The unit price before the discount, incl. VAT (1C states it without VAT when the document does)."""
    rate = vat_percent(item.vat_rate)
    if includes_vat or rate is None:
        return item.price
    return (item.price * (100 + rate) / 100).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def vat_percent(vat_rate: str) -> Decimal | None:
    """``"20"`` → 20, ``"20/120"`` → 20, ``"none"``/empty → None."""
    head = (vat_rate or "").split("/")[0].strip()
    if head in ("", "none"):
        return None
    try:
        return Decimal(head)
    except ArithmeticError:
        return None


def stage_of(order: CustomerOrder, *, paid: bool, shipped: bool, invoiced: bool) -> str:
    if order.deleted:
        return CANCELLED
    if not order.posted:
        return NEW
    if paid:
        return PAID
    if shipped:
        return SHIPPED_UNPAID
    if invoiced:
        return INVOICED
    return NEW


def deal_state(facts: OrderFacts, paid_when: str = "full") -> DealState | None:
    """The deal for these facts, or None when no deal should exist (the order was never posted)."""
    order = facts.order
    if order is None or not order.ever_posted:
        return None
    currency = order.currency
    invoices = [d for d in facts.invoices if d.valid]
    paying = {d.doc_id: d.allocated(currency) for d in facts.payments}
    payments = [d for d in facts.payments if d.valid and paying[d.doc_id] > 0]
    shipments = [d for d in facts.shipments if d.valid]

    amount = sum((d.amount for d in invoices), Decimal(0)) if invoices else order.amount
    rows = tuple(r for d in invoices for r in rows_of(d)) if invoices else rows_of(order)
    paid_amount = sum((paying[d.doc_id] for d in payments), Decimal(0))
    paid = paid_amount > 0 if paid_when == "any" else (amount > 0 and paid_amount >= amount)
    last_invoice = invoices[-1] if invoices else None
    last_shipment = shipments[-1] if shipments else None
    return DealState(
        order_id=facts.order_id,
        number=order.number,
        date=order.date,
        stage=stage_of(order, paid=paid, shipped=bool(shipments), invoiced=bool(invoices)),
        currency=order.currency,
        amount=amount,
        counterparty_id=order.counterparty_id,
        contact_person_id=order.contact_person_id,
        responsible=order.responsible,
        comment=order.comment,
        rows=rows,
        invoice_number=last_invoice.number if last_invoice else None,
        invoice_date=last_invoice.date if last_invoice else None,
        paid_amount=paid_amount,
        payment_date=max(d.date for d in payments) if payments else None,
        shipment_number=last_shipment.number if last_shipment else None,
        shipment_date=last_shipment.date if last_shipment else None,
        shipment_amount=sum((d.amount for d in shipments), Decimal(0)) if shipments else None,
        legal_entity=last_shipment.organization if last_shipment else None,
        organization_id=order.organization_id,
        organization_name=order.organization_name,
        paying_payments=tuple(sorted(d.doc_id for d in payments)) if paid else (),
        notes=tuple(_note(d, currency)
                    for d in (order, *facts.invoices, *facts.payments, *facts.shipments)),
    )


def _status(doc: Document) -> str:
    if doc.deleted:
        return "помечен на удаление"
    if doc.doc_type == "invoice":
        return "выставлен" if doc.posted else "не записан"
    return "проведён" if doc.posted else "проведение отменено"


def _note(doc: Document, order_currency: str = "RUB") -> DocumentNote:
    currency = doc.currency
    head = f"№ {doc.number} от {fmt_date(doc.date)}"
    if isinstance(doc, CustomerOrder):
        text = f"1С: Заказ покупателя {head} на сумму {fmt_money(doc.amount)} {currency}"
    elif isinstance(doc, Invoice):
        text = f"1С: Счёт на оплату {head} на сумму {fmt_money(doc.amount)} {currency}"
    elif isinstance(doc, Payment):
        kind = PAYMENT_KIND.get(doc.kind, doc.kind)
        text = (f"1С: Оплата ({kind}) {head}: {_allocations_text(doc, order_currency)} по этому заказу "
                f"(всего по документу {fmt_money(doc.amount)} {currency})")
    else:
        text = f"1С: Реализация {head} на сумму {fmt_money(doc.amount)} {currency}"
    return DocumentNote(f"{doc.doc_type}:{doc.doc_id}", f"{text} — {_status(doc)}")


def _allocations_text(payment: Payment, order_currency: str) -> str:
    by_currency: dict[str, Decimal] = {}
    for currency, amount in payment.allocations:
        by_currency[currency] = by_currency.get(currency, Decimal(0)) + amount
    if not by_currency:
        return f"0.00 {order_currency}"
    return ", ".join(f"{fmt_money(v)} {c}" + ("" if c == order_currency else " (в другой валюте, не учтено)")
                     for c, v in sorted(by_currency.items()))


# --- Bitrix24 shapes ------------------------------------------------------------------------------------


def deal_fields(state: DealState, *, stage_ids: Mapping[str, str], user_fields: Mapping[str, str],
                originator: str, company_id: int | None, contact_id: int | None,
                contact_ids: Iterable[int], assigned_by_id: int) -> dict[str, Any]:
    """Deal fields for crm.deal.add/update (legacy UPPER_SNAKE names; UF money as ``"123.45|RUB"``).
    Values 1C does not have are left out; a value that disappears is cleared by the three-way diff."""
    cur = state.currency
    fields: dict[str, Any] = {
        "TITLE": state.title,
        "STAGE_ID": stage_ids[state.stage],
        "CURRENCY_ID": cur,
        "OPPORTUNITY": fmt_money(state.amount),
        "IS_MANUAL_OPPORTUNITY": "Y",  # the amount is 1C's, to the kopeck, not Bitrix24's sum of rows
        "BEGINDATE": state.date,
        "ASSIGNED_BY_ID": str(assigned_by_id),
        "ORIGINATOR_ID": originator,
        "ORIGIN_ID": state.order_id,
        "COMMENTS": state.comment,
        "COMPANY_ID": str(company_id) if company_id else None,
        "CONTACT_ID": str(contact_id) if contact_id else None,
        user_fields["invoice_number"]: state.invoice_number,
        user_fields["invoice_date"]: state.invoice_date,
        user_fields["paid_amount"]: f"{fmt_money(state.paid_amount)}|{cur}" if state.paid_amount else None,
        user_fields["payment_date"]: state.payment_date,
        user_fields["shipment_number"]: state.shipment_number,
        user_fields["shipment_date"]: state.shipment_date,
        user_fields["shipment_amount"]: (f"{fmt_money(state.shipment_amount)}|{cur}"
                                         if state.shipment_amount is not None else None),
        user_fields["legal_entity"]: state.legal_entity,
    }
    ids = sorted(set(contact_ids))
    if ids:
        fields["CONTACT_IDS"] = [str(i) for i in ids]
    return {k: v for k, v in fields.items() if v not in (None, "")}


def product_rows(state: DealState, product_ids: Mapping[str, int]) -> list[dict[str, Any]]:
    """Rows for crm.deal.productrows.set: 1C's final prices incl. VAT, its discount and VAT rate, each 1C
    row as one or two Bitrix24 rows whose PRICE × QUANTITY add up to 1C's row total to the kopeck
    (:meth:`Row.portions`)."""
    rows = []
    for row in state.rows:
        rate = vat_percent(row.vat_rate)
        portions = row.portions()
        collapsed = len(portions) == 1 and portions[0][0] != row.quantity  # the quantity goes into the name
        for quantity, price in portions:
            item: dict[str, Any] = {
                "PRODUCT_ID": product_ids.get(row.product_id, 0) if row.product_id else 0,
                "PRODUCT_NAME": _collapsed_name(row) if collapsed else row.name,
                "PRICE": str(price),
                "QUANTITY": str(quantity),
                "TAX_INCLUDED": "Y",
                "SORT": (len(rows) + 1) * 10,
            }
            if rate is not None:
                item["TAX_RATE"] = str(rate)
            if row.discount_percent and row.discount_percent < 100:
                item["DISCOUNT_TYPE_ID"] = 2
                item["DISCOUNT_RATE"] = str(row.discount_percent)
            elif row.discount_percent >= 100 and row.list_price > 0:  # the portal needs the sum at 100 %
                exclusive = row.list_price if rate is None else row.list_price * 100 / (100 + rate)
                item["DISCOUNT_TYPE_ID"] = 2
                item["DISCOUNT_RATE"] = "100"
                item["DISCOUNT_SUM"] = str(exclusive.quantize(CENT, ROUND_HALF_UP))
            if row.unit_code and not collapsed:
                item["MEASURE_CODE"] = row.unit_code
            if row.unit_name and not collapsed:
                item["MEASURE_NAME"] = row.unit_name
            rows.append(item)
    return rows


def _collapsed_name(row: Row) -> str:
    """``Кабель (2.5 м)``: a row sent as quantity 1 keeps 1C's quantity in its name."""
    quantity = format(row.quantity.normalize(), "f")
    return f"{row.name} ({quantity} {row.unit_name})" if row.unit_name else f"{row.name} ({quantity})"


def rows_total(rows: Iterable[Mapping[str, Any]]) -> Decimal:
    """What Bitrix24 makes of product rows: Σ PRICE × QUANTITY (incl. VAT), to the kopeck."""
    return sum((Decimal(str(r.get("PRICE") or 0)) * Decimal(str(r.get("QUANTITY") or 0)) for r in rows),
               Decimal(0)).quantize(CENT, ROUND_HALF_UP)


def paid_tag(source: str, order_id: str, payments: Iterable[str]) -> str:
    """The notification TAG: the same deal paid by the same payments is one notification, however often
    the event is replayed (Bitrix24 replaces a notification with the same TAG)."""
    digest = hashlib.sha256("|".join(sorted(payments)).encode()).hexdigest()[:16]
    return f"b24bridge|paid|{source}|{order_id}|{digest}"


def paid_message(state: DealState, deal_id: int, client: str | None) -> str:
    invoice = f", счёт № {state.invoice_number} от {fmt_date(state.invoice_date)}" if state.invoice_number else ""
    return (f"Клиент оплатил заказ № {state.number}: {client or 'клиент'}{invoice}, "
            f"оплачено {fmt_money(state.paid_amount)} {state.currency} из {fmt_money(state.amount)}. "
            f"[URL=/crm/deal/details/{deal_id}/]Открыть сделку[/URL]")
