"""KeyLookup's pre-read: a bulk load reads the portal's keys once, and stays duplicate-free."""

from __future__ import annotations

import asyncio

from bridge.b24 import Batching
from bridge.b24 import lookup as lookup_mod
from bridge.b24.lookup import FIRST_DELIVERY, KeyLookup, Preread
from tests.b24.conftest import make


async def _add(b24, origins: list[str]) -> dict[str, int]:
    ids = await asyncio.gather(*(b24.call("crm.company.add", {"fields": {"TITLE": f"T {o}", "ORIGIN_ID": o,
                                                                        "ORIGINATOR_ID": "ut"}})
                                 for o in origins))
    return dict(zip(origins, ids, strict=True))


def _lookup(b24) -> KeyLookup:
    return KeyLookup(b24, "crm.company.list", key="ORIGIN_ID", select=[], id_field="ID",
                     base_filter={"ORIGINATOR_ID": "ut"})


async def _first(coro):
    FIRST_DELIVERY.set(True)  # as the consumer does for an event's first delivery (a task's own context)
    return await coro


async def test_a_bulk_load_reads_the_keys_once_and_then_asks_nothing(sandbox):
    async with make(sandbox, batching=Batching(linger=0.02)) as b24:
        existing = await _add(b24, [f"1c-{i}" for i in range(0, 300, 3)])  # 100 records, ids 1..100
        lookup = _lookup(b24)
        before = sandbox.sandbox.stats()["commands"]
        # as a consumer's events in hand come: a first wave, then the rest of the load
        answers = await asyncio.gather(*(_first(lookup.find(f"1c-{i}")) for i in range(60)))
        answers += await asyncio.gather(*(_first(lookup.find(f"1c-{i}")) for i in range(60, 300)))
        commands = sandbox.sandbox.stats()["commands"] - before
        assert lookup.prereads == 1
        # the first wave by look-ups (and the top id, weighed twice), then two windows of 50: 240 keys
        # answered without a look-up each
        assert commands <= 8, commands
        for i, rows in enumerate(answers):
            assert [int(r["ID"]) for r in rows] == ([existing[f"1c-{i}"]] if i % 3 == 0 else []), i


async def test_a_key_said_absent_is_asked_of_the_portal_the_second_time(sandbox):
    """The add whose reply was lost: the retry must find the record, not trust the index again."""
    async with make(sandbox, batching=Batching(linger=0.02)) as b24:
        await _add(b24, ["old"])
        lookup = _lookup(b24)
        await asyncio.gather(*(_first(lookup.find(f"k{i}")) for i in range(120)))
        assert lookup.prereads == 1
        assert await _first(lookup.find("k119")) == []  # said absent once before: asked of the portal
        created = await b24.call("crm.company.add", {"fields": {"TITLE": "k", "ORIGIN_ID": "k100",
                                                               "ORIGINATOR_ID": "ut"}})
        before = lookup.requests
        assert [int(r["ID"]) for r in await _first(lookup.find("k100"))] == [created]
        assert lookup.requests == before + 1


async def test_a_redelivered_event_never_trusts_the_index(sandbox):
    async with make(sandbox, batching=Batching(linger=0.02)) as b24:
        lookup = _lookup(b24)
        await asyncio.gather(*(_first(lookup.find(f"k{i}")) for i in range(120)))
        made = await _add(b24, ["made-elsewhere"])  # by another consumer process, after the pre-read
        rows = await lookup.find("made-elsewhere")  # FIRST_DELIVERY unset: a retry or redelivery
        assert [int(r["ID"]) for r in rows] == [made["made-elsewhere"]]


async def test_no_pre_read_when_off_or_the_portal_is_too_big(sandbox):
    async with make(sandbox, batching=Batching(linger=0.02)) as b24:
        await _add(b24, [f"x{i}" for i in range(30)])
        lookup_mod.configure(Preread(max_rows=10))
        try:
            lookup = _lookup(b24)
            answers = await asyncio.gather(*(_first(lookup.find(f"k{i}")) for i in range(120)))
            assert lookup.prereads == 0 and all(a == [] for a in answers)
        finally:
            lookup_mod.configure(Preread())
        off = KeyLookup(b24, "crm.company.list", key="ORIGIN_ID", select=[], id_field="ID", preread=False)
        await asyncio.gather(*(_first(off.find(f"k{i}")) for i in range(120)))
        assert off.prereads == 0


async def test_a_sibling_look_up_answers_from_the_key_pre_read_only_when_it_read_its_fields(sandbox):
    async with make(sandbox, batching=Batching(linger=0.02)) as b24:
        await _add(b24, [f"1c-{i}" for i in range(40)])  # titles "T 1c-0" …
        keyed = KeyLookup(b24, "crm.company.list", key="ORIGIN_ID", select=["TITLE"], id_field="ID",
                          base_filter={"ORIGINATOR_ID": "ut"})
        by_title = KeyLookup(b24, "crm.company.list", key="TITLE", select=[], id_field="ID",
                             base_filter={"ORIGINATOR_ID": "ut"}, index_from=keyed)
        unread = KeyLookup(b24, "crm.company.list", key="COMMENTS", select=[], id_field="ID",
                           base_filter={"ORIGINATOR_ID": "ut"}, index_from=keyed)  # a field the key's read lacks
        await asyncio.gather(*(_first(keyed.find(f"k{i}")) for i in range(30)))  # as a load's events come
        await asyncio.gather(*(_first(keyed.find(f"k{i}")) for i in range(30, 120)))
        assert keyed.prereads == 1
        rows = await asyncio.gather(*(_first(by_title.find(f"T 1c-{i}")) for i in range(40)))
        assert [r[0]["ORIGIN_ID"] for r in rows] == [f"1c-{i}" for i in range(40)]
        assert by_title.requests == 0 and by_title.prereads == 0  # answered from the key look-up's read
        assert await _first(by_title.find("T 1c-0 (copy)")) == []
        assert by_title.requests == 0
        await asyncio.gather(*(_first(unread.find(f"c{i}")) for i in range(40)))
        assert unread.requests > 0  # its own look-ups (and pre-read): the key's rows do not hold COMMENTS
