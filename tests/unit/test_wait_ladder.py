"""How often a document waiting for its counterparty or products comes back (pure: no broker here).

Every trip through a wait queue runs the handler and a publish: while a backlog of counterparties drains
after an outage, documents that came back every 5 s took the CPU those counterparties needed.
"""

from __future__ import annotations

from bridge import topology


def trips(target: topology.Target, seconds: float, first_look: float = 3.0) -> list[float]:
    """When a message still missing its dependency is back, as the consumer sends it: after its looks in
    hand (``first_look`` seconds), each trip to the queue :meth:`Target.wait_queue` picks for the time
    waited so far."""
    now, back = first_look, []
    while now < seconds:
        delay = int(target.wait_queue(now).rsplit(".", 1)[1].rstrip("s"))
        now += delay
        back.append(now)
    return back


def test_a_dependency_that_comes_soon_is_looked_for_again_after_five_seconds():
    target = topology.TARGETS["deal"]
    assert target.wait_queue(0) == "b24.deal.wait.5s"
    assert trips(target, 10)[0] == 8  # 3 s in hand, then 5 s


def test_a_long_wait_comes_back_about_twice_as_late_each_time_and_at_least_every_minute():
    target = topology.TARGETS["deal"]
    back = trips(target, 600)
    assert len([t for t in back if t <= 60]) <= 5  # was 12 with a 5 s queue for the whole first minute
    waits = [b - a for a, b in zip([3.0, *back], back)]
    assert max(waits) == 60
    for waited_before, delay in zip([3.0, *back], waits):
        assert delay <= max(5, waited_before)  # never back later than twice the time it has waited
    assert waits[-3:] == [60, 60, 60]


def test_every_wait_queue_a_message_can_be_sent_to_is_declared():
    for target in topology.TARGETS.values():
        declared = {spec.name for spec in topology.queues_for(target)}
        picked = {target.wait_queue(w) for w in (0, 4.9, 5, 9, 10, 25, 45, 59, 60, 3600, float("inf"))}
        assert picked <= declared, picked - declared


def test_a_target_with_one_wait_delay_always_uses_it():
    target = topology.Target("x", (("x", "x.upserted"),), wait_delays=(1,))
    assert {target.wait_queue(w) for w in (0, 1, 100)} == {"b24.x.wait.1s"}

