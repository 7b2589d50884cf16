"""What happens to customer orders: the lifecycles a run mixes, each a short story told on its own clock.

A lifecycle takes the office and a clock set to its start and writes the documents of one order (two for
``two_orders_one_payment``) as 1C users would: order, invoice, payments by bank, cash or card, shipments,
and the mistakes people correct (unposting, deletion marks, changed orders).  Each returns the orders it
created, so the scenario can say which lifecycle an order went through.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from onec_outbox.simulator.office import Clock, Doc, Office


def order_only(office: Office, clock: Clock) -> list[Doc]:
    """An order posted and nothing else yet: a deal at its first stage."""
    return [office.order(clock)]


def draft(office: Office, clock: Clock) -> list[Doc]:
    """An order saved but never posted: no deal."""
    return [office.order(clock, draft=True)]


def invoiced(office: Office, clock: Clock) -> list[Doc]:
    order = office.order(clock)
    office.invoice(clock, order)
    return [order]


def paid(office: Office, clock: Clock) -> list[Doc]:
    """Order → invoice → full payment; not shipped yet."""
    order = office.order(clock)
    invoice = office.invoice(clock, order)
    office.pay(clock, [(order, invoice.amount)], order)
    return [order]


def paid_then_shipped(office: Office, clock: Clock) -> list[Doc]:
    order = office.order(clock)
    invoice = office.invoice(clock, order)
    office.pay(clock, [(order, invoice.amount)], order)
    office.ship(clock, [order])
    return [order]


def partial_shipped_then_paid(office: Office, clock: Clock) -> list[Doc]:
    """Order → invoice → partial payment → shipment (before full payment) → final payment."""
    order = office.order(clock)
    invoice = office.invoice(clock, order)
    first = office.part(invoice.amount)
    office.pay(clock, [(order, first)], order)
    office.ship(clock, [order])
    office.pay(clock, [(order, invoice.amount - first)], order)
    return [order]


def partial_shipped(office: Office, clock: Clock) -> list[Doc]:
    """Shipped after a partial payment; the rest is still owed."""
    order = office.order(clock)
    invoice = office.invoice(clock, order)
    office.pay(clock, [(order, office.part(invoice.amount))], order)
    office.ship(clock, [order])
    return [order]


def shipped_unpaid(office: Office, clock: Clock) -> list[Doc]:
    """Shipped on credit straight from the order: no invoice, no payment."""
    order = office.order(clock)
    office.ship(clock, [order])
    return [order]


def payment_unposted(office: Office, clock: Clock) -> list[Doc]:
    """Paid, then the accountant unposts the payment; then posts it again, or marks it for deletion, or
    leaves it unposted (in turn)."""
    order = office.order(clock)
    invoice = office.invoice(clock, order)
    payment = office.pay(clock, [(order, invoice.amount)], order)
    payment.write(clock.later(10, 240), posted=False)
    fate = office.turn("payment_unposted") % 3
    if fate == 0:
        payment.write(clock.later(5, 120), posted=True)
    elif fate == 1:
        payment.write(clock.later(5, 120), deleted=True)
    return [order]


def invoice_deleted(office: Office, clock: Clock) -> list[Doc]:
    """A wrong invoice marked for deletion and a new one with a discount issued; often paid."""
    order = office.order(clock)
    office.invoice(clock, order).write(clock.later(5, 60), deleted=True)
    second = office.invoice(clock, order, discount=Decimal(5))
    if office.turn("invoice_deleted") % 2 == 0:
        office.pay(clock, [(order, second.amount)], order)
    return [order]


def shipment_deleted(office: Office, clock: Clock) -> list[Doc]:
    """A shipment posted by mistake, then unposted and marked for deletion; sometimes shipped again."""
    order = office.order(clock)
    office.invoice(clock, order)
    office.ship(clock, [order]).write(clock.later(5, 90), posted=False, deleted=True)
    if office.turn("shipment_deleted") % 2 == 0:
        office.ship(clock, [order])
    return [order]


def order_changed(office: Office, clock: Clock) -> list[Doc]:
    """The client changes the order; it is re-posted with other rows, then invoiced and often paid."""
    order = office.order(clock)
    office.change_items(clock, order)
    invoice = office.invoice(clock, order)
    if office.turn("order_changed") % 3 != 2:
        office.pay(clock, [(order, invoice.amount)], order)
    return [order]


def order_deleted(office: Office, clock: Clock) -> list[Doc]:
    """The client cancels: the invoice (if any) and the order are marked for deletion."""
    order = office.order(clock)
    if office.turn("order_deleted") % 2 == 0:
        office.invoice(clock, order).write(clock.later(10, 120), deleted=True)
    order.write(clock.later(10, 240), posted=False, deleted=True)
    return [order]


def two_orders_one_payment(office: Office, clock: Clock) -> list[Doc]:
    """Two orders of one client paid by one payment (two allocations), shipped together or apart."""
    buyer = office.rng.choice(office.buyers)
    org = office.organization()
    first = office.order(clock, buyer, org)
    clock.later(5, 60)
    second = office.order(clock, buyer, org)
    amounts = [office.invoice(clock, o).amount for o in (first, second)]
    office.pay(clock, [(first, amounts[0]), (second, amounts[1])], first)
    if office.turn("two_orders_one_payment") % 2 == 0:
        office.ship(clock, [first, second])
    else:
        office.ship(clock, [first])
        office.ship(clock, [second])
    return [first, second]


def overpaid_advance(office: Office, clock: Clock) -> list[Doc]:
    """The client pays more than the invoice: the rest is an allocation without an order (an advance)."""
    order = office.order(clock)
    invoice = office.invoice(clock, order)
    extra = Decimal(office.rng.choice((500, 1000, 5000)))
    office.pay(clock, [(order, invoice.amount), (None, extra)], order)
    return [order]


Lifecycle = Callable[[Office, Clock], list[Doc]]

# name → (lifecycle, orders it creates, weight when drawn at random)
LIFECYCLES: dict[str, tuple[Lifecycle, int, int]] = {
    "order_only": (order_only, 1, 6),
    "draft": (draft, 1, 2),
    "invoiced": (invoiced, 1, 8),
    "paid": (paid, 1, 6),
    "paid_then_shipped": (paid_then_shipped, 1, 12),
    "partial_shipped_then_paid": (partial_shipped_then_paid, 1, 5),
    "partial_shipped": (partial_shipped, 1, 3),
    "shipped_unpaid": (shipped_unpaid, 1, 5),
    "payment_unposted": (payment_unposted, 1, 3),
    "invoice_deleted": (invoice_deleted, 1, 3),
    "shipment_deleted": (shipment_deleted, 1, 2),
    "order_changed": (order_changed, 1, 4),
    "order_deleted": (order_deleted, 1, 3),
    "two_orders_one_payment": (two_orders_one_payment, 2, 3),
    "overpaid_advance": (overpaid_advance, 1, 2),
}
