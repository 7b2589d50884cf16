"""`b24bridge consume` checks the mapping against the portal before it takes a message (bridge/startup.py):
a portal that does not match is refused in one line with exit code 2, one that matches is consumed from,
and one that cannot be reached is waited for, paused."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from pydantic import SecretStr

from bridge import mapping as mapping_mod
from bridge import startup
from bridge.b24 import client_from_settings
from bridge.errors import ConfigError
from bridge.mapping import default_text
from bridge.settings import Settings
from bridge.sync.counterparty import CounterpartyHandler
from bridge.sync.deal import DealHandler
from bridge.sync.product import ProductHandler
from tests.e2e.conftest import sandbox
from tests.e2e.test_counterparty import full_company
from tests.helpers import wait_for


def consume(stack, tmp_path, mapping_text: str | None = None, **env: str) -> tuple[subprocess.Popen, object]:
    """`b24bridge consume` as its own process, its stderr in a file (read it with ``.read_text()``)."""
    extra = dict(env)
    if mapping_text is not None:
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(mapping_text, encoding="utf-8")
        extra["BRIDGE_MAPPING_FILE"] = str(mapping)
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bridge.cli", "consume"],
                                   env={**stack.env, **extra}, stderr=out)
    stack.processes.append(process)
    return process, stderr


async def _async(value):
    return value


async def test_a_mapping_naming_a_stage_the_portal_lacks_is_refused_in_one_line_with_exit_code_2(bare_stack, tmp_path):
    wrong = default_text().replace("cancelled:      {id: LOSE,", "cancelled:      {id: NO_SUCH_STAGE,")
    assert wrong != default_text()
    process, stderr = consume(bare_stack, tmp_path, wrong)
    assert process.wait(timeout=60) == 2
    text = stderr.read_text(encoding="utf-8")
    errors = [line for line in text.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, text
    assert errors[0].startswith("Error: refusing to start: ")
    assert "deals.stages.cancelled" in errors[0] and "NO_SUCH_STAGE" in errors[0] and "mapping.yaml" in errors[0]
    assert "Traceback" not in text
    # nothing was consumed meanwhile: the company waits in the queue for a consumer that can apply it
    await bare_stack.post(full_company())
    await _quiet()
    assert bare_stack.state()["companies"] == []


async def test_with_a_mapping_the_portal_matches_the_consumer_starts_and_applies_events(bare_stack, tmp_path):
    process, _ = consume(bare_stack, tmp_path, default_text())
    await bare_stack.post(full_company())
    assert await wait_for(lambda: _async(len(bare_stack.state()["companies"]) == 1), timeout=60)
    assert process.poll() is None  # still running


async def test_a_portal_off_the_network_at_start_up_is_waited_for_then_consumed_from(bare_stack, tmp_path):
    faults = bare_stack.portal.sandbox.faults
    faults.outage(mode="drop")  # until cleared
    process, stderr = consume(bare_stack, tmp_path, default_text())
    await bare_stack.post(full_company())
    assert await wait_for(lambda: _async("startup.waiting" in stderr.read_text(encoding="utf-8")), timeout=60)
    await _quiet()
    assert process.poll() is None, stderr.read_text(encoding="utf-8")[-2000:]  # waiting, not refusing
    assert bare_stack.state()["companies"] == []
    faults.clear()
    back = time.monotonic()
    assert await wait_for(lambda: _async(len(bare_stack.state()["companies"]) == 1), timeout=60)
    print(f"\nconsuming began {time.monotonic() - back:.1f} s after the portal came back")


async def test_the_start_up_check_can_be_switched_off(bare_stack, tmp_path):
    wrong = default_text().replace("cancelled:      {id: LOSE,", "cancelled:      {id: NO_SUCH_STAGE,")
    process, stderr = consume(bare_stack, tmp_path, wrong, BRIDGE_STARTUP_CHECK="off")
    await bare_stack.post(full_company())  # companies do not need the deal stages
    assert await wait_for(lambda: _async(len(bare_stack.state()["companies"]) == 1), timeout=60)
    assert process.poll() is None
    assert "startup.skipped" in stderr.read_text(encoding="utf-8")


async def _quiet(seconds: float = 2.0) -> None:
    await asyncio.sleep(seconds)


async def test_only_what_the_started_consumers_use_is_checked():
    """A fresh portal lacks the deal stages and fields: the deal consumer is refused, the counterparty and
    product consumers start."""
    with sandbox() as portal:  # not prepared by `portal setup`
        b24 = client_from_settings(Settings(b24_webhook_url=SecretStr(portal.webhook_url), b24_batch_linger=0))
        async with b24:
            mapping = mapping_mod.load(None)
            for handler in (CounterpartyHandler, ProductHandler):
                assert await startup.portal_matches(b24, mapping, handler.mapping_keys, asyncio.Event(),
                                                    names=[handler.name], origin="default")
            with pytest.raises(ConfigError, match=r"deals\.(stages|user_fields)\.\w+: .* \(and \d+ more; "):
                await startup.portal_matches(b24, mapping, DealHandler.mapping_keys, asyncio.Event(),
                                             names=["deal"], origin="default")
