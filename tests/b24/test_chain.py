"""call_chain: dependent commands of one caller in one request, riding along with other callers' calls."""

from __future__ import annotations

import asyncio

import pytest

from bridge.b24 import Batching, calls, chain_ref
from bridge.b24.coalescer import Coalescer
from bridge.b24.envelope import COMMAND_MISSING, BatchResult, Page
from bridge.b24.limits import NO_BATCHING
from bridge.errors import B24NotFound, B24OperationTimeLimit, B24ServerError, B24ValidationError
from tests.b24.conftest import make


def _company_then_contact(title: str):
    return [("crm.company.add", {"fields": {"TITLE": title}}),
            ("crm.contact.add", {"fields": {"NAME": f"of {title}", "COMPANY_ID": chain_ref(0)}})]


@pytest.mark.parametrize("batching", [Batching(linger=0.05), NO_BATCHING], ids=["coalesced", "alone"])
async def test_a_later_step_gets_the_earlier_steps_result_in_the_same_request(sandbox, batching):
    async with make(sandbox, batching=batching) as b24:
        company_id, contact_id = await b24.call_chain(_company_then_contact("ACME"))
    contact = sandbox.sandbox.call("crm.contact.get", {"id": contact_id}).result.value
    assert contact["COMPANY_ID"] == str(company_id)
    assert sandbox.sandbox.stats()["http_requests"] == 1


async def test_chains_and_single_calls_share_a_request_and_each_gets_its_own_results(sandbox):
    async with make(sandbox, batching=Batching(linger=0.05)) as b24:
        singles = [b24.call("crm.company.add", {"fields": {"TITLE": f"S{i}"}}) for i in range(20)]
        chains = [b24.call_chain(_company_then_contact(f"C{i}")) for i in range(10)]
        results = await asyncio.gather(*singles, *chains)
    assert sandbox.sandbox.stats()["http_requests"] == 1  # 20 + 10 × 2 = 40 commands
    for company_id, contact_id in results[20:]:
        contact = sandbox.sandbox.call("crm.contact.get", {"id": contact_id}).result.value
        assert contact["COMPANY_ID"] == str(company_id)
    assert len(set(results[:20])) == 20


async def test_a_chain_is_never_split_across_requests(sandbox):
    async with make(sandbox, batching=Batching(linger=0.05)) as b24:
        singles = [b24.call("crm.company.add", {"fields": {"TITLE": f"S{i}"}}) for i in range(49)]
        chain = b24.call_chain(_company_then_contact("last"))
        results = await asyncio.gather(*singles, chain)
    company_id, contact_id = results[-1]
    contact = sandbox.sandbox.call("crm.contact.get", {"id": contact_id}).result.value
    assert contact["COMPANY_ID"] == str(company_id)
    assert sandbox.sandbox.stats()["http_requests"] == 2  # 49 + the chain would be 51 commands


@pytest.mark.parametrize("batching", [Batching(linger=0.05), NO_BATCHING], ids=["coalesced", "alone"])
async def test_the_first_failing_step_is_raised_and_neighbours_are_unharmed(sandbox, batching):
    async with make(sandbox, batching=batching) as b24:
        neighbour = asyncio.ensure_future(b24.call("crm.company.add", {"fields": {"TITLE": "fine"}}))
        with pytest.raises((B24NotFound, B24ValidationError)) as raised:
            await b24.call_chain([("crm.company.update", {"id": 999999, "fields": {"TITLE": "x"}}),
                                  ("crm.company.get", {"id": chain_ref(0)})])
        assert raised.value.method == "crm.company.update"
        assert isinstance(await neighbour, int)


async def test_a_step_refused_for_operating_time_pauses_that_method_for_every_caller(sandbox):
    from bridge.errors import B24OperationTimeLimit

    sandbox.sandbox.faults.add_error("OPERATION_TIME_LIMIT", method="crm.company.add", nested=True, count=1)
    async with make(sandbox, batching=Batching(linger=0.05)) as b24:
        with pytest.raises(B24OperationTimeLimit):
            await b24.call_chain(_company_then_contact("busy"))
        assert b24.operating.wait("crm.company.add") > 0  # call() on it now waits instead of being refused
        assert b24.operating.wait("crm.contact.add") == 0


async def test_a_step_after_a_failed_one_never_runs_and_what_the_failure_held_back_goes_in_the_next_request(sandbox):
    """The portal resolves `$result[<failed step>]` to the whole result bucket, which PHP's intval reads as
    1: a deal's rows after a refused `crm.deal.add` would replace deal 1's.  The batch halts at the failure
    instead; the chain queued after it, and nothing else, goes again."""
    ran: list[str] = []
    stop = sandbox.sandbox.on_call(lambda call: ran.append(call.params.get("fields", {}).get("NAME", call.method))
                                   if call.method == "crm.contact.add" else None)
    try:
        async with make(sandbox, batching=Batching(linger=0.05)) as b24:
            read = asyncio.ensure_future(b24.call("crm.company.list", {"filter": {"TITLE": "nobody"}}))
            single = asyncio.ensure_future(b24.call("crm.company.add", {"fields": {"TITLE": "fine"}}))
            refused = asyncio.ensure_future(b24.call_chain([
                ("crm.company.update", {"id": 999999, "fields": {"TITLE": "x"}}),
                ("crm.contact.add", {"fields": {"NAME": "of the refused", "COMPANY_ID": chain_ref(0)}})]))
            held_back = asyncio.ensure_future(b24.call_chain(_company_then_contact("next")))
            with pytest.raises((B24NotFound, B24ValidationError)):
                await refused
            company_id, contact_id = await held_back
            assert await read == [] and isinstance(await single, int)
    finally:
        stop()
    assert ran == ["of next"]  # the refused chain's contact was never attempted
    contact = sandbox.sandbox.call("crm.contact.get", {"id": contact_id}).result.value
    assert contact["COMPANY_ID"] == str(company_id)
    assert sandbox.sandbox.stats()["http_requests"] == 2  # the batch, then the chain it held back


