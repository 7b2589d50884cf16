"""The deal of a 1C customer order, as a pure function of the 1C facts known for that order.

Facts are the latest snapshots of the order and of every invoice, payment and shipment that refers to it
(each keyed by its own 1C document id, version-guarded upstream).  Because the deal depends only on these
facts and not on the order they arrived in, any permutation or repetition of the same events gives the
same deal, and a stage moves back only when a 1C fact changes (a document unposted or marked for deletion).

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
from decimal import Decimal, InvalidOperation
from typing import Any

NEW, INVOICED, SHIPPED_UNPAID, PAID, CANCELLED = "new", "invoiced", "shipped_unpaid", "paid", "cancelled"
STAGES = (NEW, INVOICED, SHIPPED_UNPAID, PAID, CANCELLED)
CENT = Decimal("0.01")
PAYMENT_KIND = {"bank": "банк", "cash": "касса", "card": "карта"}


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def fmt_money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def fmt_date(value: Any) -> str:
    """``YYYY-MM-DD`` → ``DD.MM.YYYY`` (how a Russian manager reads dates)."""
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%d.%m.%Y")
    except ValueError:
        return str(value)


@dataclass(frozen=True)
class Document:
    """One 1C document's latest snapshot (contract payload as JSON) and what it means for this order."""

    doc_type: str  # customer_order | invoice | payment | shipment
    doc_id: str
    snapshot: Mapping[str, Any]
    ever_posted: bool = False
    amount: Decimal | None = None  # a payment's allocation to this order; an invoice's/shipment's total

    @property
    def posted(self) -> bool:
        return bool(self.snapshot.get("posted"))

    @property
    def deleted(self) -> bool:
        return bool(self.snapshot.get("deleted"))

    @property
    def valid(self) -> bool:
        return self.posted and not self.deleted

    @property
    def number(self) -> str:
        return str(self.snapshot.get("number") or "")

    @property
    def date(self) -> str:
        return str(self.snapshot.get("date") or "")

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.date, self.number, self.doc_id)


@dataclass(frozen=True)
class OrderFacts:
    order_id: str
    order: Document | None
    invoices: tuple[Document, ...] = ()
    payments: tuple[Document, ...] = ()
    shipments: tuple[Document, ...] = ()

    @classmethod
    def from_documents(cls, order_id: str, documents: Iterable[Document]) -> OrderFacts:
        order, kinds = None, {"invoice": [], "payment": [], "shipment": []}
        for doc in documents:
            if doc.doc_type == "customer_order":
                if doc.doc_id == order_id:
                    order = doc
            elif doc.doc_type in kinds:
                kinds[doc.doc_type].append(doc)
        ordered = {k: tuple(sorted(v, key=lambda d: d.sort_key)) for k, v in kinds.items()}
        return cls(order_id, order, ordered["invoice"], ordered["payment"], ordered["shipment"])


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

    @property
    def price(self) -> Decimal:
        """Final unit price incl. VAT after discount (Bitrix24 PRICE), to 4 places."""
        if not self.quantity:
            return self.total
        return (self.total / self.quantity).quantize(Decimal("0.0001"))


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
    responsible: Mapping[str, Any] | None
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
    paying_payments: tuple[str, ...] = ()
    notes: tuple[DocumentNote, ...] = field(default=())

    @property
    def title(self) -> str:
        return f"Заказ {self.number} от {fmt_date(self.date)}"

    @property
    def product_ids(self) -> set[str]:
        return {r.product_id for r in self.rows if r.product_id}


def rows_of(snapshot: Mapping[str, Any]) -> tuple[Row, ...]:
    include_vat = snapshot.get("amounts_include_vat", True) is not False
    rows = []
    for item in snapshot.get("items") or ():
        amount, vat = money(item.get("amount")), money(item.get("vat_amount"))
        unit = item.get("unit") or {}
        rows.append(Row(
            product_id=item.get("product_id"), name=str(item.get("name") or ""),
            quantity=money(item.get("quantity")), total=amount if include_vat else amount + vat,
            discount_percent=money(item.get("discount_percent")), vat_rate=str(item.get("vat_rate") or "none"),
            unit_code=unit.get("code"), unit_name=unit.get("name")))
    return tuple(rows)


def stage_of(order: Document, *, paid: bool, shipped: bool, invoiced: bool) -> str:
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


def allocation_currency(payment: Mapping[str, Any], allocation: Mapping[str, Any]) -> str:
    return str(allocation.get("currency") or payment.get("currency") or "RUB")


def allocated(doc: Document, order_id: str, currency: str) -> Decimal:
    """What a payment allocates to this order in the order's currency (other currencies are not comparable:
    an у.е. contract's payment in RUB is not the order's USD amount)."""
    snap = doc.snapshot
    allocations = snap.get("allocations")
    if allocations is None:  # a snapshot without allocations: the projection's sum, in the payment's currency
        return (doc.amount or Decimal(0)) if str(snap.get("currency") or "RUB") == currency else Decimal(0)
    return sum((money(a.get("amount")) for a in allocations
                if a.get("order_id") == order_id and allocation_currency(snap, a) == currency), Decimal(0))


