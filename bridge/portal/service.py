"""``portal check`` and ``portal setup`` as two functions over a client: read, plan, (apply, read again)."""

from __future__ import annotations

from dataclasses import dataclass

from ..b24 import B24Client
from ..mapping import Mapping
from . import remote, yamltext
from .plan import MappingChange, Plan, apply_changes, simulate
from .planner import plan
from .remote import Outcome


@dataclass(frozen=True)
class SetupReport:
    before: Plan  # what was wrong, and what setup set out to do
    outcomes: tuple[Outcome, ...]  # what it did (empty on a dry run)
    after: Plan  # the check of the resulting mapping against the portal now (predicted on a dry run)
    mapping: Mapping  # the resulting mapping
    text: str  # the same as YAML, the input's comments kept where practical
    dry_run: bool

    @property
    def changes(self) -> tuple[MappingChange, ...]:
        return self.before.changes

    @property
    def ok(self) -> bool:
        return self.after.ok


async def check(client: B24Client, mapping: Mapping) -> Plan:
    return plan(mapping, await remote.read(client, mapping))


async def setup(client: B24Client, mapping: Mapping, text: str, origin: str, *, dry_run: bool = False) -> SetupReport:
    """Create the missing stages and user fields, fill in what can be discovered, then check again.

    ``text``/``origin``: the mapping file as read (for the resulting YAML).  Idempotent: a second run finds
    nothing to create and makes no writes.
    """
    state = await remote.read(client, mapping)
    before = plan(mapping, state)
    result = apply_changes(mapping, before.changes)
    outcomes: tuple[Outcome, ...] = ()
    if dry_run:
        after = plan(result, simulate(state, before.actions))
    elif before.actions:
        outcomes = tuple(await remote.apply(client, before.actions))
        after = plan(result, await remote.read(client, result))
    else:
        after = plan(result, state)
    return SetupReport(before, outcomes, after, result, yamltext.render(text, before.changes, origin), dry_run)
