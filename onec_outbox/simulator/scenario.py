"""A run of business days in the simulated 1C base, as the contract v1 events 1C would emit, in time order.

:func:`generate` is pure: the same :class:`ScenarioConfig` gives byte-identical events.  Each event is a
full snapshot of its entity; ``version`` is the change's time in ms since the epoch (like a
ШтампВерсии), so it only grows per entity; ``occurred_at`` is the same moment in Moscow time (+03:00).
Working time runs from ``start`` for nine hours a day, Monday to Friday.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from onec_outbox.simulator import catalog
from onec_outbox.simulator.lifecycles import LIFECYCLES
from onec_outbox.simulator.office import MINUTE, Change, Clock, Office
from onec_outbox.simulator.world import World, build_world, new_id

MSK = timezone(timedelta(hours=3))
DEFAULT_START = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)  # a Monday morning
WORKDAY = 9 * 60  # minutes
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sizes:
    """How many counterparties, products and customer orders a run has ("tens" by default)."""

    counterparties: int = 30
    products: int = 40
    orders: int = 60

    def __post_init__(self) -> None:
        for name in ("counterparties", "products", "orders"):
            if getattr(self, name) < (0 if name == "orders" else 1):
                raise ValueError(f"{name} must be at least {0 if name == 'orders' else 1}")


@dataclass(frozen=True)
class ScenarioConfig:
    seed: int = 1
    sizes: Sizes = field(default_factory=Sizes)
    source: str = "ut103-main"
    start: datetime = DEFAULT_START
    days: int = 3

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2026-03-02T09:00:00+03:00")
        if not 1 <= self.days <= 250:
            raise ValueError("days must be from 1 to 250")


@dataclass(frozen=True)
class Run:
    """The world, every event in the order 1C emits them, and which lifecycle each order went through."""

    config: ScenarioConfig
    world: World
    events: tuple[dict[str, Any], ...]
    lifecycles: dict[str, str]  # customer order id → lifecycle name (see lifecycles.LIFECYCLES)


def generate(config: ScenarioConfig = ScenarioConfig()) -> Run:
    world = build_world(config.seed, counterparties=config.sizes.counterparties,
                        products=config.sizes.products)
    rng = random.Random(f"scenario:{config.seed}")
    office = Office(rng, world)
    span = config.days * WORKDAY
    retired_counterparty, retired_product = catalog.reserve(office)
    catalog.export(office)
    catalog.edit_counterparties(office, span, retired_counterparty)
    catalog.reprice_products(office, span, retired_product)
    _orders(office, config.sizes.orders, span)
    changes = _in_time_order(office.changes)
    _number_documents(rng, office, changes, config.start)
    events = tuple(_envelope(rng, config, change) for change in changes)
    return Run(config, world, events, office.patterns)


def _orders(office: Office, count: int, span: int) -> None:
    """Every lifecycle once while there are orders for it (in a shuffled order), then weighted draws."""
    rng = office.rng
    names = list(LIFECYCLES)
    rng.shuffle(names)
    weights = [w for _, _, w in LIFECYCLES.values()]
    left = count
    while left > 0:
        fitting = [n for n in names if LIFECYCLES[n][1] <= left]
        if fitting:
            name = fitting[0]
            names.remove(name)
        else:
            name = rng.choices(list(LIFECYCLES), weights)[0]
            if LIFECYCLES[name][1] > left:
                continue
        lifecycle, _, _ = LIFECYCLES[name]
        clock = Clock(rng, rng.randint(10, max(11, span * 3 // 4)))
        for order in lifecycle(office, clock):
            office.patterns[order.id] = name
        left -= LIFECYCLES[name][1]


def _in_time_order(changes: list[Change]) -> list[Change]:
    """Sort by time (ties in recording order) and make times strictly increasing, so every change has
    its own version; per entity the order is kept, because each entity was recorded in time order."""
    ordered = sorted(changes, key=lambda c: (c.at, c.seq))
    last = -1
    for change in ordered:
        if change.at <= last:
            change.at = last + 1
        last = change.at
    return ordered


class _Calendar:
    """Working-time ms → calendar time: nine-hour days from ``start``, weekends skipped."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._days: list[datetime] = [start]

    def at(self, ms: int) -> datetime:
        day, within = divmod(ms, WORKDAY * MINUTE)
        while len(self._days) <= day:
            nxt = self._days[-1] + timedelta(days=1)
            while nxt.weekday() >= 5:
                nxt += timedelta(days=1)
            self._days.append(nxt)
        return self._days[day] + timedelta(milliseconds=within)


def _number_documents(rng: random.Random, office: Office, changes: list[Change], start: datetime) -> None:
    """Give each document its number and date when it is first written, as 1C does; later snapshots keep them.

    Numbers follow the organization's prefix, one sequence per document type (and payment kind), each
    starting somewhere past 1000 as in a base with history.
    """
    calendar = _Calendar(start)
    prefixes = {o.id: o.prefix for o in office.world.organizations}
    assigned: dict[str, tuple[str, str]] = {}
    counters: dict[tuple[str, str, str], int] = {}
    for change in changes:
        change.wall = calendar.at(change.at)
        payload = change.payload
        if "posted" not in payload:  # catalogs have no number
            continue
        if change.entity_id not in assigned:
            number = payload["number"]
            if number is None:
                org = (payload.get("organization") or {}).get("id") or office.organization_of.get(change.entity_id)
                prefix = prefixes.get(org, "")
                key = (change.entity, payload.get("kind", ""), prefix)
                counters[key] = counters.get(key, rng.randint(1000, 5000)) + 1
                number = f"{prefix}{counters[key]:09d}"
            assigned[change.entity_id] = (number, change.wall.date().isoformat())
        payload["number"], payload["date"] = assigned[change.entity_id]


def _envelope(rng: random.Random, config: ScenarioConfig, change: Change) -> dict[str, Any]:
    wall = change.wall
    assert wall is not None
    return {
        "event_id": new_id(rng),
        "event_type": f"{change.entity}.upserted",
        "source": config.source,
        "entity_id": change.entity_id,
        "version": (wall - EPOCH) // timedelta(milliseconds=1),
        "occurred_at": wall.astimezone(MSK).isoformat(timespec="seconds"),
        "payload": change.payload,
    }
