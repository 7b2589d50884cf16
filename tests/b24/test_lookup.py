"""KeyLookup against the sandbox: concurrent look-ups share list commands and never miss a record."""

from __future__ import annotations

import asyncio

import pytest

from bridge.b24 import B24Client, Batching
from bridge.b24.limits import NO_BATCHING
from bridge.b24.lookup import KeyLookup
from bridge.errors import B24AccessDenied, B24Error
from tests.b24.conftest import make


async def _add_companies(b24: B24Client, origins: list[str]) -> dict[str, int]:
    ids = await asyncio.gather(*(b24.call("crm.company.add", {"fields": {"TITLE": o, "ORIGIN_ID": o}})
                                 for o in origins))
    return dict(zip(origins, ids, strict=True))


async def test_a_hundred_concurrent_look_ups_cost_two_list_commands(sandbox):
    async with make(sandbox, batching=Batching(linger=0.02)) as b24:
        existing = await _add_companies(b24, [f"1c-{i}" for i in range(0, 200, 2)])  # every even id exists
        lookup = KeyLookup(b24, "crm.company.list", key="ORIGIN_ID", select=["TITLE"], id_field="ID")
        before = sandbox.sandbox.stats()["commands"]
        answers = await asyncio.gather(*(lookup.find(f"1c-{i}") for i in range(100)))
    for i, rows in enumerate(answers):
        if i % 2:
            assert rows == [], i
        else:
            assert [int(r["ID"]) for r in rows] == [existing[f"1c-{i}"]]
    assert lookup.requests == 2
    assert sandbox.sandbox.stats()["commands"] - before == 2


async def test_duplicates_filling_a_page_do_not_hide_another_key(sandbox):
    """60 companies share one ORIGIN_ID: the IN reply is cut at 50 rows, and the other key, whose company
    is newer, is on the next page — it must still be found, not reported absent (that would create a
    duplicate in Bitrix24)."""
    async with make(sandbox, batching=NO_BATCHING) as b24:
        dups = [await b24.call("crm.company.add", {"fields": {"TITLE": "d", "ORIGIN_ID": "dup"}}) for _ in range(60)]
        other = await b24.call("crm.company.add", {"fields": {"TITLE": "o", "ORIGIN_ID": "other"}})
        lookup = KeyLookup(b24, "crm.company.list", key="ORIGIN_ID", select=[], id_field="ID")
        dup_rows, other_rows, none = await asyncio.gather(lookup.find("dup"), lookup.find("other"),
                                                          lookup.find("nobody"))
    assert int(dup_rows[0]["ID"]) == dups[0]  # the oldest first
    assert [int(r["ID"]) for r in other_rows] == [other]
    assert none == []


async def test_the_same_key_asked_twice_at_once_is_asked_once(sandbox):
    async with make(sandbox, batching=NO_BATCHING) as b24:
        ids = await _add_companies(b24, ["x"])
        lookup = KeyLookup(b24, "crm.company.list", key="ORIGIN_ID", select=[], id_field="ID")
        first, second = await asyncio.gather(lookup.find("x"), lookup.find("x"))
    assert [int(r["ID"]) for r in first] == [int(r["ID"]) for r in second] == [ids["x"]]
    assert lookup.requests == 1


async def test_every_waiter_gets_the_error_of_its_request(sandbox):
    sandbox.sandbox.faults.add_error("ACCESS_DENIED", method="crm.company.list", status=403)
    async with make(sandbox, batching=NO_BATCHING) as b24:
        lookup = KeyLookup(b24, "crm.company.list", key="ORIGIN_ID", select=[], id_field="ID")
        results = await asyncio.gather(*(lookup.find(f"k{i}") for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, B24Error) for r in results), results
    assert all(isinstance(r, B24AccessDenied) for r in results), results


def test_more_keys_than_a_page_is_refused():
    with pytest.raises(ValueError, match="max_keys"):
        KeyLookup(object(), "crm.company.list", key="ORIGIN_ID", select=[], max_keys=51)


class _Portal:
    """A portal whose filter ignores case (MySQL collation), answering list calls from fixed rows."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    async def call_page(self, method: str, params: dict):
        from bridge.b24.envelope import Page

        wanted = params["filter"].get("@ORIGIN_ID") or [params["filter"]["ORIGIN_ID"]]
        folded = {w.casefold() for w in wanted}
        return Page(result=[r for r in self.rows if r["ORIGIN_ID"].casefold() in folded])


async def test_a_key_the_portal_matches_in_another_case_is_found_not_created_again():
    """A company made earlier by another tool with ORIGIN_ID in upper case: the portal's filter matches it,
    so the look-up must report it (reporting it absent would create a duplicate)."""
    portal = _Portal([{"ID": "7", "ORIGIN_ID": "ABC-1"}, {"ID": "8", "ORIGIN_ID": "def-2"}])
    lookup = KeyLookup(portal, "crm.company.list", key="ORIGIN_ID", select=[], id_field="ID")
    together = await asyncio.gather(lookup.find("abc-1"), lookup.find("DEF-2"), lookup.find("x"))
    alone = await lookup.find("abc-1")
    assert [[r["ID"] for r in rows] for rows in together] == [["7"], ["8"], []]
    assert [r["ID"] for r in alone] == ["7"]
