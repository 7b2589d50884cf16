"""``/_sandbox/state``: everything stored, grouped by entity, each record as the portal's ``get`` shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .methods import (
    Call,
    address,
    bankdetail,
    catalog,
    category,
    company,
    contact,
    deal,
    im,
    productrows,
    requisite,
    status,
    timeline,
    user,
    userfield,
)

if TYPE_CHECKING:  # for the annotation only: app imports this module
    from .app import Sandbox


def build_state(sandbox: Sandbox) -> dict[str, Any]:
    store = sandbox.store
    call = Call("_sandbox.state", {}, store, sandbox.config, sandbox, sandbox.config.webhook_user)

    def rendered(crud: Any) -> list[dict[str, Any]]:
        return [crud.render(call, r) for r in store.rows(crud.entity.table)]

    return {
        "companies": rendered(company.CRUD),
        "contacts": rendered(contact.CRUD),
        "contact_company": [dict(r) for r in store.rows(contact.LINKS)],
        "requisites": rendered(requisite.CRUD),
        "bank_details": rendered(bankdetail.CRUD),
        "addresses": [address.render(r) for r in store.rows(address.TABLE)],
        "requisite_links": [dict(r) for r in store.rows("requisite_links")],
        "presets": rendered(requisite.PRESETS),
        "deals": rendered(deal.CRUD),
        "product_rows": [productrows.render(r) for r in store.rows(productrows.TABLE)],
        "categories": [category.render(r) for r in store.rows(category.TABLE)],
        "statuses": [status.render(r) for r in store.rows(status.TABLE)],
        "userfields": [userfield.render(r, "ru") for r in store.rows(userfield.TABLE)],
        "products": [catalog.render_product(r) for r in store.rows(catalog.PRODUCTS)],
        "prices": [catalog.render_price(r) for r in store.rows(catalog.PRICES)],
        "price_types": [dict(r) for r in store.rows("price_types")],
        "users": [user.render(r) for r in store.rows("users")],
        "notifications": [dict(r) for r in store.rows(im.TABLE)],
        "timeline_comments": [timeline.render(r) for r in store.rows(timeline.TABLE)],
    }