async def test_a_reply_missing_commands_without_a_failure_is_reported_not_sent_again_for_ever():
    """Halted batches send again what never ran; a reply that just lacks commands (no failure in it) is the
    portal's fault, and its callers hear of it instead of the coalescer looping."""
    sent: list[dict[str, str]] = []

    async def slot() -> float:
        return 0.0

    async def one(method, params) -> Page:
        return Page(result=True)

    async def batch(commands: dict[str, str], methods: dict[str, str], *, halt: bool = False) -> BatchResult:
        sent.append(commands)
        return BatchResult(keys=tuple(commands), results={})  # nothing answered, nothing failed

    coalescer = Coalescer(Batching(linger=0.01), slot, one, batch)
    outcomes = await asyncio.wait_for(asyncio.gather(  # a loop of re-sends fails here, not by hanging
        coalescer.submit("crm.company.add", {}, "crm.company.add?fields[TITLE]=x"),
        coalescer.submit_chain([("crm.deal.add", "crm.deal.add?fields[TITLE]=y"),
                                ("crm.deal.productrows.set", "crm.deal.productrows.set?id=$result[__chain_step_0__]")]),
        return_exceptions=True), 10)
    assert isinstance(outcomes[0], B24ServerError) and outcomes[0].code == COMMAND_MISSING
    assert all(isinstance(step, B24ServerError) for step in outcomes[1])
    assert len(sent) == 1


class Scripted:
    """Stands in for the portal behind the coalescer: each batch refuses the commands ``refuse`` names (by
    method) the first time, and halts there when asked to, as the portal does."""

    def __init__(self, refuse: dict[str, B24ServerError | B24OperationTimeLimit]) -> None:
        self.refuse = dict(refuse)
        self.batches: list[tuple[list[str], bool]] = []

    async def slot(self) -> float:
        return 0.0

    async def one(self, method, params) -> Page:
        self.batches.append(([method], False))
        return Page(result=method)

    async def batch(self, commands: dict[str, str], methods: dict[str, str], *, halt: bool = False) -> BatchResult:
        self.batches.append(([methods[k] for k in commands], halt))
        results, errors = {}, {}
        for key in commands:
            error = self.refuse.pop(methods[key], None)
            if error is not None:
                errors[key] = error
                if halt:
                    break
            else:
                results[key] = f"{methods[key]}#{key}"
        return BatchResult(keys=tuple(commands), results=results, errors=errors)


def _dependent(method: str) -> list[tuple[str, str]]:
    return [(method, f"{method}?fields[TITLE]=x"), ("crm.deal.productrows.set", "crm.deal.productrows.set?id=$result[__chain_step_0__]")]


async def test_what_a_refused_call_held_back_goes_in_the_next_request_and_a_bulk_refusal_never_holds_back_a_deal():
    portal = Scripted({"catalog.product.update": B24ServerError("catalog.product.update", "ERROR_CORE", "no")})
    coalescer = Coalescer(Batching(linger=0.01), portal.slot, portal.one, portal.batch)

    async def as_(level: int, call):
        with calls.priority(level):
            return await call

    outcomes = await asyncio.gather(
        as_(calls.BULK, coalescer.submit("catalog.product.update", {}, "catalog.product.update?id=1")),
        as_(calls.BULK, coalescer.submit("catalog.product.list", {}, "catalog.product.list", first=True)),
        as_(calls.BULK, coalescer.submit("crm.company.update", {}, "crm.company.update?id=2")),
        as_(calls.URGENT, coalescer.submit_chain(_dependent("crm.deal.add"))),
        return_exceptions=True)
    assert isinstance(outcomes[0], B24ServerError)
    assert outcomes[1].result.startswith("catalog.product.list")
    assert outcomes[2].result.startswith("crm.company.update")  # held back by the refusal, then sent again
    assert [step.result.split("#")[0] for step in outcomes[3]] == ["crm.deal.add", "crm.deal.productrows.set"]
    (first, halted), (second, _) = portal.batches
    assert halted and first[:2] == ["crm.deal.add", "crm.deal.productrows.set"]  # the deal's class went first
    assert first[2:] == ["catalog.product.list", "catalog.product.update", "crm.company.update"]
    assert second == ["crm.company.update"]


async def test_a_call_of_a_method_paused_for_operating_time_gets_the_refusal_not_another_request():
    refusal = B24OperationTimeLimit("crm.company.update", "OPERATION_TIME_LIMIT", "busy", reset_at=None)
    portal = Scripted({"crm.company.update": refusal})
    coalescer = Coalescer(Batching(linger=0.01), portal.slot, portal.one, portal.batch)
    outcomes = await asyncio.gather(
        coalescer.submit("crm.company.update", {}, "crm.company.update?id=1"),
        coalescer.submit("crm.company.update", {}, "crm.company.update?id=2"),
        coalescer.submit("crm.contact.update", {}, "crm.contact.update?id=3"),
        coalescer.submit_chain(_dependent("crm.deal.add")),
        return_exceptions=True)
    assert isinstance(outcomes[0], B24OperationTimeLimit) and isinstance(outcomes[1], B24OperationTimeLimit)
    assert outcomes[2].result.startswith("crm.contact.update")
    assert [step.result.split("#")[0] for step in outcomes[3]] == ["crm.deal.add", "crm.deal.productrows.set"]
    assert [methods for methods, _ in portal.batches][1:] == [["crm.contact.update", "crm.deal.add", "crm.deal.productrows.set"]]
