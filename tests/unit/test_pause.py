"""The consumer's pause (bridge/pause.py): one escalation per probe, one probe at a time, everyone resumes
together.  Messages are coroutines of this test, the service a flag; the clock is real but short."""

from __future__ import annotations

import asyncio
import time

from bridge.backoff import Backoff
from bridge.pause import Pause

INITIAL = 0.05  # the first probe's delay in these tests (jitter off, so delays are exact)


def pause(maximum: float = 10.0) -> Pause:
    return Pause("test", Backoff(initial=INITIAL, maximum=maximum, jitter=0))


class Service:
    """Down for the first ``failing_probes`` probes, then up; records who tried while the pause was open."""

    def __init__(self, p: Pause, failing_probes: int) -> None:
        self.pause = p
        self.failing_probes = failing_probes
        self.down = True
        self.probes = 0
        self.trying = 0
        self.most_at_once_while_open = 0
        self.probe_delays: list[float] = []  # what each failed probe set as the wait before the next
        self.first_delays: list[float] = []  # what the in-flight messages' failures answered
        self.resumed_at: list[float] = []

    async def message(self, stop: asyncio.Event) -> None:
        while True:
            attempt = await self.pause.turn(stop, time.monotonic() + 60)
            assert attempt is not None
            self.trying += 1
            if self.pause.is_open:
                self.most_at_once_while_open = max(self.most_at_once_while_open, self.trying)
            await asyncio.sleep(0.002)  # the request
            self.trying -= 1
            if attempt.probe:
                self.probes += 1
                self.down = self.probes <= self.failing_probes
            if self.down:
                delay = self.pause.failed(attempt)
                (self.probe_delays if attempt.probe else self.first_delays).append(delay)
                continue
            self.pause.answered(attempt)
            self.resumed_at.append(time.monotonic())
            return


async def test_n_concurrent_failures_escalate_the_pause_once_and_only_the_probe_tries():
    service = Service(pause(), failing_probes=3)
    stop = asyncio.Event()
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(service.message(stop) for _ in range(32))), 10)
    # 32 messages in flight failed together: that opened the pause once, with the first delay
    assert len(service.first_delays) == 32
    assert max(service.first_delays) <= INITIAL + 1e-6
    # then one probe at a time, each failure doubling the delay once: 0.05 → 0.1 → 0.2 → 0.4
    assert service.most_at_once_while_open == 1
    assert service.probes == 4
    assert [round(d, 2) for d in service.probe_delays] == [0.1, 0.2, 0.4]
    # the fourth probe got through and everyone went on at once, after 0.05 + 0.1 + 0.2 + 0.4 s of waiting
    assert len(service.resumed_at) == 32
    assert max(service.resumed_at) - min(service.resumed_at) < 0.05
    assert 0.75 <= min(service.resumed_at) - started < 1.5
    assert not service.pause.is_open


async def test_the_delay_between_probes_stops_growing_at_the_cap():
    service = Service(pause(maximum=0.1), failing_probes=6)
    await asyncio.wait_for(asyncio.gather(*(service.message(asyncio.Event()) for _ in range(8))), 10)
    assert [round(d, 2) for d in service.probe_delays] == [0.1] * 6


async def test_a_failure_of_a_message_that_started_before_the_pause_opened_does_not_escalate_it():
    p = pause()
    stop = asyncio.Event()
    early = await p.turn(stop, time.monotonic() + 5)
    late = await p.turn(stop, time.monotonic() + 5)
    assert p.failed(early) <= INITIAL + 1e-6  # opens the pause
    probe_at = time.monotonic() + p.failed(late)
    assert probe_at <= time.monotonic() + INITIAL + 1e-6  # no second escalation
    probe = await p.turn(stop, time.monotonic() + 5)
    assert probe is not None and probe.probe
    assert round(p.failed(probe), 2) == 2 * INITIAL  # the probe's failure is the one that escalates


async def test_after_the_pause_closes_a_late_failure_from_before_does_not_reopen_it():
    p = pause()
    stop = asyncio.Event()
    first = await p.turn(stop, time.monotonic() + 5)
    straggler = await p.turn(stop, time.monotonic() + 5)
    p.failed(first)
    probe = await p.turn(stop, time.monotonic() + 5)
    p.answered(probe)
    assert not p.is_open
    assert p.failed(straggler) == 0.0 and not p.is_open  # it tries again at once instead
    fresh = await p.turn(stop, time.monotonic() + 5)
    p.failed(fresh)
    assert p.is_open  # a failure of an attempt made after the resume does open it again


async def test_while_the_probe_tries_the_others_wait_until_it_answers():
    p = pause()
    stop = asyncio.Event()
    p.failed(await p.turn(stop, time.monotonic() + 5))
    probe = await p.turn(stop, time.monotonic() + 5)
    waiter = asyncio.create_task(p.turn(stop, time.monotonic() + 5))
    await asyncio.sleep(3 * INITIAL)
    assert not waiter.done()  # the probe's turn is taken, whatever the delay
    p.answered(probe)
    attempt = await asyncio.wait_for(waiter, 1)
    assert attempt is not None and not attempt.probe


async def test_a_probe_that_ends_without_a_verdict_gives_its_turn_to_another_message():
    p = pause()
    stop = asyncio.Event()
    p.failed(await p.turn(stop, time.monotonic() + 5))
    probe = await p.turn(stop, time.monotonic() + 5)
    waiter = asyncio.create_task(p.turn(stop, time.monotonic() + 5))
    await asyncio.sleep(0.01)
    p.release(probe)  # e.g. cancelled at shutdown
    attempt = await asyncio.wait_for(waiter, 1)
    assert attempt is not None and attempt.probe


async def test_a_waiting_message_gives_up_at_its_deadline_or_when_stopping():
    p = pause(maximum=10.0)
    stop = asyncio.Event()
    p.failed(await p.turn(stop, time.monotonic() + 5))
    probe = await p.turn(stop, time.monotonic() + 5)
    assert probe is not None
    started = time.monotonic()
    assert await p.turn(stop, time.monotonic() + 0.1) is None  # held too long: the consumer hands it back
    assert 0.09 <= time.monotonic() - started < 1
    waiter = asyncio.create_task(p.turn(stop, time.monotonic() + 30))
    await asyncio.sleep(0.01)
    stop.set()
    assert await asyncio.wait_for(waiter, 1) is None


async def test_only_the_probe_closes_the_pause():
    p = pause()
    stop = asyncio.Event()
    first = await p.turn(stop, time.monotonic() + 5)
    straggler = await p.turn(stop, time.monotonic() + 5)  # in flight when the service went away
    p.failed(first)
    p.answered(straggler)  # it got through somehow: the probe, a moment away, decides
    assert p.is_open
    probe = await p.turn(stop, time.monotonic() + 5)
    assert probe is not None and probe.probe
    p.answered(probe)
    assert not p.is_open
