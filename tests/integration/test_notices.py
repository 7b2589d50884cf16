"""Notices in Bitrix24 (bridge/notices.py) against the sandbox: one notice per incident and one when it
clears, to every administrator of the mapping, however many watchers look and however often."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from b24_sandbox import SandboxConfig, serve_in_thread
from bridge import heartbeat
from bridge.b24 import client_from_settings
from bridge.dlq import DeadLetterTable, NewDeadLetter, Selector
from bridge.mapping import Notify
from bridge.notices import Watcher
from bridge.settings import Settings
from bridge.working_hours import WorkingHours
from onec_outbox.contract import parse_heartbeat

NOTIFY = Notify(admins=[1, 7], console_url="https://bridge.example.ru/console")
ALWAYS = WorkingHours.parse("always")
DLQ_TAG = "b24bridge|dead_letters|b24.deal.dlq"


@pytest.fixture
def portal():
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        yield srv


@pytest.fixture
async def b24(portal):
    client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0))
    yield client
    await client.aclose()


def notices(portal, tag: str) -> list[dict]:
    state = httpx.get(f"{portal.base_url}/_sandbox/state").json()
    return [n for n in state["notifications"] if n["TAG"] == tag]


def calls(portal) -> int:
    return httpx.get(f"{portal.base_url}/_sandbox/stats").json()["per_method"].get("im.notify.system.add", 0)


async def dead_letter(pool, event_id: str = "7b14907e-0000-4000-8000-000000000001") -> None:
    now = datetime.now(UTC)
    await DeadLetterTable(pool).store(NewDeadLetter(
        "b24.deal.dlq", "deal", event_id, 0, "invoice.upserted", "ut103-main", "invoice", event_id, 1,
        "invalid_event", "payload.amount: not a decimal", 1, now, now, "onec.invoice", "invoice.upserted", {},
        b"{}"))


async def test_a_dead_letter_is_one_notice_per_incident_and_its_recovery_one_more(db_pool, b24, portal):
    watcher = Watcher(db_pool, b24, NOTIFY, ALWAYS)
    await dead_letter(db_pool)
    await watcher.round()
    opened = notices(portal, DLQ_TAG)
    assert sorted(n["USER_ID"] for n in opened) == [1, 7]
    assert all("недоставленных b24.deal.dlq" in n["MESSAGE"] and "invalid_event: 1" in n["MESSAGE"]
               and "[URL=https://bridge.example.ru/console]" in n["MESSAGE"] for n in opened)
    assert calls(portal) == 2

    await dead_letter(db_pool, "7b14907e-0000-4000-8000-000000000002")  # more of the same outage
    for _ in range(3):
        await watcher.round()
    assert calls(portal) == 2 and len(notices(portal, DLQ_TAG)) == 2

    await DeadLetterTable(db_pool).purge(Selector(queues=("b24.deal.dlq",)), by="test", why="fixed in 1C")
    await watcher.round()
    recovered = notices(portal, DLQ_TAG)
    assert calls(portal) == 4
    assert sorted(n["USER_ID"] for n in recovered) == [1, 7]  # the recovery replaced the opening notice
    assert all("разобраны" in n["MESSAGE"] for n in recovered)
    await watcher.round()
    assert calls(portal) == 4


async def test_several_watchers_at_once_still_send_one_notice(db_pool, b24, portal):
    await dead_letter(db_pool)
    watchers = [Watcher(db_pool, b24, NOTIFY, ALWAYS) for _ in range(4)]
    await asyncio.gather(*(w.round() for w in watchers))
    assert calls(portal) == 2


async def test_a_source_that_falls_silent_gets_one_notice_and_one_when_it_speaks_again(db_pool, b24, portal):
    await heartbeat.receive(db_pool, parse_heartbeat({
        "source": "ut103-main", "module_version": "1.5.0", "platform_version": "8.3.22.1709", "pending": 0,
        "oldest_pending_seconds": 0, "rejected": 0}))
    later = {"now": datetime.now(UTC) + timedelta(minutes=20)}
    watcher = Watcher(db_pool, b24, NOTIFY, ALWAYS, clock=lambda: later["now"])
    await watcher.round()
    await watcher.round()
    silent = notices(portal, "b24bridge|silent|ut103-main")
    assert calls(portal) == 2 and len(silent) == 2
    assert "база 1С ut103-main молчит" in silent[0]["MESSAGE"]

    await heartbeat.receive(db_pool, parse_heartbeat({
        "source": "ut103-main", "module_version": "1.5.0", "platform_version": "8.3.22.1709", "pending": 0,
        "oldest_pending_seconds": 0, "rejected": 0}))
    later["now"] = datetime.now(UTC)
    await watcher.round()
    assert calls(portal) == 4
    assert all("снова на связи" in n["MESSAGE"] for n in notices(portal, "b24bridge|silent|ut103-main"))


async def test_silence_outside_working_hours_tells_nobody(db_pool, b24, portal):
    await heartbeat.receive(db_pool, parse_heartbeat({
        "source": "ut103-main", "module_version": "1.5.0", "platform_version": "8.3.22.1709", "pending": 0,
        "oldest_pending_seconds": 0, "rejected": 0}))
    saturday_night = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    hours = WorkingHours.parse("mon-fri 09:00-18:00 Europe/Moscow")
    await Watcher(db_pool, b24, NOTIFY, hours, clock=lambda: saturday_night + timedelta(days=365)).round()
    assert calls(portal) == 0


async def test_a_consumer_that_stays_paused_is_told_once_and_again_when_it_runs(db_pool, b24, portal):
    since = {"deal": datetime.now(UTC) - timedelta(minutes=12), "product": None}
    watcher = Watcher(db_pool, b24, NOTIFY, ALWAYS, paused_since=lambda: dict(since))
    await watcher.round()
    await watcher.round()
    paused = notices(portal, "b24bridge|paused|deal")
    assert calls(portal) == 2 and "обработчик deal стоит на паузе" in paused[0]["MESSAGE"]
    since["deal"] = None
    await watcher.round()
    assert calls(portal) == 4 and "снова работает" in notices(portal, "b24bridge|paused|deal")[0]["MESSAGE"]


async def test_a_notice_the_portal_refuses_is_sent_when_it_is_back(db_pool, b24, portal):
    await dead_letter(db_pool)
    refuse = {"errors": [{"method": "im.notify.system.add", "error": "ACCESS_DENIED"}]}
    assert httpx.put(f"{portal.base_url}/_sandbox/faults", json=refuse).status_code == 200
    watcher = Watcher(db_pool, b24, NOTIFY, ALWAYS)
    await watcher.round()
    assert notices(portal, DLQ_TAG) == []
    httpx.delete(f"{portal.base_url}/_sandbox/faults")
    await watcher.round()
    assert len(notices(portal, DLQ_TAG)) == 2
