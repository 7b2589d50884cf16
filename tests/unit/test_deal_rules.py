"""The deal's stage, amount, card fields and rows follow from the 1C facts alone (pure, no I/O)."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bridge.domain.deal import (
    CANCELLED,
    INVOICED,
    NEW,
    PAID,
    SHIPPED_UNPAID,
    CustomerOrder,
    Invoice,
    Item,
    OrderFacts,
    Payment,
    Row,
    Shipment,
    deal_fields,
    deal_state,
    fmt_date,
    paid_tag,
    product_rows,
)

ORDER = "00000000-0000-0000-0000-00000000000a"
ITEM = Item(product_id="p1", name="Гвоздь", quantity=Decimal("10.000"), amount=Decimal("1200.00"),
            vat_amount=Decimal("200.00"), discount_percent=Decimal("0.00"), vat_rate="20", unit_code="796",
            unit_name="шт")
KINDS = {"invoice": Invoice, "payment": Payment, "shipment": Shipment}


def order(posted=True, deleted=False, amount="1200.00", ever_posted=None, **extra):
    return CustomerOrder(doc_id=ORDER, number="ТД-1", date="2026-11-27", posted=posted, deleted=deleted,
                         amount=Decimal(amount), counterparty_id="cp", items=(ITEM,),
                         ever_posted=posted if ever_posted is None else ever_posted, **extra)


def doc(kind, doc_id, amount, posted=True, deleted=False, date="2026-11-28", number="1", **extra):
    if kind == "payment":
        extra.setdefault("allocations", (("RUB", Decimal(str(amount))),))
    return KINDS[kind](doc_id=doc_id, number=number, date=date, posted=posted, deleted=deleted,
                       amount=Decimal(str(amount)), ever_posted=posted, **extra)


def state(*docs, paid_when="full"):
    return deal_state(OrderFacts.from_documents(ORDER, docs), paid_when)


def test_a_posted_order_alone_is_a_new_deal_with_the_order_amount_and_rows():
    s = state(order())
    assert s.stage == NEW and s.amount == Decimal("1200.00")
    assert [r.product_id for r in s.rows] == ["p1"]
    assert s.title == "Заказ ТД-1 от 27.11.2026"


def test_an_order_never_posted_has_no_deal():
    assert state(order(posted=False)) is None


def test_an_order_unposted_after_posting_goes_back_to_new_and_a_deleted_one_is_cancelled():
    assert state(order(posted=False, ever_posted=True), doc("invoice", "i1", 1200)).stage == NEW
    assert state(order(deleted=True), doc("payment", "pay1", 1200)).stage == CANCELLED


def test_an_invoice_moves_the_deal_to_invoiced_with_its_number_date_and_amount():
    s = state(order(), doc("invoice", "i1", "1250.50", number="СЧ-7", items=(ITEM,)))
    assert s.stage == INVOICED and s.amount == Decimal("1250.50")
    assert (s.invoice_number, s.invoice_date) == ("СЧ-7", "2026-11-28")


def test_a_partial_payment_then_a_shipment_is_shipped_unpaid_with_the_paid_amount_shown():
    s = state(order(), doc("invoice", "i1", 1200), doc("payment", "pay1", 500), doc("shipment", "s1", 1200, number="РТ-3",
              organization="ООО ТД"))
    assert s.stage == SHIPPED_UNPAID
    assert s.paid_amount == Decimal(500) and s.payment_date == "2026-11-28"
    assert (s.shipment_number, s.legal_entity, s.shipment_amount) == ("РТ-3", "ООО ТД", Decimal(1200))


def test_the_final_payment_makes_it_paid_whatever_was_shipped():
    s = state(order(), doc("invoice", "i1", 1200), doc("payment", "pay1", 500), doc("shipment", "s1", 1200),
              doc("payment", "pay2", 700, date="2026-11-30"))
    assert s.stage == PAID and s.payment_date == "2026-11-30"
    assert s.paying_payments == ("pay1", "pay2")


def test_an_unposted_or_deleted_payment_no_longer_counts():
    assert state(order(), doc("payment", "pay1", 1200, posted=False)).stage == NEW
    s = state(order(), doc("invoice", "i1", 1200), doc("payment", "pay1", 1200, deleted=True))
    assert s.stage == INVOICED and s.paid_amount == 0 and s.payment_date is None


def test_paid_when_any_pays_on_the_first_payment():
    assert state(order(), doc("payment", "pay1", 1), paid_when="any").stage == PAID
    assert state(order(), doc("payment", "pay1", 1), paid_when="full").stage == NEW


def test_the_facts_in_any_order_give_the_same_deal():
    docs = [order(), doc("invoice", "i1", 1200), doc("payment", "pay1", 500), doc("shipment", "s1", 1200),
            doc("payment", "pay2", 700)]
    assert state(*docs) == state(*reversed(docs)) == state(*docs[2:], *docs[:2])


def test_deal_fields_carry_1c_amount_manually_and_money_user_fields_with_currency():
    s = state(order(), doc("invoice", "i1", 1200, number="СЧ-7"), doc("payment", "pay1", 500))
    uf = {k: f"UF_CRM_{k.upper()}" for k in ("invoice_number", "invoice_date", "paid_amount", "payment_date",
                                             "shipment_number", "shipment_date", "shipment_amount", "legal_entity")}
    fields = deal_fields(s, stage_ids={k: k.upper() for k in ("new", "invoiced", "shipped_unpaid", "paid", "cancelled")},
                         user_fields=uf, originator="ut", company_id=5, contact_id=None, contact_ids=[9],
                         assigned_by_id=3)
    assert fields["STAGE_ID"] == "INVOICED" and fields["OPPORTUNITY"] == "1200.00"
    assert fields["IS_MANUAL_OPPORTUNITY"] == "Y" and fields["COMPANY_ID"] == "5" and fields["CONTACT_IDS"] == ["9"]
    assert fields["UF_CRM_PAID_AMOUNT"] == "500.00|RUB" and fields["UF_CRM_INVOICE_NUMBER"] == "СЧ-7"
    assert "UF_CRM_SHIPMENT_NUMBER" not in fields  # nothing shipped: not sent (cleared if it was)


def test_product_rows_keep_1c_prices_vat_and_units():
    rows = product_rows(state(order()), {"p1": 42})
    assert rows == [{"PRODUCT_ID": 42, "PRODUCT_NAME": "Гвоздь", "PRICE": "120.00", "QUANTITY": "10.000",
                     "TAX_INCLUDED": "Y", "SORT": 10, "TAX_RATE": "20", "MEASURE_CODE": "796", "MEASURE_NAME": "шт"}]


def test_amounts_without_vat_get_the_vat_added_to_the_row_price():
    s = state(order(amounts_include_vat=False))
    assert product_rows(s, {"p1": 1})[0]["PRICE"] == "140.00"


def _row(quantity: str, total: str, **extra) -> Row:
    return Row(product_id="p1", name="Кабель", quantity=Decimal(quantity), total=Decimal(total),
               discount_percent=Decimal(extra.pop("discount", 0)), vat_rate=extra.pop("vat", "20"), unit_code="006",
               unit_name="м", **extra)


def test_a_row_whose_price_has_no_kopeck_value_is_split_so_bitrix24_sums_it_to_1c_total():
    # 100.00 for 3 pieces: one row of 33.33 would add up to 99.99 in Bitrix24 (it keeps PRICE to 2 places)
    assert _row("3", "100.00").portions() == [(Decimal(2), Decimal("33.33")), (Decimal(1), Decimal("33.34"))]
    assert _row("4", "100.00").portions() == [(Decimal(4), Decimal("25.00"))]
    # a fractional quantity no kopeck price fits is one row of quantity 1, the quantity kept in its name
    assert _row("2.5", "100.01").portions() == [(Decimal(1), Decimal("100.01"))]
    rows = product_rows(replace(state(order()), rows=(_row("2.5", "100.01"),)), {"p1": 7})
    assert [(r["PRODUCT_NAME"], r["PRICE"], r["QUANTITY"]) for r in rows] == [("Кабель (2.5 м)", "100.01", "1")]
    assert "MEASURE_CODE" not in rows[0]


def test_a_100_percent_discount_tells_the_portal_the_discount_sum_it_requires():
    rows = product_rows(replace(state(order()), rows=(_row("2", "0.00", discount=100, list_price=Decimal("120")),)),
                        {"p1": 7})
    assert rows[0]["PRICE"] == "0.00" and rows[0]["DISCOUNT_RATE"] == "100" and rows[0]["DISCOUNT_SUM"] == "100.00"


def test_the_paid_tag_depends_on_the_deal_and_the_paying_payments_only():
    assert paid_tag("ut", ORDER, ["a", "b"]) == paid_tag("ut", ORDER, ["b", "a"])
    assert paid_tag("ut", ORDER, ["a"]) != paid_tag("ut", ORDER, ["a", "b"])


def _payment(doc_id, allocations, currency="RUB", amount="1200.00"):
    """A payment toward ORDER with these (currency, amount) allocation rows."""
    rows = tuple((c, Decimal(a)) for c, a in allocations)
    return Payment(doc_id=doc_id, number="1", date="2026-11-28", posted=True, ever_posted=True, kind="bank",
                   currency=currency, amount=Decimal(amount), allocations=rows)


def test_an_allocation_counts_toward_the_order_only_in_the_order_currency():
    usd_order = order(currency="USD", amount="100.00")
    # у.е. contract: the payment is in RUB, 1C sends the allocation in the order's currency (USD)
    paid = state(usd_order, _payment("pay1", [("USD", "100.00")], currency="RUB", amount="9000.00"))
    assert paid.stage == PAID and paid.paid_amount == Decimal("100.00") and paid.currency == "USD"
    # the same payment with its allocation in RUB: not comparable with a USD order
    rub = state(usd_order, _payment("pay1", [("RUB", "9000.00")], currency="RUB", amount="9000.00"))
    assert rub.stage == NEW and rub.paid_amount == Decimal(0)
    note = next(n.text for n in rub.notes if n.key == "payment:pay1")
    assert "9000.00 RUB (в другой валюте, не учтено)" in note


def test_allocations_in_the_order_currency_add_up_across_rows_and_others_are_ignored():
    s = state(order(), _payment("pay1", [("RUB", "700.00"), ("RUB", "500.00"), ("EUR", "5.00")]))
    assert s.stage == PAID and s.paid_amount == Decimal("1200.00")


@given(st.dates(min_value=date(1000, 1, 1)))
def test_dates_read_as_a_russian_manager_writes_them_for_any_date(day):
    """Titles and notes show ``DD.MM.YYYY`` exactly as ``strftime("%d.%m.%Y")`` writes it (glibc, Python
    3.11), from a date or a date-time in ISO form; 1C's empty date keeps its year unpadded."""
    assert fmt_date(day.isoformat()) == fmt_date(f"{day.isoformat()}T10:30:00") == day.strftime("%d.%m.%Y")
    assert fmt_date("0001-01-01T00:00:00") == "01.01.1"
    assert fmt_date("не дата") == "не дата"
