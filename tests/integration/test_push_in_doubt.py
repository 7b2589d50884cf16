"""A counterparty push that fails after Bitrix24 took part of it must not leave the portal behind 1C.

The same flaw as the deal's (tests/integration/test_deal_push_failure.py), through the shared guard: the
pushed state is saved only when the whole push commits, so after a push that died between two Bitrix24
writes a later snapshot equal to the stale pushed state looked "unchanged" and was never sent.
"""

from __future__ import annotations

import uuid

import pytest

from bridge import mapping as mapping_mod
from bridge.consumer import Outcome
from onec_outbox.contract import parse_event
from tests.integration import test_counterparty_repairs as repairs
from tests.integration.test_counterparty_repairs import of, version

# the company's TITLE owned by 1C (create-only by default, docs/ownership.md): a rename is what these tests
# push and break half-way
_DEFAULT = mapping_mod.load(None)
MAPPING = _DEFAULT.model_copy(update={"ownership": _DEFAULT.ownership.model_copy(update={
    "company": mapping_mod.EntityOwnership(create_only=["ASSIGNED_BY_ID", "COMMENTS"])})})



world = repairs.world  # the same handler on a sandbox, shared with the repair tests


async def test_a_snapshot_equal_to_a_push_that_died_half_way_is_sent_again_not_taken_as_unchanged(world, db_pool):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    await handler.handle(parse_event(version(cp, 1, name="Ромашка", kpp="773601001")))
    # v2 renames the company (Bitrix24 takes it), then the requisite update of the same push is refused
    sandbox.faults.add_error("ACCESS_DENIED", method="crm.requisite.update", count=1)
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await handler.handle(parse_event(version(cp, 2, name="Лютик", kpp="773601002")))
    assert [c["TITLE"] for c in of(sandbox, cp)[0]] == ["Лютик"]
    # 1C goes back to v1's values: equal to the last committed push, not to what Bitrix24 now shows
    assert await handler.handle(parse_event(version(cp, 3, name="Ромашка", kpp="773601001"))) is Outcome.APPLIED
    companies, _, requisites, details, addresses = of(sandbox, cp)
    assert [c["TITLE"] for c in companies] == ["Ромашка"]
    assert [r["RQ_KPP"] for r in requisites] == ["773601001"]
    assert len(details) == 2 and len(addresses) == 2  # sent again whole, nothing doubled
    # the push committed: the link is trusted again, and a repeat of the same values sends nothing
    assert await db_pool.fetchval(
        "SELECT count(*) FROM entity_links WHERE onec_id = $1 AND pushing_since IS NOT NULL", cp) == 0
    assert await handler.handle(parse_event(version(cp, 4, name="Ромашка", kpp="773601001"))) is Outcome.UNCHANGED


async def test_a_phone_1c_removed_is_deleted_even_after_a_push_that_died_half_way(world):
    """The chaos suite found it: a push killed half-way left the link in doubt, the retry no longer knew
    which phones the bridge had written, and a phone 1C had removed stayed in Bitrix24 for good."""
    handler, sandbox = world
    cp = str(uuid.uuid4())
    a, x, y, manager = "+7 (495) 111-11-11", "+7 (495) 222-22-22", "+7 (495) 333-33-33", "+7 (999) 000-00-00"
    await handler.handle(parse_event(version(cp, 1, name="Ромашка", kpp="773601001", phones=[a, x])))
    company_id = of(sandbox, cp)[0][0]["ID"]
    sandbox.call("crm.company.update", {"id": company_id, "fields": {"PHONE": [{"VALUE": manager,
                                                                               "VALUE_TYPE": "MOBILE"}]}})
    # v2 swaps X for Y (Bitrix24 takes the company's update), then the requisite update is refused
    sandbox.faults.add_error("ACCESS_DENIED", method="crm.requisite.update", count=1)
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await handler.handle(parse_event(version(cp, 2, name="Ромашка", kpp="773601002", phones=[a, y])))
    # v3 keeps only A: Y (what the failed push wrote) goes, the manager's own phone stays
    assert await handler.handle(parse_event(version(cp, 3, name="Ромашка", kpp="773601001", phones=[a]))) \
        is Outcome.APPLIED
    assert sorted(p["VALUE"] for p in of(sandbox, cp)[0][0]["PHONE"]) == sorted([a, manager])


async def test_a_phone_of_the_last_confirmed_push_is_deleted_when_the_next_push_died_before_the_company(world):
    handler, sandbox = world
    cp = str(uuid.uuid4())
    a, x = "+7 (495) 111-11-11", "+7 (495) 222-22-22"
    await handler.handle(parse_event(version(cp, 1, name="Ромашка", kpp="773601001", phones=[a, x])))
    sandbox.faults.add_error("ACCESS_DENIED", method="crm.company.update", count=1)  # v2 dies at the company
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await handler.handle(parse_event(version(cp, 2, name="Лютик", kpp="773601001", phones=[a])))
    assert sorted(p["VALUE"] for p in of(sandbox, cp)[0][0]["PHONE"]) == sorted([a, x])  # nothing taken
    assert await handler.handle(parse_event(version(cp, 3, name="Лютик", kpp="773601001", phones=[a]))) \
        is Outcome.APPLIED
    assert [p["VALUE"] for p in of(sandbox, cp)[0][0]["PHONE"]] == [a]


async def test_a_contact_persons_phone_1c_removed_is_deleted_after_a_push_that_died_half_way(world):
    handler, sandbox = world
    cp, p1, p2 = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    a, x, y = "+7 (916) 111-11-11", "+7 (916) 222-22-22", "+7 (916) 333-33-33"

    def with_persons(v: int, phones: list[str], second: bool) -> dict:
        e = version(cp, v, name="Ромашка", kpp="773601001")
        first = dict(e["payload"]["contact_persons"][0], id=p1, phones=phones)
        other = dict(first, id=p2, first_name="Пётр", last_name="Сидоров", name="Сидоров Пётр",
                     phones=["+7 (916) 444-44-44"], emails=["petr@romashka.example"])
        e["payload"]["contact_persons"] = [first, other] if second else [first]
        return e

    await handler.handle(parse_event(with_persons(1, [a, x], second=False)))
    # v2: the first person's X becomes Y (Bitrix24 takes it), then linking a new second person is refused
    sandbox.faults.add_error("ACCESS_DENIED", method="crm.contact.company.add", count=1, nested=True)
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await handler.handle(parse_event(with_persons(2, [a, y], second=True)))
    first = [c for c in sandbox.state()["contacts"] if c["ORIGIN_ID"] == p1]
    assert sorted(p["VALUE"] for p in first[0]["PHONE"]) == sorted([a, y])  # the push did get that far
    assert await handler.handle(parse_event(with_persons(3, [a], second=True))) is Outcome.APPLIED
    first = [c for c in sandbox.state()["contacts"] if c["ORIGIN_ID"] == p1]
    assert len(first) == 1 and [p["VALUE"] for p in first[0]["PHONE"]] == [a]
    second = [c for c in sandbox.state()["contacts"] if c["ORIGIN_ID"] == p2]  # made once, and tied in the end
    company = of(sandbox, cp)[0][0]
    assert len(second) == 1
    assert (second[0]["ID"], company["ID"]) in {(str(j["CONTACT_ID"]), str(j["COMPANY_ID"]))
                                                for j in sandbox.state()["contact_company"]}
