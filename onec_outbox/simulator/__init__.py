"""The 1C simulator: a deterministic UT 10.3 world whose business days post through the real ingest.

Pure parts (no I/O): :func:`build_world` (organizations, managers, counterparties, products),
:func:`generate` (the days as contract v1 events in time order) and :func:`expected_state` (the Bitrix24
state those events must end in).  The I/O edge is :mod:`onec_outbox.simulator.sender`, which posts events
the way the 1C sender job does; ``b24bridge simulate`` drives it all.  See ``docs/simulator.md``.
"""

from onec_outbox.simulator.expected import expected_state
from onec_outbox.simulator.lifecycles import LIFECYCLES
from onec_outbox.simulator.scenario import Run, ScenarioConfig, Sizes, generate
from onec_outbox.simulator.world import World, build_world

__all__ = ["LIFECYCLES", "Run", "ScenarioConfig", "Sizes", "World", "build_world", "expected_state", "generate"]
