"""The Bitrix24 calls an event caused are noted per caller (even when coalesced into one batch request),
with ids and error codes, never field values or the webhook's secret; and card addresses."""

from __future__ import annotations

import asyncio

import pytest

from bridge.b24 import Batching, chain_ref
from bridge.b24 import calls as b24_calls
from bridge.b24.urls import entity_url, portal_origin
from bridge.errors import B24ValidationError
from tests.b24.conftest import make


async def _one_callers_calls(b24, title: str) -> list[dict]:
    with b24_calls.capture():
        company = await b24.call("crm.company.add", {"fields": {"TITLE": title, "EMAIL": [{"VALUE": "a@b.ru"}]}})
        await b24.call("crm.company.list", {"filter": {"ORIGIN_ID": f"guid-{title}"}, "select": ["ID"]})
        with pytest.raises(B24ValidationError):
            await b24.call("crm.company.get", {"id": 0})
        return [*b24_calls.take(), {"made": company}]


async def test_calls_coalesced_into_one_batch_are_noted_for_each_caller_without_field_values(sandbox):
    async with make(sandbox, batching=Batching(linger=0.05)) as b24:
        logs = await asyncio.gather(*(_one_callers_calls(b24, f"Co {i}") for i in range(5)))
    assert sandbox.sandbox.stats()["http_requests"] < 15  # the calls did share batch requests
    for i, log in enumerate(logs):
        *noted, made = log
        assert [c["method"] for c in noted] == ["crm.company.add", "crm.company.list", "crm.company.get"]
        assert noted[0]["ids"] == {"result": int(made["made"])}
        assert noted[1]["ids"] == {"filter.ORIGIN_ID": f"guid-Co {i}"} and noted[1]["rows"] == 0
        assert noted[2]["ids"] == {"id": 0} and noted[2]["code"] == '""'  # the portal's empty code: not found
        text = repr(noted)
        assert "a@b.ru" not in text and f"Co {i}" not in text.replace(f"guid-Co {i}", "")
        assert sandbox.webhook_url.rstrip("/").rsplit("/", 1)[-1] not in text


async def test_nothing_is_noted_outside_a_capture(sandbox):
    async with make(sandbox) as b24:
        await b24.call("crm.company.add", {"fields": {"TITLE": "x"}})
    assert b24_calls.take() == []


def test_card_addresses_come_from_the_portal_origin_never_the_webhook_path():
    origin = portal_origin("https://user:pw@portal.example.ru/rest/1/s3cr3t/")
    assert origin == "https://portal.example.ru"
    assert portal_origin("https://x/rest/1/c/", "https://other.bitrix24.ru/") == "https://other.bitrix24.ru"
    assert entity_url(origin, "deal", 123) == "https://portal.example.ru/crm/deal/details/123/"
    assert entity_url(origin, "company", 45) == "https://portal.example.ru/crm/company/details/45/"
    assert entity_url(origin, "contact", 7) == "https://portal.example.ru/crm/contact/details/7/"
    assert entity_url(origin, "product", 9, iblock_id=14) == "https://portal.example.ru/crm/catalog/14/product/9/"
    assert entity_url(origin, "product", 9) is None and entity_url(origin, "requisite", 3) is None


@pytest.mark.parametrize("linger", [0.05, None], ids=["coalesced", "alone"])
async def test_a_chain_step_that_refers_to_an_earlier_one_is_noted_with_the_id_that_step_made(sandbox, linger):
    async with make(sandbox, batching=Batching(linger=linger)) as b24:
        with b24_calls.capture():
            deal_id, _ = await b24.call_chain([
                ("crm.deal.add", {"fields": {"TITLE": "Заказ"}}),
                ("crm.deal.productrows.set", {"id": chain_ref(0), "rows": [{"PRODUCT_NAME": "Гвоздь", "PRICE": 5}]})])
            noted = b24_calls.take()
    # the trace shows `crm.deal.productrows.set(id=12)`, not the chain's placeholder
    assert [(c["method"], c.get("ids")) for c in noted] == [
        ("crm.deal.add", {"result": deal_id}), ("crm.deal.productrows.set", {"id": deal_id})]
