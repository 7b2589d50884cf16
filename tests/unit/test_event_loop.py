"""BRIDGE_EVENT_LOOP: every long-running component runs on uvloop unless told otherwise; and with the garbage
collector tuned for it."""

import asyncio
import gc
import sys

import pytest

uvloop = pytest.importorskip("uvloop")  # not on Windows (pyproject's marker); the bridge then runs on asyncio

from bridge import runner
from bridge.errors import ConfigError
from bridge.settings import Settings


def _loop_of_a_run(event_loop: str) -> type:
    seen = []

    async def main(stop: asyncio.Event) -> None:
        seen.append(type(asyncio.get_running_loop()))

    runner.run(main, event_loop)
    return seen[0]


def test_components_run_on_uvloop_by_default():
    assert Settings().event_loop == "auto"
    assert _loop_of_a_run(Settings().event_loop) is uvloop.Loop
    assert _loop_of_a_run("uvloop") is uvloop.Loop


def test_asyncio_chooses_the_standard_librarys_loop():
    assert not issubclass(_loop_of_a_run("asyncio"), uvloop.Loop)
    assert Settings(event_loop="asyncio").event_loop == "asyncio"


def test_without_uvloop_auto_falls_back_and_an_explicit_uvloop_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed: `import uvloop` raises ImportError
    assert runner.loop_factory("auto") is None
    with pytest.raises(ConfigError, match="BRIDGE_EVENT_LOOP=uvloop but uvloop is not installed"):
        runner.loop_factory("uvloop")


def test_an_unknown_loop_name_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="event_loop"):
        Settings(event_loop="trio")


def test_a_component_runs_with_the_collector_tuned_and_the_caller_gets_its_own_back():
    before = gc.get_threshold()
    seen = []

    async def main(stop: asyncio.Event) -> None:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))

    runner.run(main, "asyncio")

    threshold, frozen = seen[0]
    assert threshold == runner.GC_THRESHOLD and threshold[0] > before[0]  # young collections less often
    assert frozen > 10_000  # what start-up made (modules, settings) is out of every collection
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0  # a test goes on as it was


def test_a_freeze_the_caller_made_itself_is_left_frozen():
    async def main(stop: asyncio.Event) -> None:
        pass

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        runner.run(main, "asyncio")
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
