"""Helpers for deal-consumer tests against the sandbox: links seeded as if the other consumers ran, and the
deal as a sales manager sees it."""

from __future__ import annotations

import uuid

from bridge.links import unit_of_work


async def seed_links(pool, sandbox, source="ut103-main") -> tuple[str, str, int]:
    """A counterparty and a product that are already in Bitrix24 (their own consumers made them)."""
    cp, product = str(uuid.uuid4()), str(uuid.uuid4())
    company = sandbox.call("crm.company.add", {"fields": {"TITLE": "ООО Ромашка"}}).result.value
    b24_product = sandbox.call("crm.product.add", {"fields": {"NAME": "Гвоздь"}}).result.value
    async with unit_of_work(pool, "test", source, "seed") as uow:
        await uow.save_link("counterparty", cp, "company", company, version=1,
                            pushed_state={"main": {"fields": {"TITLE": "ООО Ромашка"}}})
        await uow.save_link("product", product, "product", b24_product, version=1)
    return cp, product, company


def deal_of(sandbox, order_id: str) -> dict:
    deals = [d for d in sandbox.state()["deals"] if d["ORIGIN_ID"] == order_id]
    assert len(deals) == 1, deals
    deal = deals[0]
    rows = sandbox.call("crm.deal.productrows.get", {"id": deal["ID"]}).result.value
    keep = ("STAGE_ID", "OPPORTUNITY", "CURRENCY_ID", "COMPANY_ID", "TITLE", "IS_MANUAL_OPPORTUNITY") + tuple(
        k for k in deal if k.startswith("UF_CRM_"))
    return {**{k: deal[k] for k in keep},
            "rows": [(r["PRODUCT_ID"], r["PRICE"], r["QUANTITY"]) for r in rows],
            "paid_notifications": sum(1 for n in sandbox.state()["notifications"]
                                      if n["TAG"] and order_id in n["TAG"])}


def deal_of_id(sandbox, order_id: str) -> int:
    return int(next(d["ID"] for d in sandbox.state()["deals"] if d["ORIGIN_ID"] == order_id))