def deal_state(facts: OrderFacts, paid_when: str = "full") -> DealState | None:
    """The deal for these facts, or None when no deal should exist (the order was never posted)."""
    order = facts.order
    if order is None or not order.ever_posted:
        return None
    snap = order.snapshot
    currency = str(snap.get("currency") or "RUB")
    invoices = [d for d in facts.invoices if d.valid]
    paying = {d.doc_id: allocated(d, facts.order_id, currency) for d in facts.payments}
    payments = [d for d in facts.payments if d.valid and paying[d.doc_id] > 0]
    shipments = [d for d in facts.shipments if d.valid]

    amount = sum((money(d.snapshot.get("amount")) for d in invoices), Decimal(0)) if invoices else money(snap.get("amount"))
    rows = tuple(r for d in invoices for r in rows_of(d.snapshot)) if invoices else rows_of(snap)
    paid_amount = sum((paying[d.doc_id] for d in payments), Decimal(0))
    paid = paid_amount > 0 if paid_when == "any" else (amount > 0 and paid_amount >= amount)
    last_invoice = invoices[-1] if invoices else None
    last_shipment = shipments[-1] if shipments else None
    return DealState(
        order_id=facts.order_id,
        number=order.number,
        date=order.date,
        stage=stage_of(order, paid=paid, shipped=bool(shipments), invoiced=bool(invoices)),
        currency=currency,
        amount=amount,
        counterparty_id=str(snap.get("counterparty_id")),
        contact_person_id=snap.get("contact_person_id"),
        responsible=snap.get("responsible"),
        comment=snap.get("comment"),
        rows=rows,
        invoice_number=last_invoice.number if last_invoice else None,
        invoice_date=last_invoice.date if last_invoice else None,
        paid_amount=paid_amount,
        payment_date=max(d.date for d in payments) if payments else None,
        shipment_number=last_shipment.number if last_shipment else None,
        shipment_date=last_shipment.date if last_shipment else None,
        shipment_amount=sum((money(d.snapshot.get("amount")) for d in shipments), Decimal(0)) if shipments else None,
        legal_entity=((last_shipment.snapshot.get("organization") or {}).get("name")) if last_shipment else None,
        paying_payments=tuple(sorted(d.doc_id for d in payments)) if paid else (),
        notes=tuple(_note(d, facts.order_id, currency)
                    for d in (order, *facts.invoices, *facts.payments, *facts.shipments)),
    )


def _status(doc: Document) -> str:
    if doc.deleted:
        return "помечен на удаление"
    if doc.doc_type == "invoice":
        return "выставлен" if doc.posted else "не записан"
    return "проведён" if doc.posted else "проведение отменено"


def _note(doc: Document, order_id: str = "", order_currency: str = "RUB") -> DocumentNote:
    snap = doc.snapshot
    currency = snap.get("currency") or "RUB"
    head = f"№ {doc.number} от {fmt_date(doc.date)}"
    if doc.doc_type == "customer_order":
        text = f"1С: Заказ покупателя {head} на сумму {fmt_money(money(snap.get('amount')))} {currency}"
    elif doc.doc_type == "invoice":
        text = f"1С: Счёт на оплату {head} на сумму {fmt_money(money(snap.get('amount')))} {currency}"
    elif doc.doc_type == "payment":
        kind = PAYMENT_KIND.get(str(snap.get("kind")), str(snap.get("kind")))
        text = (f"1С: Оплата ({kind}) {head}: {_allocations_text(doc, order_id, order_currency)} по этому заказу "
                f"(всего по документу {fmt_money(money(snap.get('amount')))} {currency})")
    else:
        text = f"1С: Реализация {head} на сумму {fmt_money(money(snap.get('amount')))} {currency}"
    return DocumentNote(f"{doc.doc_type}:{doc.doc_id}", f"{text} — {_status(doc)}")


def _allocations_text(doc: Document, order_id: str, order_currency: str) -> str:
    snap = doc.snapshot
    if snap.get("allocations") is None:
        return f"{fmt_money(doc.amount or Decimal(0))} {snap.get('currency') or 'RUB'}"
    by_currency: dict[str, Decimal] = {}
    for a in snap["allocations"]:
        if a.get("order_id") == order_id:
            cur = allocation_currency(snap, a)
            by_currency[cur] = by_currency.get(cur, Decimal(0)) + money(a.get("amount"))
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
    """Rows for crm.deal.productrows.set: 1C's final prices incl. VAT, its discount and VAT rate."""
    rows = []
    for n, row in enumerate(state.rows):
        item: dict[str, Any] = {
            "PRODUCT_ID": product_ids.get(row.product_id, 0) if row.product_id else 0,
            "PRODUCT_NAME": row.name,
            "PRICE": str(row.price),
            "QUANTITY": str(row.quantity),
            "TAX_INCLUDED": "Y",
            "SORT": (n + 1) * 10,
        }
        if row.vat_rate not in ("none", ""):
            item["TAX_RATE"] = row.vat_rate.split("/")[0]
        if row.discount_percent:
            item["DISCOUNT_TYPE_ID"] = 2
            item["DISCOUNT_RATE"] = str(row.discount_percent)
        if row.unit_code:
            item["MEASURE_CODE"] = row.unit_code
        if row.unit_name:
            item["MEASURE_NAME"] = row.unit_name
        rows.append(item)
    return rows


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
